"""What a simulated party observed on one call (its :class:`CallerResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CallerResult"]


@dataclass
class CallerResult:
    """What the caller observed, on its own clock (seconds since its first frame).

    Attributes:
        utterances: ``(turn, text, started_s, ended_s)`` per thing said.
        heard: ``(turn, started_s, ended_s)`` per stretch of speech heard.
        marks: Names of the marks echoed back, in order.
        clears: How many ``clear`` messages arrived.
        ended_by: ``caller`` (hung up, or broke the call off: see ``error``) or ``server``
            (the far end hung up: the agent closed its stream, or the network the call).
        error: Why the caller broke the call off, if the bot broke the protocol (a message
            over :data:`~voicelab.simulator.caller.MAX_MESSAGE_BYTES`); also the caller's
            fatal ``error`` event.
        wav_path: ``caller.wav`` if a call directory was given.
        transcripts: What the caller's own Whisper heard, by index into ``heard`` (only the
            stretches it transcribed: a goal-driven caller's, or all with ``transcribe_heard``).
        digits: The keys a phone menu callee heard the agent press, in order.
        voicemail: ``(text, duration_s)`` of the message an answering machine callee took.
    """

    utterances: list[tuple[int, str, float, float]] = field(default_factory=list)
    heard: list[tuple[int, float, float]] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    clears: int = 0
    ended_by: str = "caller"
    error: str | None = None
    wav_path: Path | None = None
    transcripts: dict[int, str] = field(default_factory=dict)
    digits: str = ""
    voicemail: tuple[str, float] | None = None

    @property
    def end_reason(self) -> str:
        """The caller's ``call.ended`` reason: ``hangup`` (it hung up), ``stop`` (the far end
        hung up) or ``error`` (it broke the call off: see :attr:`error`)."""
        if self.error is not None:
            return "error"
        return "hangup" if self.ended_by == "caller" else "stop"

    def v2v(self) -> dict[int, float]:
        """Caller-side voice-to-voice per turn: end of utterance → first bot audio heard."""
        ends = {turn: ended for turn, _, _, ended in self.utterances}
        return {
            turn: round(started - ends[turn], 4)
            for turn, started, _ in self.heard
            if turn in ends and started >= ends[turn]
        }
