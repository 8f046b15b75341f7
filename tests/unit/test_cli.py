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
