"""A recorded call's caller as a scenario: one ``wav:`` turn per line, with its timing.

The scenario is a plain scenario file beside its clips, so ``voicelab simulate`` plays
it again later (a production call kept as a regression test). The original timing is
kept the way the simulated caller can play it:

- a line the caller started while the agent was talking (a barge-in) gets
  ``barge_in_after``: that long after the agent's reply became audible, as originally;
- any other line is preceded by a ``pause`` of the silence the caller left after its
  previous line (after picking up, for the first). The caller also waits for the new
  reply to end, so a line never starts before its original moment, nor over a reply
  the original caller did not interrupt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf
import yaml

from voicelab.replay._read import RecordedCall, Utterance
from voicelab.simulator.scenario import Scenario, load_scenario

__all__ = ["LineTiming", "line_timings", "write_scenario"]

_MIN_PAUSE_S = 0.05  # shorter waits are within a frame or two of the caller's clock
_MAX_PAUSE_S = 120.0  # a scenario's longest pause
_OVERLAP_S = 0.05  # the agent audible this close to a line's start: the line cut in


@dataclass(frozen=True)
class LineTiming:
    """When a line is said in the replay, relative to what comes before it.

    Attributes:
        pause_s: Silence after the caller's previous line (or the pick-up) before this one.
        barge_in_after_s: Seconds after the agent's reply became audible (a barge-in).
    """

    pause_s: float | None = None
    barge_in_after_s: float | None = None


def line_timings(call: RecordedCall) -> list[LineTiming]:
    """Each utterance's timing, from the original call's clock."""
    timings = []
    previous_end = 0.0
    for line in call.utterances:
        reply = _reply_cut_into(call.agent_speech, previous_end, line)
        if reply is not None:
            after = min(line.start_s - reply, _MAX_PAUSE_S)  # a scenario's bound
            timings.append(LineTiming(barge_in_after_s=round(after, 2)))
        else:
            pause = min(line.start_s - previous_end, _MAX_PAUSE_S)
            timings.append(LineTiming(pause_s=round(pause, 2) if pause >= _MIN_PAUSE_S else None))
        previous_end = line.end_s
    return timings


def _reply_cut_into(
    speech: list[tuple[float, float]], since: float, line: Utterance
) -> float | None:
    """When the reply the line cut into became audible (``None``: the agent was quiet)."""
    for start, end in speech:
        if since <= start < line.start_s - _OVERLAP_S and end > line.start_s + _OVERLAP_S:
            return start
    return None


def write_scenario(call: RecordedCall, directory: str | Path, *, scenario_id: str) -> Scenario:
    """Write the call's caller as ``<directory>/<scenario_id>.yaml`` and its clips; load it.

    Returns:
        The loaded scenario (validated like any scenario file).
    """
    directory = Path(directory)
    clips = directory / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    turns: list[dict[str, Any]] = []
    for index, (line, timing) in enumerate(zip(call.utterances, line_timings(call), strict=True)):
        name = f"clips/line_{index + 1:02d}.wav"
        sf.write(directory / name, line.audio, call.sample_rate, subtype="PCM_16")
        if timing.pause_s is not None:
            turns.append({"pause": timing.pause_s})
        turn: dict[str, Any] = {"wav": name}
        if line.text:
            turn["text"] = line.text
        if timing.barge_in_after_s is not None:
            turn["barge_in_after"] = timing.barge_in_after_s
        turns.append(turn)
    origin = f"call {call.call_sid}" if call.call_sid else str(call.source)
    document = {
        "id": scenario_id,
        "description": f"The caller's side of {origin}, replayed with its original timing.",
        "turns": turns,
    }
    path = directory / f"{scenario_id}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "utf-8")
    return load_scenario(path)
