"""voicelab.testing on hand-made call records: the checks, their messages, and the plugin.

These run no server (fast); ``test_scenarios.py`` runs the plugin against real calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from helpers import QUIET_ASYNCIO

from voicelab.simulator.scenario import load_scenario
from voicelab.simulator.simulator import CallResult
from voicelab.testing import (
    assert_expectations,
    assert_latency,
    assert_replied,
    expectation_checks,
    regression_summary,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
GREETING = "Hello, thank you for calling Compass Group. How can I help?"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
EXPECT = [
    {"turn": 0, "contains": ["Compass Group"]},
    {"turn": 1, "contains": ["sorry", "apolog"], "max_latency_s": 4.0},
    {"turn": 2, "max_latency_s": 4.0},
    {"must_not_say": ["refund"]},
]


def write_call(
    root: Path,
    sid: str,
    replies: list[tuple[str, str | None, float]],
    expectations: list[dict[str, Any]] = EXPECT,
) -> Path:
    """A simulated inbound call record: the greeting, then per caller line ``(said, reply,
    v2v_caller_s)``; a ``None`` reply is a line the bot never answered."""
    events: list[dict[str, Any]] = []

    def add(source: str, t: float, kind: str, **data: Any) -> None:
        wall = (T0 + timedelta(seconds=t)).isoformat()
        events.append({"t": t, "wall": wall, "source": source, "type": kind, "data": data})

    add("server", 0.0, "call.started", call_sid=sid, direction="inbound", to="+1", **{"from": "+2"})
    add("server", 0.02, "tts.started", turn=0, text=GREETING)
    add("server", 0.05, "bot.speech_started", turn=0)
    add("caller", 0.1, "caller.heard_started", turn=0)
    add("server", 3.0, "bot.speech_stopped", turn=0)
    add("caller", 3.05, "caller.heard_ended", turn=0)
    t = 4.0
    for n, (said, reply, v2v) in enumerate(replies, start=1):
        end = t + 2.0
        add("caller", t, "caller.utterance_started", turn=n, text=said)
        add("server", t + 0.2, "user.speech_started", turn=n)
        add("caller", end, "caller.utterance_ended", turn=n, text=said)
        add("server", end + 0.2, "user.speech_stopped", turn=n)
        add("server", end + 0.4, "stt.transcript", turn=n, text=said, final=True)
        if reply is not None:
            add("server", end + 0.41, "llm.started", turn=n)
            add("server", end + 0.5, "llm.first_token", turn=n, ttft_s=0.09)
            add("server", end + 0.55, "tts.started", turn=n, text=reply)
            add("server", end + 0.6, "tts.first_audio", turn=n, ttfa_s=0.05)
            add("server", end + v2v - 0.1, "bot.speech_started", turn=n)
            add("server", end + v2v, "llm.response", turn=n, text=reply)
            add("caller", end + v2v, "caller.heard_started", turn=n)
            add("server", end + v2v + 2.0, "bot.speech_stopped", turn=n)
            add("caller", end + v2v + 2.05, "caller.heard_ended", turn=n)
        t = end + v2v + 3.0
    add("server", t, "call.ended", reason="hangup")
    directory = root / f"{T0:%Y%m%d-%H%M%S}_{sid}"
    directory.mkdir(parents=True)
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    manifest = {
        "call_sid": sid,
        "direction": "inbound",
        "status": "completed",
        "started_at": T0.isoformat(),
        "scenario": {"id": "cold_food", "outcome": "answer", "expectations": expectations},
    }
    (directory / "call.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_call(
        tmp_path / "good",
        "CA" + "1" * 32,
        [
            ("The curry was cold.", "I am so sorry. Which site was it?", 1.2),
            ("London, at noon. Thanks.", "Thank you, goodbye.", 1.4),
        ],
    )


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    return write_call(
        tmp_path / "bad",
        "CA" + "2" * 32,
        [
            ("The curry was cold.", "Great, you will get a refund.", 5.0),
            ("London, at noon. Thanks.", None, 0.0),
        ],
    )


def test_a_good_call_passes_every_check(good: Path) -> None:
    assert_expectations(good)
    assert_replied(good, 0, contains="compass group")
    assert_replied(good, 1, contains=["apolog", "sorry"])
    assert_latency(good, 2.0)
    assert_latency(good, 1.3, turns=[1])
    checks = expectation_checks(good)
    assert list(checks["check"]) == [
        "status",
        "expect.contains",
        "expect.contains",
        "expect.max_latency_s",
        "expect.max_latency_s",
        "expect.must_not_say",
    ]
    assert checks["passed"].all()
    assert list(checks["turn"].astype("object").fillna(-1)) == [-1, 0, 1, 1, 2, -1]


def test_assert_expectations_lists_every_failed_check(bad: Path) -> None:
    with pytest.raises(AssertionError) as raised:
        assert_expectations(bad)
    message = str(raised.value)
    assert message.startswith(f"cold_food (CA{'2' * 32}): 4 of 6 checks failed")
    assert "turn 1 contains: lacks 'sorry' or 'apolog' in reply 'Great, you will get" in message
    assert "turn 1 max_latency_s: 5.00 s vs 4.00 s" in message
    assert "turn 2 max_latency_s: no latency vs 4.00 s (undecided: counts as failed)" in message
    assert (
        "the call must_not_say: says 'refund' in reply 'Great, you will get a refund.'" in message
    )
    assert "turn 0" not in message  # the greeting passed
    assert f"call record: {bad}" in message


def test_assert_replied_and_assert_latency_say_what_is_wrong(bad: Path) -> None:
    with pytest.raises(AssertionError, match=r"turn 2: no reply \(turns with a reply: \[0, 1\]\)"):
        assert_replied(bad, 2)
    with pytest.raises(AssertionError, match=r"turn 1: none of \['sorry'\] in reply 'Great"):
        assert_replied(bad, 1, contains="sorry")
    with pytest.raises(
        AssertionError, match=r"1 of 1 checks failed\n  - turn 1: v2v_caller_s 5.00"
    ):
        assert_latency(bad, 4.0)
    with pytest.raises(AssertionError, match="no turn has a v2v_caller_s value among turns"):
        assert_latency(bad, 4.0, turns=[2])
    with pytest.raises(KeyError, match="v2v_nonsense_s"):
        assert_latency(bad, 4.0, column="v2v_nonsense_s")
    assert_latency(bad, 0.2, column="llm_ttft_s")


def test_the_scenario_decides_the_expected_status() -> None:
    busy = CallResult(scenario_id="outbound_busy", call_sid="CA" + "3" * 32, status="busy")
    assert_expectations(busy, load_scenario(SCENARIOS / "outbound_busy.yaml"))
    with pytest.raises(AssertionError, match="status 'completed': the call ended 'busy'"):
        assert_expectations(busy, load_scenario(SCENARIOS / "chef_praise.yaml"))
    with pytest.raises(AssertionError, match="nothing to check, it left no call record"):
        assert_expectations(busy)


def test_regression_summary_has_one_row_per_call(good: Path, bad: Path) -> None:
    summary = regression_summary(expectation_checks([good, bad]))
    assert list(summary["passed"]) == [True, False]
    assert list(summary["failed"]) == [0, 4]
    assert summary["failures"].iloc[1].count("; ") == 3


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    code = (
        "import sys, voicelab.testing; "
        "print(sorted(m for m in ('pipecat', 'pandas', 'voicelab.lab', 'voicelab.server') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the plugin inside a pytest run of its own -------------------------------------------
# In this process (pytester): pytest loads the plugin from its pytest11 entry point, as a
# pytest process of its own would (and -p would register it twice).
PLUGIN = [] if entry_points(group="pytest11", name="voicelab") else ["-p", "voicelab.testing"]

CONFTEST = """
import pytest

from voicelab.lab import CallResult


class FakeLab:
    url = "http://127.0.0.1:1"

    def simulate(self, scenario, progress=True):
        return CallResult(scenario.id, "CA{sid}", "completed", directory=__import__(
            "pathlib").Path({directory!r}))


@pytest.fixture(scope="session")
def voicelab_lab():
    return FakeLab()
"""

TESTS = """
from pathlib import Path

from voicelab.testing import assert_expectations


def test_options(voicelab_providers, voicelab_settings):
    assert voicelab_providers == "scripted"
    assert voicelab_settings.providers == "scripted"
    assert voicelab_settings.recordings_dir == Path({recordings!r})


def test_fails(simulate, voicelab_server):
    assert voicelab_server == "http://127.0.0.1:1"
    call = simulate("scenarios/cold_food.yaml")  # relative to the rootdir
    assert call.scenario_id == "cold_food"
    assert_expectations(call)
"""


def test_plugin_options_fixtures_and_failure_report(
    pytester: pytest.Pytester, bad: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = pytester.path / "project"
    (project / "scenarios").mkdir(parents=True)
    (project / "scenarios" / "cold_food.yaml").write_text(
        (SCENARIOS / "cold_food.yaml").read_text()
    )
    (project / "conftest.py").write_text(CONFTEST.format(sid="2" * 32, directory=str(bad)))
    recordings = pytester.path / "kept"
    (project / "test_it.py").write_text(TESTS.format(recordings=str(recordings.resolve())))
    (project / "pytest.ini").write_text("[pytest]\n")
    args = ["--voicelab-providers", "scripted", "--voicelab-recordings", str(recordings)]
    # Not from the rootdir: the scenario path resolves against it.
    monkeypatch.chdir(project / "scenarios")
    run = pytester.runpytest_inprocess(
        *QUIET_ASYNCIO, "-p", "no:cacheprovider", *PLUGIN, *args, "../test_it.py"
    )
    report = run.stdout.str()
    assert "1 failed, 1 passed" in report, report
    assert "cold_food (CA2222" in report and "4 of 6 checks failed" in report
    assert "voicelab calls" in report  # the failed test's report names its calls
    assert f"cold_food: completed CA{'2' * 32} -> {bad}" in report
    assert "voicelab/testing/" not in report  # __tracebackhide__: the user's line is shown


def test_plugin_help_lists_its_options(pytester: pytest.Pytester) -> None:
    run = pytester.runpytest_inprocess(*QUIET_ASYNCIO, "-p", "no:cacheprovider", *PLUGIN, "--help")
    out = run.stdout.str()
    assert run.ret == pytest.ExitCode.OK, out
    from voicelab._bundles import BUNDLES  # the choices come from the one table

    assert f"--voicelab-providers={{{','.join(BUNDLES)}}}" in out
    assert "--voicelab-recordings=DIR" in out
    assert "voicelab_providers (string):" in out
