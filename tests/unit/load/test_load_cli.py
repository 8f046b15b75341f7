"""``voicelab load``'s bad input: one line on stderr, exit code 2, nothing placed.

In-process (``helpers.run_cli``): ``tests/unit/test_cli.py`` runs ``python -m voicelab`` as a
process of its own for the entry point and its exit code.
"""

from __future__ import annotations

import pytest
from helpers import assert_exit_2, run_cli


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
    result = run_cli("load", *args)
    assert_exit_2(result)
    assert needle in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
