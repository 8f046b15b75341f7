"""The scenarios the scripted bot must pass, played against the real server through the
voicelab pytest plugin (registered by the package's ``pytest11`` entry point).

The scripted LLM answers by keywords, so these scenarios pin the plumbing around it: the
greeting, turn-taking, barge-in, transcription, the call record and its latencies. With
``--voicelab-providers offline`` the same suite checks what SmolLM2 says instead.
"""

from pathlib import Path

import pytest

from voicelab.lab import CallResult
from voicelab.simulator.scenario import load_scenario
from voicelab.testing import assert_expectations, assert_latency, assert_pass_rate, assert_replied

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"

# Every inbound scenario but cold_food, which has its own test below, and the outbound
# voicemail: the reference agent logs, transfers, hangs up and leaves messages (issue 17).
# greeting_barge_in's expectations are checked where its call is played already
# (tests/integration/test_phone_network.py): one call fewer in a suite near its time budget.
PASSING = [
    "allergy_concern",
    "angry_transfer",
    "billing_refund",
    "chef_praise",
    "hang_up_mid_reply",
    "outbound_voicemail",
    "silent_caller",
]


@pytest.fixture(scope="module")
def played(voicelab_lab) -> dict[str, CallResult]:
    """Every scenario of the list, played two at a time (a suite's worth of calls in the
    time of a few): ``voicelab_lab`` is the plugin's session lab."""
    calls = voicelab_lab.simulate_many(
        [SCENARIOS / f"{name}.yaml" for name in PASSING], concurrency=2, progress=False
    )
    return dict(zip(PASSING, calls, strict=True))


@pytest.mark.parametrize("name", PASSING)
def test_scenario_meets_its_expectations(played: dict[str, CallResult], name: str) -> None:
    call = played[name]
    assert call.status == "completed", call
    assert_expectations(call)


def test_cold_food(simulate) -> None:
    # The README's example, verbatim: the path is relative to the rootdir.
    call = simulate("evals/scenarios/cold_food.yaml")
    assert call.status == "completed", call
    assert_expectations(call)
    assert_replied(call, 0, contains="Compass Group")
    assert_replied(call, 1, contains=["sorry", "apologi"])
    assert_replied(call, 2, contains="goodbye")  # "Thanks" makes the scripted bot say goodbye
    assert_latency(call, 4.0)


def test_outbound_menu_with_the_menu_navigator(voicelab_models, tmp_path) -> None:
    # The reference agent presses no keys: the sample agent that navigates menus plays it.
    from voicelab.agents.menu_navigator import make_menu_navigator
    from voicelab.lab import Lab

    agent = make_menu_navigator("Reach the accounts department.", ("accounts",))
    with Lab(
        agent=agent, providers="scripted", models=voicelab_models, recordings_dir=tmp_path
    ) as lab:
        call = lab.simulate(SCENARIOS / "outbound_menu.yaml", progress=False)
    assert isinstance(call, CallResult) and call.status == "completed", call
    assert_expectations(call)


def test_a_scenario_repeated_meets_its_pass_rate(simulate_repeat) -> None:
    # A busy line is the shortest call there is: the plugin's repeat and rate, not the agent.
    calls = simulate_repeat("evals/scenarios/outbound_busy.yaml", 3, concurrency=3)
    assert [call.status for call in calls] == ["busy"] * 3
    # A call never answered keeps no scenario in its record: say which it played.
    busy = load_scenario(SCENARIOS / "outbound_busy.yaml")
    summary = assert_pass_rate(calls, 1.0, scenarios=[busy] * 3)
    assert summary.scenarios.iloc[0][["runs", "passed", "pass_all_k"]].tolist() == [3, 3, 1.0]
