"""The benchmark harness's own measures (bench/_bench.py, bench/_speech.py): no timing asserted.

A cut-in is bot audio heard while the caller is still speaking; a playout gap is silence
inside a heard stretch of the instant voice; a paused line is two pieces of Piper speech
with the pause's silence between them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _bench import GAP_MIN_S, Summary, cut_ins, playout_gaps
from _speech import PAUSE_S, with_pauses

from voicelab.recording.audible import audible, window_samples
from voicelab.simulator.scenario import Scenario, ScenarioTurn

RATE = 8000


def _write_events(directory: Path, events: list[tuple[float, str, int]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"t": t, "wall": "", "source": "caller", "type": kind, "data": {"turn": turn}})
        for t, kind, turn in events
    ]
    lines.append(json.dumps({"t": 0.0, "source": "server", "type": "vad.stopped", "data": {}}))
    (directory / "events.jsonl").write_text("\n".join(lines) + "\n")


def test_cut_ins_counts_bot_audio_that_starts_inside_a_caller_turn(tmp_path: Path) -> None:
    _write_events(
        tmp_path,
        [
            (0.2, "caller.heard_started", 0),
            (3.0, "caller.heard_ended", 0),
            (4.0, "caller.utterance_started", 1),
            (5.0, "caller.heard_started", 0),  # the bot answered the pause in turn 1
            (7.0, "caller.utterance_ended", 1),
            (7.4, "caller.heard_started", 1),
            (9.0, "caller.utterance_started", 2),
            (11.0, "caller.utterance_ended", 2),
            (11.5, "caller.heard_started", 2),  # after the turn: an answer, not a cut-in
        ],
    )
    assert cut_ins(tmp_path) == 1


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)


def test_playout_gaps_finds_silence_inside_a_heard_reply_only(tmp_path: Path) -> None:
    # Heard: greeting 0.0-1.0 s whole; reply 2.0-3.5 s with 0.2 s missing at 2.5 s, and a
    # 20 ms dropout at 3.0 s (below GAP_MIN_S). Silence between stretches is no gap.
    bot = np.zeros(4 * RATE, dtype=np.float32)
    bot[:RATE] = _tone(1.0)
    bot[2 * RATE : int(3.5 * RATE)] = _tone(1.5)
    bot[int(2.5 * RATE) : int(2.7 * RATE)] = 0.0
    bot[int(3.0 * RATE) : int(3.02 * RATE)] = 0.0
    sf.write(tmp_path / "caller.wav", np.stack([np.zeros_like(bot), bot], axis=1), RATE)
    _write_events(
        tmp_path,
        [
            (0.0, "caller.heard_started", 0),
            (1.0, "caller.heard_ended", 0),
            (2.0, "caller.heard_started", 1),
            (3.5, "caller.heard_ended", 1),
        ],
    )
    gaps = playout_gaps(tmp_path)
    assert [turn for turn, _ in gaps] == [1]
    assert abs(gaps[0][1] - 0.2) <= 0.011
    assert GAP_MIN_S > 0.02


@pytest.mark.slow  # real Piper speech: 3 s
def test_a_paused_line_is_two_pieces_of_speech_with_the_pause_between(tmp_path: Path) -> None:
    scenario = Scenario(
        id="paused",
        turns=[
            ScenarioTurn(say="I had the soup ... and it was cold."),
            ScenarioTurn(say="Thanks."),
        ],
    )
    rendered = with_pauses(scenario, tmp_path)
    first, second = rendered.turns
    assert first.wav is not None and first.text == "I had the soup and it was cold."
    assert second.say == "Thanks."  # no pause mark: left as Piper speaks it
    assert rendered.path is not None and (rendered.path.parent / first.wav).is_file()
    audio, rate = sf.read(rendered.path.parent / first.wav, dtype="float32")
    loud = audible(audio, window_samples(rate))
    quiet_runs, run = [], 0
    for flag in loud:
        run = 0 if flag else run + 1
        quiet_runs.append(run)
    # The longest silence is the pause (Piper's own between words are far shorter).
    assert abs(max(quiet_runs) * 0.01 - PAUSE_S) <= 0.05


def test_summary_reports_quantiles_and_range_and_ignores_missing_values() -> None:
    summary = Summary.of([0.1, 0.2, 0.3, 0.4, float("nan"), None])  # type: ignore[list-item]
    assert summary.n == 4 and summary.lo == 0.1 and summary.hi == 0.4
    assert abs(summary.p50 - 0.25) < 1e-9
    assert Summary.of([]).cells() == ["n/a", "n/a", "n/a", "0"]
