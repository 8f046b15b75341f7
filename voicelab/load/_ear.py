"""A load caller's ear: the agent's audio as Twilio would play it, in 10 ms windows.

Nothing is transcribed and no sample is kept: each ``media`` message is decoded once on
arrival and reduced to one flag per 10 ms window (voicelab's audible rule,
:mod:`voicelab.recording.audible`), queued for playout. The caller plays 20 ms of that
queue per frame tick, on its own frame clock, as Twilio's playout buffer does; a window
that has not arrived by the time it should play is silence (the queue ran dry).

On that played timeline:

* a **reply** starts at its first audible window (its *onset*) and ends at its last
  audible window once :data:`REPLY_SILENCE_S` of silence follows (the simulated caller's
  default end of a bot turn);
* an **underrun** is a run of at least :data:`UNDERRUN_S` (40 ms: two 20 ms frames) of
  silent or absent windows inside a reply, between two audible windows. The silence that
  ends a reply is not one. For an agent whose voice is audible throughout (voicelab's
  instant TTS tone) every underrun is audio that came late; a real voice's pauses between
  words count too, so compare underruns of one agent across loads, not across agents.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from voicelab.recording.audible import (
    REPLY_SILENCE_S,
    UNDERRUN_S,
    WINDOW_S,
    audible,
    window_samples,
)

__all__ = ["REPLY_SILENCE_S", "UNDERRUN_S", "Ear", "Reply"]


_WINDOW = window_samples(8000)


@dataclass(frozen=True)
class Reply:
    """One reply as heard: ``onset`` and ``end`` on the caller's frame clock (seconds)."""

    onset: float
    end: float


class Ear:
    """Playout queue and reply accounting of one load caller.

    Args:
        reply_silence_s: Silence that ends a reply.
        underrun_s: The shortest silence inside a reply that is an underrun.
    """

    def __init__(
        self, reply_silence_s: float = REPLY_SILENCE_S, underrun_s: float = UNDERRUN_S
    ) -> None:
        self._end_windows = max(1, round(reply_silence_s / WINDOW_S))
        self._underrun_windows = max(1, round(underrun_s / WINDOW_S))
        self._queue = bytearray()  # one flag per queued window: 1 audible, 0 silent
        self._head = 0  # next window of _queue to play
        self._carry = np.empty(0, dtype=np.int16)  # the samples of a window not yet whole
        self._marks: deque[tuple[int, str]] = deque()  # (windows queued before it, name)
        self._queued = 0  # windows ever queued
        self._played = 0  # windows ever played from the queue
        self._onset: float | None = None
        self._last_end = 0.0  # end of the last audible window played
        self._silent = 0  # silent windows since the last audible one, inside a reply
        self.replies: list[Reply] = []
        self.onsets: list[float] = []
        self.underruns: list[float] = []  # each underrun's length, seconds

    # --- what arrives ---------------------------------------------------------------------

    def hear(self, pcm: np.ndarray) -> None:
        """Queue agent audio (int16 samples at 8 kHz) behind what is already queued."""
        samples = np.concatenate([self._carry, pcm]) if self._carry.size else pcm
        whole = samples.size // _WINDOW * _WINDOW
        self._carry = samples[whole:].copy()
        if whole:
            flags = audible(samples[:whole].astype(np.float32) / 32768.0, _WINDOW)
            self._queue += flags.astype(np.uint8).tobytes()
            self._queued += flags.size

    def mark(self, name: str) -> None:
        """A mark behind the audio queued so far (echoed once that audio has played)."""
        self._marks.append((self._queued + (1 if self._carry.size else 0), name))

    def clear(self) -> list[str]:
        """Twilio's ``clear``: drop the queued audio; returns every pending mark."""
        self._played += len(self._queue) - self._head
        self._queued = self._played
        del self._queue[:]
        self._head = 0
        self._carry = np.empty(0, dtype=np.int16)
        names = [name for _, name in self._marks]
        self._marks.clear()
        return names

    # --- what plays -------------------------------------------------------------------------

    def play(self, t: float, windows: int = 2) -> list[str]:
        """Play ``windows`` windows from time ``t``; returns the marks they reached."""
        for j in range(windows):
            if self._head < len(self._queue):
                loud = bool(self._queue[self._head])
                self._head += 1
                self._played += 1
            else:
                loud = False  # nothing arrived in time: Twilio plays silence
            self._observe(t + j * WINDOW_S, loud)
        if self._head > 4096:  # keep the queue small without copying every frame
            del self._queue[: self._head]
            self._head = 0
        reached: list[str] = []
        while self._marks and self._marks[0][0] <= self._played:
            reached.append(self._marks.popleft()[1])
        return reached

    def _observe(self, t: float, loud: bool) -> None:
        if loud:
            if self._onset is None:
                self._onset = t
                self.onsets.append(t)
            elif self._silent >= self._underrun_windows:
                self.underruns.append(self._silent * WINDOW_S)
            self._silent = 0
            self._last_end = t + WINDOW_S
        elif self._onset is not None:
            self._silent += 1
            if self._silent >= self._end_windows:
                self.finish()

    def finish(self) -> None:
        """End the reply in progress (its silence is not an underrun); the call's end."""
        if self._onset is not None:
            self.replies.append(Reply(self._onset, self._last_end))
        self._onset, self._silent = None, 0

    def onset_since(self, t: float) -> float | None:
        """The onset of the first reply that began at or after ``t`` (``None``: none yet)."""
        return next((onset for onset in self.onsets if onset >= t), None)

    @property
    def in_reply(self) -> bool:
        """Whether a reply is being heard (it has not yet been followed by its silence)."""
        return self._onset is not None

    @property
    def last_audible_end(self) -> float:
        """The end of the last audible window played (0 before any)."""
        return self._last_end
