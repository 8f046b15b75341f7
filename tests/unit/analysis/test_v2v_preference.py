"""One order of preference for a turn's voice-to-voice, used by checks, scores and reports."""

from __future__ import annotations

import math

import pandas as pd

from voicelab.analysis.latency import measured_v2v, turn_v2v
from voicelab.testing._checks import _latencies


def test_the_caller_side_figure_wins_then_the_recording_then_the_server() -> None:
    row = {"v2v_caller_s": 0.9, "v2v_recording_s": 0.91, "v2v_server_s": 0.5}
    assert turn_v2v(row) == 0.9
    assert turn_v2v({**row, "v2v_caller_s": math.nan}) == 0.91
    assert turn_v2v({"v2v_caller_s": None, "v2v_server_s": 0.5}) == 0.5
    assert math.isnan(turn_v2v({"v2v_server_s": math.nan}))


def test_measured_columns_keep_the_order_and_skip_empty_ones() -> None:
    turns = pd.DataFrame(
        {"v2v_server_s": [0.4, 0.5], "v2v_caller_s": [None, None], "v2v_recording_s": [0.8, None]}
    )
    assert measured_v2v(turns) == ["v2v_recording_s", "v2v_server_s"]


def test_the_plugin_checks_read_the_same_figure() -> None:
    rows = pd.DataFrame(
        {
            "turn": [1, 2],
            "caller_turn": [1, 2],
            "v2v_caller_s": [math.nan, 1.2],
            "v2v_recording_s": [0.7, 1.1],
            "v2v_server_s": [0.3, 0.4],
        }
    )
    assert _latencies(rows) == [(1, 0.7), (2, 1.2)]
    assert _latencies(rows, "v2v_server_s") == [(1, 0.3), (2, 0.4)]
