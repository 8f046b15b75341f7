"""Latency: hand-computed figures on the fixtures, summaries and A/B comparisons."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import INBOUND, OUTBOUND

from voicelab.analysis import compare, latency_summary, turns_df
from voicelab.analysis.latency import breakdown


def _turn(turns: pd.DataFrame, sid: str, turn: int) -> pd.Series:
    return turns[(turns["call_sid"] == sid) & (turns["turn"] == turn)].iloc[0]


def test_caller_side_breakdown_of_the_simulated_call(good_root: Path) -> None:
    turns = turns_df(good_root)
    one = _turn(turns, INBOUND, 1)
    # Caller clock: utterance_ended 2.00, heard_started 2.95 -> 0.95 s.
    assert one["v2v_caller_s"] == pytest.approx(0.95)
    # metrics.v2v of turn 1 measured from user_stopped.
    assert one["v2v_server_s"] == pytest.approx(0.79)
    # user.speech_stopped wall 10:15:02.250 - caller.utterance_ended wall 10:15:02.050.
    assert one["vad_stop_s"] == pytest.approx(0.20)
    # final stt.transcript t 2.55 - user.speech_stopped t 2.25.
    assert one["stt_s"] == pytest.approx(0.30)
    assert one["llm_ttft_s"] == pytest.approx(0.15)
    assert one["tts_ttfa_s"] == pytest.approx(0.08)
    # 0.95 - (0.20 + 0.30 + 0.15 + 0.08) = 0.22
    assert one["transport_s"] == pytest.approx(0.22)
    two = _turn(turns, INBOUND, 2)
    # heard 5.12 - ended 4.40 = 0.72; 0.72 - (0.20 + 0.20 + 0.10 + 0.05) = 0.17
    assert two["v2v_caller_s"] == pytest.approx(0.72)
    assert two["transport_s"] == pytest.approx(0.17)


def test_recording_latency_reads_the_audio_not_the_events(good_root: Path) -> None:
    turns = turns_df(good_root)
    # caller.wav: the caller's noise burst ends at 2.00 s, the bot's tone starts at 2.95 s.
    assert _turn(turns, INBOUND, 1)["v2v_recording_s"] == pytest.approx(0.95)
    # The second answer is audible from 5.10 s although caller.heard_started says 5.12 s:
    # 5.10 - 4.40 = 0.70, where the event-based figure is 0.72.
    assert _turn(turns, INBOUND, 2)["v2v_recording_s"] == pytest.approx(0.70)
    assert turns.loc[turns["call_sid"] == OUTBOUND, "v2v_recording_s"].isna().all()
    assert turns_df(good_root, recording=False)["v2v_recording_s"].isna().all()


def test_real_call_breakdown_falls_back_on_the_server_figure(good_root: Path) -> None:
    turns = turns_df(good_root)
    one = _turn(turns, OUTBOUND, 1)
    assert math.isnan(one["v2v_caller_s"])
    # No caller events: vad_stop_s = v2v_server 0.98 - (bot_started 4.58 - stopped 4.10) = 0.50
    assert one["vad_stop_s"] == pytest.approx(0.50)
    # The streaming final (t 4.15) came 0.05 s after the stop; the earlier one does not count.
    assert one["stt_s"] == pytest.approx(0.05)
    # 0.98 - (0.50 + 0.05 + 0.25 + 0.12) = 0.06
    assert one["transport_s"] == pytest.approx(0.06)


def test_the_greeting_has_no_voice_to_voice(good_root: Path) -> None:
    greeting = _turn(turns_df(good_root), INBOUND, 0)
    # metrics.v2v of turn 0 is measured from client_connected: not a voice-to-voice figure.
    assert math.isnan(greeting["v2v_server_s"]) and math.isnan(greeting["v2v_caller_s"])
    assert greeting["tts_ttfa_s"] == pytest.approx(0.10)


def test_breakdown_floors_an_stt_final_that_came_before_the_stop() -> None:
    parts = breakdown(
        user_stopped_t=4.0,
        stt_final_t=3.8,
        llm_ttft_s=0.2,
        tts_ttfa_s=0.1,
        caller_to_stop_s=0.3,
        utterance_ended_t=1.0,
        heard_started_t=2.0,
    )
    assert parts["stt_s"] == 0.0
    assert parts["transport_s"] == pytest.approx(1.0 - 0.3 - 0.0 - 0.2 - 0.1)
    assert math.isnan(breakdown(user_stopped_t=4.0)["transport_s"])


def test_latency_summary_percentiles_on_the_fixtures(good_root: Path) -> None:
    summary = latency_summary(turns_df(good_root), col="v2v_server_s")
    row = summary.iloc[0]
    # v2v_server_s of the four answered turns, sorted: 0.57 0.79 0.98 1.06.
    # Linear interpolation: p50 at rank 1.5 -> (0.79 + 0.98) / 2 = 0.885;
    # p90 at rank 2.7 -> 0.98 + 0.7 * 0.08 = 1.036; p95 at rank 2.85 -> 1.048.
    assert row["n"] == 4
    assert row["p50"] == pytest.approx(0.885)
    assert row["p90"] == pytest.approx(1.036)
    assert row["p95"] == pytest.approx(1.048)
    assert row["max"] == pytest.approx(1.06)
    assert 0.57 <= row["p50_lo"] <= row["p50"] <= row["p50_hi"] <= 1.06


def test_latency_summary_groups_and_columns() -> None:
    df = pd.DataFrame(
        {
            "g": ["a"] * 3 + ["b"] * 2,
            "x": [1.0, 2.0, 3.0, 10.0, np.nan],
            "y": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )
    summary = latency_summary(df, by="g", col=["x", "y"])
    assert list(summary["g"]) == ["a", "b", "a", "b"]
    assert list(summary["metric"]) == ["x", "x", "y", "y"]
    assert list(summary["n"]) == [3, 1, 3, 2]
    assert summary.iloc[0]["p50"] == 2.0
    assert math.isnan(summary.iloc[1]["p50_lo"])  # one value: no interval


def test_bootstrap_is_seeded_and_covers_the_truth() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(1.0, 0.2, 400)})
    first = latency_summary(df, col="x", seed=7)
    pd.testing.assert_frame_equal(first, latency_summary(df, col="x", seed=7))
    assert not first.equals(latency_summary(df, col="x", seed=8))
    row = first.iloc[0]
    assert row["p50_lo"] < 1.0 < row["p50_hi"]  # the true median of N(1, 0.2)
    assert row["p50_hi"] - row["p50_lo"] < 0.1


def test_compare_finds_a_real_difference_and_no_false_one() -> None:
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(1.0, 0.1, 200), rng.normal(0.8, 0.1, 200), rng.normal(1.0, 0.1, 200)
    df = pd.DataFrame(
        {
            "prompt": ["a"] * 200 + ["b"] * 200 + ["c"] * 200,
            "v2v_caller_s": np.concatenate([a, b, c]),
        }
    )
    result = compare(df, by="prompt").set_index("prompt")
    assert list(result.index) == ["b", "c"] and set(result["baseline"]) == {"a"}
    assert result.loc["b", "diff"] == pytest.approx(np.median(b) - np.median(a))
    assert result.loc["b", "diff_hi"] < 0 and bool(result.loc["b", "significant"])
    assert result.loc["c", "diff_lo"] < 0 < result.loc["c", "diff_hi"]
    assert not bool(result.loc["c", "significant"])
    with pytest.raises(KeyError):
        compare(df, by="prompt", baseline="z")


def test_tool_s_is_the_function_time_before_the_first_token(tmp_path: Path) -> None:
    # Hand-computed: the LLM starts at 1.0, calls log_feedback (0.25 s of the app's code,
    # settled at 1.3), then answers (first token at 1.6); a transfer runs on until 5.0 (3 s)
    # while the bot speaks: it is not on the reply's path.
    from voicelab.recording.store import CallRecord

    record = CallRecord(tmp_path / "call", "server")
    record.update_manifest(call_sid="CA" + "7" * 32)
    for t, kind, data in [
        (0.5, "user.speech_started", {"turn": 1}),
        (0.9, "user.speech_stopped", {"turn": 1}),
        (1.0, "llm.started", {"turn": 1}),
        (1.05, "function_call.started", {"turn": 1, "name": "log_feedback", "call_id": "a"}),
        (
            1.3,
            "function_call.completed",
            {"turn": 1, "name": "log_feedback", "call_id": "a", "duration_s": 0.25},
        ),
        (1.4, "llm.started", {"turn": 1}),
        (1.6, "llm.first_token", {"turn": 1, "ttft_s": 0.2}),
        (1.7, "function_call.started", {"turn": 1, "name": "transfer", "call_id": "b"}),
        (
            5.0,
            "function_call.completed",
            {"turn": 1, "name": "transfer", "call_id": "b", "duration_s": 3.0},
        ),
    ]:
        record.emit(kind, t=t, **data)
    record.flush()
    row = turns_df(record.directory, cache=False).set_index("turn").loc[1]
    assert row["tool_calls"] == "log_feedback, transfer"
    assert row["tool_s"] == pytest.approx(0.25)
    assert row["llm_ttft_s"] == pytest.approx(0.6 - 0.25)  # both LLM runs, not the tool
