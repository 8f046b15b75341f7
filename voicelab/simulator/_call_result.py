"""A finished call, as every surface hands it back: the simulator, the network, the lab.

One type from the simulator up (``Simulator.run``, ``LocalNetwork.simulate``,
``Lab.simulate``): what the simulation observed, and the call's record in pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicelab.errors import VoicelabError
from voicelab.simulator._caller_result import CallerResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CallResult"]


@dataclass
class CallResult:
    """One finished call (simulated, or placed through the carrier), ready to analyse.

    Attributes:
        scenario_id: Which scenario was played.
        call_sid: Twilio's (the carrier's) call SID, if the call was created.
        status: The final call status (``completed``, ``busy``, ``no-answer``...).
        directory: The call directory, if anything was recorded.
        caller: What the simulated caller observed (answered calls only).
        error: Why the call could not be placed, if it could not.
        seconds: Wall time the simulation took.
        status_history: The statuses the carrier reported, in order.
    """

    scenario_id: str
    call_sid: str | None = None
    status: str = "not-placed"
    directory: Path | None = None
    caller: CallerResult | None = None
    error: str | None = None
    seconds: float = 0.0
    status_history: list[str] = field(default_factory=list)

    @property
    def call(self) -> CallResult:
        """The result itself (a ``CallResult`` once wrapped a ``SimulatedCall`` here)."""
        return self

    def _dir(self) -> Path:
        if self.directory is None:
            raise VoicelabError(f"call {self.call_sid} ({self.status}) left no recording")
        return self.directory

    def turns_df(self) -> pd.DataFrame:
        """One row per turn (see :func:`voicelab.analysis.turns_df`)."""
        from voicelab.analysis import turns_df

        return turns_df(self._dir())

    def events_df(self) -> pd.DataFrame:
        """One row per event (see :func:`voicelab.analysis.events_df`)."""
        from voicelab.analysis import events_df

        return events_df(self._dir())

    def tool_calls_df(self) -> pd.DataFrame:
        """One row per function call the agent made (:func:`voicelab.analysis.tool_calls_df`)."""
        from voicelab.analysis import tool_calls_df

        return tool_calls_df(self._dir())

    def audio(self, which: str = "server") -> Any:
        """An ``IPython.display.Audio`` player: ``server`` recording or ``caller`` (caller.wav)."""
        from IPython.display import Audio

        from voicelab.analysis import load_audio

        recording = load_audio(self._dir(), which=which)  # type: ignore[arg-type]
        channels = [recording.channels[name] for name in recording.channels]
        return Audio(channels, rate=recording.sample_rate)

    def plot_timeline(self, ax: Any = None) -> Any:
        """Who spoke when, with each turn's latency marked; returns the matplotlib Axes."""
        from voicelab.analysis import plot_timeline

        return plot_timeline(self.turns_df(), ax=ax)

    def __repr__(self) -> str:
        timings = ", ".join(f"turn {line}: {v2v:.2f}s" for line, v2v in self._latencies())
        return f"<CallResult {self.scenario_id} {self.call_sid} {self.status} v2v[{timings}]>"

    def _latencies(self) -> list[tuple[int, float]]:
        """Each reply's voice-to-voice by the caller's line, as every surface shows it."""
        from voicelab.analysis.latency import reply_latencies

        if self.directory is None:
            return []
        try:
            replies = reply_latencies(self.turns_df())
        except (VoicelabError, OSError, ValueError):  # a record still being written
            return []
        return [(int(r.line), float(r.v2v_s)) for r in replies.itertuples(index=False)]
