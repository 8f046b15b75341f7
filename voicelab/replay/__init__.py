"""Replaying recorded calls: the caller's side of a call, played again against an agent.

``voicelab replay CALL_DIR`` reads the caller's lines of a recorded call (:func:`read_call`:
a simulated or real call's record, or a stereo WAV), writes them as a scenario of ``wav:``
turns with the original timing and barge-ins (:func:`write_scenario`), plays that scenario
like ``voicelab simulate`` does, and lines up the old and the new replies
(:func:`voicelab.analysis.replay_table`).
"""

from voicelab.replay._read import RecordedCall, Utterance, read_call
from voicelab.replay._scenario import LineTiming, line_timings, write_scenario

__all__ = [
    "LineTiming",
    "RecordedCall",
    "Utterance",
    "line_timings",
    "read_call",
    "write_scenario",
]
