"""What the agent does, recorded, mocked and asserted (issue 17): a tool-calling agent of a
user's own (``tests/custom_agents.py`` ``order_agent``, the README's example) through the
real server, carrier and caller.

Its LLM service calls the function it registered (``place_order``) on every caller turn
and says the result; voicelab records every call (``function_call.*`` events,
``tool_calls_df``), answers it from the scenario's ``tools:`` block when there is one
(marking it ``mocked``), and checks ``calls:``/``must_not_call:`` expectations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from custom_agents import ORDERS_PLACED, order_agent
from helpers import read_events, wait_for_record

from voicelab.analysis import tool_calls_df, turns_df
from voicelab.lab import CallResult, Lab
from voicelab.network import LabModels
from voicelab.simulator.scenario import load_scenario
from voicelab.testing import expectation_checks

pytestmark = pytest.mark.slow  # real-time calls

BASE = """\
description: A guest orders a pizza from an agent that calls a function.
turns:
  - say: Hi, I would like a large margherita please.
"""


def play(tmp_path: Path, lab_models: LabModels, extra: str = "") -> CallResult:
    path = tmp_path / "order.yaml"
    path.write_text(BASE + extra)
    scenario = load_scenario(path)
    lab = Lab(
        agent=order_agent, providers="instant", recordings_dir=tmp_path / "rec", models=lab_models
    )
    with lab:
        call = lab.simulate(scenario, progress=False)
    assert isinstance(call, CallResult) and call.directory is not None
    wait_for_record(call.directory)
    return call


def events(directory: Path, prefix: str) -> list[dict[str, Any]]:
    return [e for e in read_events(directory) if e["type"].startswith(prefix)]


def test_the_agents_function_calls_are_recorded_and_checked(tmp_path, lab_models):
    ORDERS_PLACED.clear()
    call = play(
        tmp_path,
        lab_models,
        "expect:\n"
        "  - turn: 1\n    calls: [{name: place_order, args: {size: large}}]\n"
        "  - must_not_call: cancel_order\n",
    )
    assert call.directory is not None
    started, completed = events(call.directory, "function_call.")[:2]
    assert started["type"] == "function_call.started"
    assert started["data"]["arguments"] == {"item": "margherita", "size": "large"}
    assert completed["type"] == "function_call.completed"
    assert json.loads(completed["data"]["result"]) == {"order": "A-1"}
    assert completed["data"]["mocked"] is False and completed["data"]["duration_s"] >= 0
    assert ORDERS_PLACED == [{"item": "margherita", "size": "large"}]
    tools = tool_calls_df(call.directory)
    assert list(tools["name"]) == ["place_order"] and list(tools["status"]) == ["completed"]
    turns = turns_df(call.directory)
    answer = turns[turns["caller_turn"] == 1].iloc[0]
    assert answer["tool_calls"] == "place_order" and "A-1" in answer["bot_text"]
    assert answer["tool_s"] >= 0
    checks = expectation_checks(call)
    acts = checks[checks["check"].isin(["expect.calls", "expect.must_not_call"])]
    assert len(acts) == 2 and acts["passed"].all(), acts.to_string()


def test_a_scenarios_mock_answers_instead_of_the_agents_function(tmp_path, lab_models):
    ORDERS_PLACED.clear()
    call = play(
        tmp_path,
        lab_models,
        "tools:\n  place_order:\n    - when_args: {size: small}\n      returns: {order: S-0}\n"
        "    - returns: {order: MOCK-7}\n",
    )
    assert call.directory is not None
    completed = events(call.directory, "function_call.completed")[0]
    assert json.loads(completed["data"]["result"]) == {"order": "MOCK-7"}
    assert completed["data"]["mocked"] is True
    assert ORDERS_PLACED == []  # the agent's own function never ran
    turns = turns_df(call.directory)
    assert "MOCK-7" in turns[turns["caller_turn"] == 1].iloc[0]["bot_text"]
    assert bool(tool_calls_df(call.directory)["mocked"].iloc[0])


def test_strict_tools_fail_the_call_on_a_function_without_a_mock(tmp_path, lab_models):
    ORDERS_PLACED.clear()
    call = play(
        tmp_path,
        lab_models,
        "strict_tools: true\ntools:\n  cancel_order:\n    returns: {cancelled: true}\n",
    )
    assert call.directory is not None
    manifest = json.loads((call.directory / "call.json").read_text())
    assert manifest["end_reason"] == "error"
    errors = [e for e in events(call.directory, "error") if e["source"] == "server"]
    assert any("strict tools" in e["data"]["message"] for e in errors)
    assert ORDERS_PLACED == []


def test_failed_action_expectations_say_what_the_agent_did(tmp_path, lab_models):
    call = play(
        tmp_path,
        lab_models,
        "expect:\n"
        "  - must_not_call: place_order\n"
        "  - calls: [{name: place_order, args: {size: small}}]\n"
        "  - transferred_to: true\n",
    )
    checks = expectation_checks(call)
    by = {row.check: row for row in checks.itertuples() if row.check.startswith("expect.")}
    assert (
        not by["expect.must_not_call"].passed
        and "called place_order" in by["expect.must_not_call"].detail
    )
    assert not by["expect.calls"].passed
    assert "with {'item': 'margherita', 'size': 'large'}" in by["expect.calls"].detail
    assert (
        not by["expect.transferred_to"].passed
        and "no transfer" in by["expect.transferred_to"].detail
    )
