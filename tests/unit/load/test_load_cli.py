"""``voicelab load``'s bad input: one line on stderr, exit code 2, nothing placed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ftp://127.0.0.1/"], "must be http:// or https://"),
        (["127.0.0.1:8765"], "must be http:// or https://"),
        (["http://127.0.0.1:9/", "--calls", "0"], "--calls must be between 1"),
        (["http://127.0.0.1:9/", "--calls", "2", "--workers", "3"], "--workers must be"),
        (["http://127.0.0.1:9/", "--duration", "0"], "--duration > 0"),
        (["http://127.0.0.1:9/", "--ramp", "-1"], "--ramp must be >= 0"),
        (["http://127.0.0.1:9/", "--json", "/nonexistent/r.json"], "no such directory"),
        (["http://127.0.0.1:9/", "--json", "/tmp"], "is a directory"),
        (["http://127.0.0.1:9/", "--wav", "/nonexistent.wav"], "no such WAV file"),
        (["http://127.0.0.1:9/", "--nice", "99"], "--nice must be between -20 and 19"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle):
    result = subprocess.run(
        [sys.executable, "-m", "voicelab", "load", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
