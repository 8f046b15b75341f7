"""The CLI: bad input is one line on stderr and exit code 2, never a traceback.

The commands run in-process (Typer's ``CliRunner``): an uncaught exception there is exit code
1 with ``result.exception`` set, so exit code 2 with a ``SystemExit`` is the one-line path.
``serve`` on a taken port runs ``python -m voicelab`` as a real process: the entry point, its
exit code and everything it prints (and the slow ``simulate`` test, which plays calls).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from helpers import assert_exit_2
from helpers import run_cli as voicelab


def voicelab_process(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m voicelab ARGS`` as a process of its own (interpreter and imports: seconds)."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "voicelab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["serve"], {"VOICELAB_PROVIDERS": "magic"}, "VOICELAB_PROVIDERS"),
        (["serve"], {"TWILIO_PHONE_NUMBER": "12345"}, "TWILIO_PHONE_NUMBER"),
        (["serve"], {"VOICELAB_AGENT": "my bot"}, "VOICELAB_AGENT: Value error, must be"),
        (["serve"], {"VOICELAB_AGENT": "no_such_agent_mod:build"}, "VOICELAB_AGENT: 'no_such"),
        (["call", "12345"], {}, "E.164"),
        (["report", "/nonexistent/dir"], {}, "no such directory"),
        (["carrier"], {}, "TWILIO_ACCOUNT_SID"),
        (["serve", "--port", "99999"], {}, "--port"),
        (["simulate", "evals/scenarios", "--junit-xml", "/nonexistent/j.xml"], {}, "no such dir"),
        (["simulate", "evals/scenarios", "--html", "/tmp"], {}, "is a directory"),
        (["simulate", "evals/scenarios", "--min-pass-rate", "1.5"], {}, "--min-pass-rate"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_code_2(args, env, needle):
    result = voicelab(*args, env=env)
    assert_exit_2(result)
    assert needle in result.stderr


def test_help_lists_the_commands():
    result = voicelab("--help")
    assert result.exit_code == 0, result.output
    for command in ("serve", "demo", "simulate", "call", "carrier", "report"):
        assert command in result.stdout


# An alias bomb of a few hundred bytes: each line nine aliases of the one before.
BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
)


@pytest.mark.timeout(30)  # in-process, but `simulate` imports pipecat first (a few seconds)
@pytest.mark.parametrize("command", ["simulate", "sweep"])
def test_an_alias_bomb_is_one_line_and_exit_2_not_a_hang(tmp_path, command):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB + "\n", encoding="utf-8")
    result = voicelab(command, str(bomb))
    assert_exit_2(result)
    lines = [line for line in result.stderr.splitlines() if "bomb.yaml" in line]
    assert lines == [
        f"voicelab: {bomb}: the alias *a3 takes the file past 10,000 YAML nodes with its"
        " aliases expanded (an alias bomb?) (line 5)"
    ]
    assert "Traceback" not in result.stderr


# --- the first hour (issue 16) -------------------------------------------------------------------


def test_serve_on_a_taken_port_says_so_at_once_with_exit_2(tmp_path):
    # It used to load every model first, then exit 3 with uvicorn's errno.
    # The one test of `python -m voicelab` as a process: its exit status and all it prints on
    # stderr (serve also sets up the process's log files, not something to do in the tests').
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    env = {"VOICELAB_PROVIDERS": "offline", "VOICELAB_RECORDINGS_DIR": str(tmp_path)}
    try:
        result = voicelab_process("serve", "--port", str(port), env=env)
    finally:
        taken.close()
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and "pass --port" in lines[-1] and str(port) in lines[-1]
    assert "offline model" not in result.stderr  # nothing was loaded


def test_call_accepts_a_from_number_and_checks_it():
    result = voicelab("call", "+15550002222", "--from", "+1５５５0001111")
    assert_exit_2(result)
    assert "E.164" in result.stderr
    help_text = voicelab("call", "--help").stdout
    assert "--from" in help_text


def test_the_starter_prints_commands_that_use_this_python(tmp_path):
    result = voicelab("init", str(tmp_path / "proj"))
    assert result.exit_code == 0, (result.output, result.exception)
    commands = result.stdout.split("Run its tests:")[1].split()
    assert f"{sys.executable}" in commands and "-m" in commands and "pytest" in commands


ONE_LINE_FAILING = """\
id: failing_check
description: A guest with one short line.
turns:
  - say: Hello there.
expect:
  - turn: 1
    contains: a phrase no bot says, zebra crossing
"""


@pytest.mark.slow  # one real-time call on the instant providers
def test_simulate_prints_the_checks_and_exits_1_when_one_fails(tmp_path):
    # `goal_driven_feedback` failed its expect: yet simulate showed `completed` and exit 0;
    # only `report --by scenario_id` revealed it.
    scenario = tmp_path / "failing_check.yaml"
    scenario.write_text(ONE_LINE_FAILING)
    env = {"VOICELAB_RECORDINGS_DIR": str(tmp_path / "rec"), "VOICELAB_LOG_DIR": str(tmp_path)}
    result = voicelab_process("simulate", str(scenario), "--providers", "instant", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failing_check" in result.stdout and "1 of 2 passed - FAILED" in result.stdout
    assert "FAILED turn 1 contains: lacks" in result.stdout
    # Repeated, the scenario gets a pass rate; a bar of 0 % lets the run through, and the
    # suite leaves JUnit XML and an HTML page for CI.
    junit, page = tmp_path / "junit.xml", tmp_path / "suite.html"
    args = ["--repeat", "2", "--concurrency", "2", "--min-pass-rate", "0"]
    args += ["--junit-xml", str(junit), "--html", str(page)]
    repeated = voicelab_process("simulate", str(scenario), "--providers", "instant", *args, env=env)
    assert repeated.returncode == 0, repeated.stdout + repeated.stderr
    assert "failing_check: 0/2 = 0% [0%, 66%]" in repeated.stdout
    assert "minimum pass rate 0%: all meet it" in repeated.stdout
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "failing_check"
    cases = suite.findall("testcase")
    assert len(cases) == 2 and all(c.find("failure") is not None for c in cases)
    assert "0 of 2 calls passed every check" in page.read_text()


# --- voicelab report ---------------------------------------------------------------------

CALLS = Path(__file__).resolve().parents[2] / "fixtures" / "calls"
SIMULATED = "20250301-101500_CAa1b2c3d4e5f60718293a4b5c6d7e8f90"  # scenario canteen_feedback


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """A notebook's calls one level down, as `make lab` leaves them, and a corrupt one."""
    root = tmp_path / "recordings"
    shutil.copytree(CALLS / SIMULATED, root / "01_quickstart" / SIMULATED)
    corrupt = root / "02_latency" / "20250301-120000_CAbroken" / "call.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text("{not json", encoding="utf-8")
    return root


def test_report_by_scenario_as_the_readme_writes_it(recordings: Path) -> None:
    from voicelab.analysis import CallRecordWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = voicelab("report", str(recordings), "--by", "scenario")
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    assert out.startswith(f"voicelab report: {recordings} (1 call, grouped by scenario)")
    assert "canteen_feedback" in out and "Reply to line 2 matches" in out
    page = recordings / "report.html"
    assert out.count(str(page)) == 1 and page.is_file()  # the path, once
    # The corrupt manifest: listed in the output, not dumped as Python warnings.
    corrupt = recordings / "02_latency" / "20250301-120000_CAbroken" / "call.json"
    assert f"1 warning\n  - {corrupt}: unreadable manifest" in out
    assert not [w for w in caught if issubclass(w.category, CallRecordWarning)]
    assert "CallRecordWarning" not in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "no call records under"),
        (["--by", "scenarios"], "cannot group by 'scenarios'; use one of scenario (scenario_id)"),
    ],
)
def test_report_without_calls_or_with_an_unknown_group_is_exit_2(
    tmp_path: Path, recordings: Path, args: list[str], needle: str
) -> None:
    root = recordings if args else tmp_path / "empty"
    (tmp_path / "empty" / "01_quickstart").mkdir(parents=True)
    result = voicelab("report", str(root), *args)
    assert_exit_2(result)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_simulate_in_process_takes_a_free_carrier_port(monkeypatch) -> None:
    """The carrier's port matters only to --server; a fixed 8766 made two simulate runs at
    once fail with a traceback ("address already in use")."""
    import voicelab._cli_simulate as batch

    seen: dict[str, object] = {}

    async def fake_run_batch(settings, scenarios, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(batch, "run_batch", fake_run_batch)
    scenario = str(Path(__file__).resolve().parents[3] / "evals/scenarios/cold_food.yaml")
    voicelab("simulate", scenario, "--providers", "instant")
    assert seen["carrier_port"] == 0
    voicelab("simulate", scenario, "--server", "http://127.0.0.1:9", "--carrier-port", "8799")
    assert seen["carrier_port"] == 8799


@pytest.mark.parametrize("command", ["simulate", "carrier"])
def test_a_taken_carrier_port_is_one_line_and_exit_2(command: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x" * 32}
        if command == "simulate":
            scenario = str(Path(__file__).resolve().parents[3] / "evals/scenarios/cold_food.yaml")
            args = [scenario, "--server", "http://127.0.0.1:9", "--carrier-port", port]
            result = voicelab("simulate", *args, env=env)
            option = "--carrier-port"
        else:
            result = voicelab("carrier", "--port", port, env=env)
            option = "--port"
    assert_exit_2(result)
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and option in result.stderr
