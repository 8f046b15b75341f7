"""A user's own pipecat agent in the lab: the same record, latency breakdown and analysis.

The agent (``tests/custom_agents.py``) is plain pipecat with no model: the instant STT, a
user aggregator with Silero VAD, a processor that answers every turn with one fixed
sentence, the instant TTS. Its calls go through the real server, carrier and simulated
caller, chosen by ``Lab(agent=...)`` and by the pytest plugin's ``--voicelab-agent``.
The calls are real time (marked ``slow``); a broken ``--voicelab-agent`` places none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from custom_agents import GREETING, REPLY, SwitchableAgent, fixed_reply_agent
from helpers import QUIET_ASYNCIO, assert_record_complete, read_events, wait_for_record

from voicelab.analysis import calls_df
from voicelab.lab import CallResult, Lab
from voicelab.network import LabModels
from voicelab.simulator.scenario import Scenario, load_scenario
from voicelab.testing import assert_expectations, assert_replied

TESTS = Path(__file__).resolve().parents[1]

SCENARIO = """\
description: A guest orders a pizza from the test agent.
direction: inbound
caller:
  name: Sam Patel
turns:
  - say: Hi, I would like to order a pizza for tonight please.
  - say: That is all, thank you very much.
expect:
  - turn: 0
    contains: Tony's Pizza
  - turn: 1
    contains: margherita
    max_latency_s: 4.0
  - turn: 2
    contains: margherita
    max_latency_s: 4.0
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    path = tmp_path_factory.mktemp("scenarios") / "pizza_order.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def simulate(lab: Lab, scenario: Scenario) -> CallResult:
    result = lab.simulate(scenario, progress=False)
    assert isinstance(result, CallResult) and result.directory is not None, result
    wait_for_record(result.directory)
    return result


def server_events(directory: Path, type: str) -> list[dict[str, Any]]:
    return [e for e in read_events(directory) if e["source"] == "server" and e["type"] == type]


@pytest.mark.slow  # real-time calls
def test_a_custom_agent_gets_the_reference_agents_record_and_analysis(
    tmp_path: Path, scenario: Scenario, lab_models: LabModels
) -> None:
    lab = Lab(
        agent=fixed_reply_agent, providers="instant", recordings_dir=tmp_path, models=lab_models
    )
    with lab:
        call = simulate(lab, scenario)
    assert call.status == "completed"
    directory = call.directory
    assert directory is not None
    manifest = assert_record_complete(directory)
    assert manifest["agent"] == "custom_agents:fixed_reply_agent"
    assert manifest["agent_variant"] == "fixed"  # the agent's own tag
    # voicelab described the agent's services (FixedReply is no LLM service) and no persona.
    assert manifest["providers"]["stt"]["service"] == "InstantSTTService"
    assert manifest["providers"]["tts"]["service"] == "InstantTTSService"
    assert "llm" not in manifest["providers"] and "persona" not in manifest

    # The agent's words in the record: its greeting first, then its reply to every turn.
    replies = [e["data"]["text"] for e in server_events(directory, "llm.response")]
    assert replies and set(replies) == {REPLY}, replies
    greeting = server_events(directory, "tts.started")[0]["data"]
    assert greeting == {"turn": 0, "text": GREETING}
    assert_expectations(call, scenario)  # turn 0 greets, turns 1 and 2 answered in time
    assert_replied(call, 2, contains="margherita")

    # The same analysis as the reference agent: caller-side latency and its breakdown.
    turns = call.turns_df().set_index("turn")
    answered = turns.loc[[1, 2]]
    for column in ("v2v_caller_s", "v2v_server_s", "llm_ttft_s", "tts_ttfa_s", "vad_stop_s"):
        assert answered[column].notna().all(), (column, answered[column])
    assert (answered["v2v_caller_s"] > 0).all()
    calls = calls_df(tmp_path)
    assert calls["agent"].tolist() == ["custom_agents:fixed_reply_agent"]
    assert calls["stt_service"].tolist() == ["InstantSTTService"]


@pytest.fixture(scope="module")
def switchable(
    tmp_path_factory: pytest.TempPathFactory, lab_models: LabModels
) -> Iterator[tuple[Lab, SwitchableAgent]]:
    agent = SwitchableAgent()
    recordings = tmp_path_factory.mktemp("recordings")
    lab = Lab(agent=agent, providers="instant", recordings_dir=recordings, models=lab_models)
    with lab:
        yield lab, agent


@pytest.mark.slow  # real-time calls
def test_an_agent_that_raises_while_built_ends_its_call_cleanly_and_costs_no_other_call(
    switchable: tuple[Lab, SwitchableAgent], scenario: Scenario
) -> None:
    lab, agent = switchable
    agent.broken = True
    try:
        broken = simulate(lab, scenario)
    finally:
        agent.broken = False
    assert broken.directory is not None
    manifest = assert_record_complete(broken.directory, "error", wav=False)
    assert manifest["agent"] == "custom_agents:SwitchableAgent"  # named although it failed
    errors = server_events(broken.directory, "error")
    assert [e["data"] for e in errors] == [
        {"message": "the agent exploded while being built", "fatal": True}
    ]

    # The server goes on: the next call gets the working agent.
    good = simulate(lab, scenario)
    assert good.status == "completed" and good.directory is not None
    assert_record_complete(good.directory, wav=True)
    assert_replied(good, 1, contains="margherita")


@pytest.mark.slow  # real-time calls
def test_the_pytest_plugin_runs_a_users_agent_with_voicelab_agent(tmp_path: Path) -> None:
    """A user's project: its own test file and scenario; the agent named on the command line."""
    (tmp_path / "pizza_order.yaml").write_text(SCENARIO)
    (tmp_path / "test_my_agent.py").write_text(
        "from voicelab.testing import assert_expectations, assert_replied\n"
        "\n"
        "\n"
        "def test_my_agent(simulate, voicelab_agent):\n"
        "    assert voicelab_agent == 'custom_agents:fixed_reply_agent'\n"
        "    call = simulate('pizza_order.yaml')\n"
        "    assert call.status == 'completed'\n"
        "    assert_expectations(call)\n"
        "    assert_replied(call, 1, contains='margherita')\n"
    )
    recordings = tmp_path / "recordings"
    # The agent module is importable as in a user's project (there: the project's own code).
    path = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--voicelab-agent",
            "custom_agents:fixed_reply_agent",
            "--voicelab-providers",
            "instant",
            "--voicelab-recordings",
            str(recordings),
            "test_my_agent.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout
    (manifest,) = [json.loads(p.read_text()) for p in recordings.glob("*/call.json")]
    assert manifest["agent"] == "custom_agents:fixed_reply_agent"


def test_a_broken_voicelab_agent_fails_the_plugins_tests_with_one_clear_line(
    pytester: pytest.Pytester,
) -> None:
    # A pytest run of its own, in this process (the plugin and the error are the same).
    pytester.makepyfile(
        test_my_agent="def test_my_agent(voicelab_lab):\n    raise AssertionError('not reached')\n"
    )
    run = pytester.runpytest_inprocess(
        "-q", *QUIET_ASYNCIO, "-p", "no:cacheprovider", "--voicelab-agent", "my_missing_bot:build"
    )
    out = run.stdout.str()
    assert run.ret == pytest.ExitCode.TESTS_FAILED, out[-3000:]
    assert "1 error" in out and "not reached" not in out
    assert (
        "ConfigError: invalid setting VOICELAB_AGENT: 'my_missing_bot:build': "
        "no module named 'my_missing_bot'" in out
    )
