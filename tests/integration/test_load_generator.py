"""``voicelab load`` against a real in-process voicelab server on the instant providers.

The real command (its worker processes, signed webhooks, Media Streams websockets) places
four calls over two workers; the report must hold what the server saw: four calls held to
the end, no error, replies heard and timed, and four call records on the server's side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from custom_agents import stalling_agent
from helpers import short_greeting_prompts

from voicelab.config import Settings
from voicelab.server.runner import CallServer

pytestmark = pytest.mark.slow  # about 15 s: the calls are held 8 s in real time

ACCOUNT = "AC" + "1" * 32
TOKEN = "load-test-token"


def test_four_callers_on_two_workers_are_held_answered_and_recorded(tmp_path):
    settings = Settings(
        providers="instant",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        recordings_dir=tmp_path / "recordings",
        log_dir=tmp_path / "logs",
        prompts_dir=short_greeting_prompts(tmp_path / "prompts"),
    )
    out = tmp_path / "load.json"
    with CallServer(settings) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "voicelab",
                "load",
                f"{server.url}/",
                "--calls",
                "4",
                "--workers",
                "2",
                "--duration",
                "8",
                "--json",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN},
        )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    assert report["held"] == 4 and report["errors"] == {}
    assert report["answered"] >= 1 and report["v2v_p50_s"] is not None
    assert report["v2v_p50_s"] > 0  # the reply came after the line, not over it
    assert report["frames"] >= 4 * 7 * 50  # every caller streamed (most of) its 8 s
    assert [u["callers"] for u in report["usage"]] == [2, 2]
    assert "4 of 4 (8 s each)" in result.stdout
    assert TOKEN not in result.stdout + out.read_text()
    # The server recorded the four calls, each signed and streamed to its end.
    manifests = [json.loads(p.read_text()) for p in settings.recordings_dir.rglob("call.json")]
    assert len(manifests) == 4
    assert all(m.get("end_reason") for m in manifests)


def load_report(server_url: str, out: Path) -> dict:
    """One load caller for 8 s against ``server_url``: its report."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "voicelab", "load", f"{server_url}/", "--calls", "1"),
            *("--workers", "1", "--duration", "8", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN},
    )
    assert out.exists(), result.stdout + result.stderr
    return json.loads(out.read_text())


def test_a_stalled_server_loop_is_heard_only_without_a_playout_lead(tmp_path):
    # The server's loop blocks 100 ms every 0.3 s while the bot speaks (custom_agents.
    # LoopStall). Sent at pipecat's pace (one chunk ahead), each stall is a gap the
    # caller hears; with 400 ms queued at the far end, none is.
    reports = {}
    for lead_ms in (0, 400):
        settings = Settings(
            providers="instant",
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
            recordings_dir=tmp_path / f"rec{lead_ms}",
            log_dir=tmp_path / f"logs{lead_ms}",
            playout_lead_ms=lead_ms,
        )
        with CallServer(settings, agent=stalling_agent) as server:
            reports[lead_ms] = load_report(server.url, tmp_path / f"load{lead_ms}.json")
    for report in reports.values():
        assert report["held"] == 1 and report["errors"] == {}
        assert report["answered"] >= 1  # the greeting and replies were heard
    assert reports[0]["underruns"] >= 3
    assert reports[400]["underruns"] == 0
