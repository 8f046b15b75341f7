"""The CLI: bad input is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


def voicelab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
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
    ],
)
def test_bad_input_is_a_clear_message_and_exit_code_2(args, env, needle):
    result = voicelab(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands():
    result = voicelab("--help")
    assert result.returncode == 0
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
    from typer.testing import CliRunner

    from voicelab.cli import app

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, [command, str(bomb)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if "bomb.yaml" in line]
    assert lines == [
        f"voicelab: {bomb}: the alias *a3 takes the file past 10,000 YAML nodes with its"
        " aliases expanded (an alias bomb?) (line 5)"
    ]
    assert "Traceback" not in result.stderr
