"""What a simulated party makes of what it hears: stretches of the other side's speech.

A stretch starts at the first audible window (``voicelab.recording.audible``: the rule
analysis applies to ``caller.wav``) and ends after ``reply_silence_s`` of silence. Each is
filed under the party's turn it answers: speech that starts while the party is still
talking answers its previous turn. The stretches are the party's record
(``caller.heard_started`` / ``caller.heard_ended`` events and ``CallerResult.heard``);
a script waits on them to know when a reply began and ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from voicelab.recording.audible import audible_windows, window_samples

__all__ = ["RATE", "ReplyEar"]

RATE = 8000  # what a party hears: the phone line's rate
WINDOW = window_samples(RATE)  # 10 ms at 8 kHz


class ReplyEar:
    """Finds the other side's replies in the frames a party hears, as the call goes.

    Args:
        emit: Records an event (``type``, ``t`` on the party's clock, data).
        stretches: Where finished stretches go, as ``(turn, start_s, end_s)``.
        reply_silence_s: Silence that ends a stretch.
    """

    def __init__(
        self,
        emit: Callable[..., None],
        stretches: list[tuple[int, float, float]],
        reply_silence_s: float,
    ) -> None:
        self._emit = emit
        self.stretches = stretches
        self.reply_silence_s = reply_silence_s
        self.start: float | None = None  # the stretch under way, if any
        self.turn = 0  # the party's turn the stretch under way answers
        self.last_audible = -1.0
        self.changed = asyncio.Event()  # a stretch started or ended

    def hear(self, frame: np.ndarray, now: float, turn: int, speaking: bool) -> None:
        """One frame heard at ``now`` (the party's clock), while on ``turn``."""
        loud = audible_windows(frame, WINDOW)
        if loud.size:
            t_first = now + loud[0] * WINDOW / RATE
            self.last_audible = now + (loud[-1] + 1) * WINDOW / RATE
            if self.start is None:
                # Speech that overlaps the party's own still answers its last turn.
                self.turn = turn - 1 if speaking else turn
                self.start = t_first
                self._emit("caller.heard_started", t=t_first, turn=self.turn)
                self.changed.set()
        elif self.start is not None and now - self.last_audible >= self.reply_silence_s:
            self.finish()

    def finish(self) -> None:
        """End the stretch under way (the party starts talking, or the call ends)."""
        if self.start is None:
            return
        self._emit("caller.heard_ended", t=self.last_audible, turn=self.turn)
        self.stretches.append((self.turn, self.start, self.last_audible))
        self.start = None
        self.changed.set()

    def heard_for(self, turn: int) -> bool:
        """Whether a whole stretch answering ``turn`` has been heard."""
        return any(t == turn for t, _, _ in self.stretches)

    def started_since(self, since: float) -> bool:
        """Whether speech that began at or after ``since`` is under way or was heard."""
        ongoing = self.start is not None and self.start >= since
        return ongoing or any(start >= since for _, start, _ in self.stretches)

    async def wait_change(self, deadline: float) -> bool:
        """Wait until a stretch starts or ends; ``False`` once the loop's ``deadline`` passes."""
        self.changed.clear()
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(self.changed.wait(), max(remaining, 0.0))
            return True
        except TimeoutError:
            return False

    async def wait_end(self) -> None:
        """Wait for the stretch under way, if any, to end."""
        while self.start is not None:
            self.changed.clear()
            await self.changed.wait()

    def __repr__(self) -> str:
        state: Any = f"hearing since {self.start:.2f}s" if self.start is not None else "quiet"
        return f"<ReplyEar {state}, {len(self.stretches)} stretches>"
