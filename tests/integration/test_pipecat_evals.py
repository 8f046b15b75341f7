"""A pipecat eval file runs unchanged with ``voicelab simulate`` against the reference agent.

Real calls on the ``scripted`` providers (Whisper hears the caller, the scripted LLM answers
and calls the reference agent's functions, Piper speaks): the caller says each ``user:``
line over the emulated phone line, and the ``expect:`` items are checked on what the call
recorded. A met file exits 0, a failed expectation exits 1, as for voicelab's own scenarios.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Written from pipecat's documentation of its eval format, nothing voicelab-specific.
MET = """\
name: reference
scenarios:
  - name: goodbye
    turns:
      - expect:
          - event: response
            text_contains: "Compass Group"
      - user: "Thank you, goodbye."
        expect:
          - event: function_call
            calls:
              - name: end_call
          - event: response
            text_contains: "wonderful day"
            within_ms: 15000
"""

UNMET = """\
name: reference
scenarios:
  - name: zebra
    turns:
      - user: "Thank you, goodbye."
        expect:
          - event: response
            text_contains: "zebra crossing"
"""


def simulate(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VOICELAB_RECORDINGS_DIR": str(tmp_path / "rec"),
        "VOICELAB_LOG_DIR": str(tmp_path / "logs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "voicelab", "simulate", str(path), "--providers", "scripted"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


@pytest.mark.timeout(300)
def test_a_pipecat_script_runs_on_the_phone_line_and_its_checks_pass(tmp_path: Path) -> None:
    path = tmp_path / "reference.yaml"
    path.write_text(MET, encoding="utf-8")
    result = simulate(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reference.goodbye" in result.stdout
    # turn 0 contains, turn 1 calls, contains and latency, and the call's outcome
    assert "5 of 5 passed" in result.stdout, result.stdout
    (record,) = (tmp_path / "rec").rglob("call.json")
    scenario = json.loads(record.read_text(encoding="utf-8"))["scenario"]
    assert scenario["id"] == "reference.goodbye"
    assert scenario["expectations"] == [
        {"turn": 0, "contains": ["Compass Group"]},
        {"turn": 1, "calls": [{"name": "end_call"}]},
        {"turn": 1, "contains": ["wonderful day"], "max_latency_s": 15.0},
    ]


@pytest.mark.timeout(300)
def test_a_failed_pipecat_expectation_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "unmet.yaml"
    path.write_text(UNMET, encoding="utf-8")
    result = simulate(path, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED turn 1 contains: lacks 'zebra crossing'" in result.stdout, result.stdout
