"""What calls cost (call_costs + Prices) and what they did (read_actions), from records."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from voicelab.analysis import Prices, call_costs
from voicelab.analysis._actions import action_rows, read_actions
from voicelab.expectations import Expectation
from voicelab.recording.store import CallRecord


def test_costs_price_the_usage_and_never_pass_an_unknown_as_free() -> None:
    calls = pd.DataFrame(
        {
            "call_sid": ["a", "b"],
            "duration_s": [90.0, 30.0],
            "llm_prompt_tokens": pd.array([1_000_000, None], dtype="Int64"),
            "llm_completion_tokens": pd.array([500_000, None], dtype="Int64"),
            "tts_characters": pd.array([2_000, 1_000], dtype="Int64"),
        }
    )
    prices = Prices(
        llm_prompt_per_million=0.15,
        llm_completion_per_million=0.60,
        tts_per_million_characters=15.0,
        phone_per_minute=0.014,
        stt_per_minute=0.0043,
    )
    out = call_costs(calls, prices).set_index("call_sid")
    assert out.at["a", "llm_cost"] == pytest.approx(0.15 + 0.30)
    assert out.at["a", "phone_cost"] == pytest.approx(2 * 0.014)  # 1.5 min: 2 started
    assert out.at["a", "cost"] == pytest.approx(0.45 + 0.03 + 0.028 + 1.5 * 0.0043)
    assert pd.isna(out.at["b", "llm_cost"]) and pd.isna(out.at["b", "cost"])
    with pytest.raises(ValidationError):
        call_costs(calls, {"llm_per_token": 1.0})


def _record(tmp_path: Path) -> Path:
    record = CallRecord(tmp_path / "call", "server")
    record.update_manifest(call_sid="CA" + "1" * 32, ended_by="bot", transferred_to="+15550100200")
    record.emit(
        "function_call.started",
        turn=1,
        name="log_feedback",
        call_id="c1",
        arguments={"severity": "high", "site": "London"},
    )
    record.emit(
        "function_call.completed",
        turn=1,
        name="log_feedback",
        call_id="c1",
        result=json.dumps({"ticket": "T-1"}),
        duration_s=0.01,
        mocked=False,
    )
    record.flush()
    return record.directory


def test_actions_are_read_from_the_record(tmp_path: Path) -> None:
    actions = read_actions(_record(tmp_path))
    assert actions.reports_calls and actions.ended_by == "bot"
    assert [(c.name, c.arguments, c.turn) for c in actions.tool_calls] == [
        ("log_feedback", {"severity": "high", "site": "London"}, 1)
    ]
    assert actions.transferred_to == ["+15550100200"]


def test_action_expectations_score_subset_arguments_turns_and_the_whole_call(tmp_path):
    actions = read_actions(_record(tmp_path))

    def check(raw: dict, turns: list[int] | None = None) -> list[tuple[str, bool | None]]:
        rows = action_rows("sid", Expectation.model_validate(raw), actions, turns)
        return [(r["check"], r["passed"]) for r in rows]

    assert check({"calls": [{"name": "log_feedback", "args": {"severity": "high"}}]}) == [
        ("expect.calls", True)
    ]
    assert check({"turn": 2, "calls": "log_feedback"}, turns=[2]) == [("expect.calls", False)]
    assert check({"calls": [{"name": "log_feedback", "args": {"severity": "low"}}]}) == [
        ("expect.calls", False)
    ]
    assert check({"must_not_call": ["transfer"], "ended_by": "caller"}) == [
        ("expect.must_not_call", True),
        ("expect.ended_by", False),
    ]
    assert check({"transferred_to": "+15550100200", "voicemail_left": False}) == [
        ("expect.transferred_to", True),
        ("expect.voicemail_left", True),
    ]


def test_a_black_box_agent_reports_no_calls_so_their_checks_are_undecided(tmp_path):
    record = CallRecord(tmp_path / "bb", "caller")
    record.update_manifest(call_sid="CA" + "2" * 32)
    record.emit("caller.utterance_ended", turn=1, text="hi")
    record.flush()
    rows = action_rows(
        "sid",
        Expectation.model_validate({"calls": "log_feedback"}),
        read_actions(record.directory),
        None,
    )
    assert rows[0]["passed"] is None and "reports no function calls" in rows[0]["detail"]


def test_whole_call_actions_refuse_a_turn() -> None:
    with pytest.raises(ValidationError, match="whole call"):
        Expectation.model_validate({"turn": 1, "ended_by": "bot"})
