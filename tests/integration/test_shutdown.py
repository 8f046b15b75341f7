"""SIGTERM with a call in flight: the call ends with reason ``shutdown`` and a complete record.

The server runs in a subprocess (``voicelab serve``, a script with ``CallServer``, a script
with ``Lab``); the carrier and the caller run here (or, for ``Lab``, in the subprocess too).
SIGTERM arrives while the bot is greeting the caller.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from helpers import assert_record_complete, read_events

from voicelab.config import Settings
from voicelab.network import LocalNetwork
from voicelab.simulator.scenario import load_scenario

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "evals" / "scenarios" / "cold_food.yaml"
ACCOUNT = "AC" + "5" * 32
TOKEN = "shutdown-test-token"

CALL_SERVER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from voicelab.config import load_settings
    from voicelab.server.runner import CallServer

    server = CallServer(load_settings(), port=int(sys.argv[1])).start()
    print("ready", flush=True)
    while True:
        time.sleep(0.5)
    """
)

LAB_SCRIPT = textwrap.dedent(
    """
    import sys
    from voicelab import Lab

    lab = Lab(providers="scripted", recordings_dir=sys.argv[1], log_dir=sys.argv[2]).start()
    print("ready", flush=True)
    lab.simulate(sys.argv[3])
    print("the call ended before SIGTERM", flush=True)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICELAB_", "TWILIO_"))}
    env.update(
        ORT_DISABLE_TELEMETRY="1",
        HF_HUB_OFFLINE="1",
        VOICELAB_PROVIDERS="scripted",
        VOICELAB_RECORDINGS_DIR=str(tmp_path / "rec"),
        VOICELAB_LOG_DIR=str(tmp_path / "logs"),
        **extra,
    )
    return env


def wait_mid_call(root: Path, proc: subprocess.Popen[bytes], timeout: float = 90) -> Path:
    """The call directory, once the bot is speaking (its greeting takes ~9 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited before the call"
        for events in root.glob("*/events.jsonl"):
            log = read_events(events.parent)
            if any(e["source"] == "server" and e["type"] == "bot.speech_started" for e in log):
                return events.parent
        time.sleep(0.1)
    raise AssertionError("no call got as far as the bot speaking")


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(url + "/health", timeout=2).json()["status"] == "ready":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server never became ready")


def assert_shut_down(proc: subprocess.Popen[bytes], directory: Path) -> None:
    # The process ended as SIGTERM ends it (the signal was re-raised after the stop).
    assert proc.wait(60) == -signal.SIGTERM
    manifest = assert_record_complete(directory, "shutdown")
    log = [e for e in read_events(directory) if e["source"] == "server"]
    stopped = [e for e in log if e["type"] == "bot.speech_stopped"]
    assert stopped and stopped[-1]["data"].get("cut_off"), "the greeting was cut off"
    assert manifest["recording"]


@pytest.mark.parametrize("how", ["voicelab serve", "CallServer"])
def test_sigterm_ends_a_live_call_of_a_server_process_with_a_complete_record(tmp_path, how):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        providers="scripted",
        recordings_dir=tmp_path / "rec",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
    )

    async def run() -> None:
        async with LocalNetwork(settings, server_url=url) as network:
            assert network.carrier is not None
            env = child_env(
                tmp_path,
                TWILIO_ACCOUNT_SID=ACCOUNT,
                TWILIO_AUTH_TOKEN=TOKEN,
                VOICELAB_TWILIO_API_BASE=network.carrier.base_url,
            )
            if how == "voicelab serve":
                command = [str(Path(sys.executable).parent / "voicelab"), "serve"]
                command += ["--port", str(port)]
            else:
                command = [sys.executable, "-c", CALL_SERVER_SCRIPT, str(port)]
            proc = subprocess.Popen(command, env=env, cwd=tmp_path)
            try:
                await asyncio.to_thread(wait_ready, url, proc)
                call = asyncio.create_task(network.simulate(load_scenario(SCENARIO)))
                directory = await asyncio.to_thread(wait_mid_call, tmp_path / "rec", proc)
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(call, 60)  # the caller hears the line go dead
                await asyncio.to_thread(assert_shut_down, proc, directory)
            finally:
                if proc.poll() is None:
                    proc.kill()

    asyncio.run(run())


def test_sigterm_ends_a_live_call_of_a_lab_process_with_a_complete_record(tmp_path):
    root = tmp_path / "rec"
    command = [sys.executable, "-c", LAB_SCRIPT, str(root), str(tmp_path / "logs"), str(SCENARIO)]
    proc = subprocess.Popen(command, env=child_env(tmp_path), cwd=tmp_path)
    try:
        directory = wait_mid_call(root, proc, timeout=180)
        proc.send_signal(signal.SIGTERM)
        assert_shut_down(proc, directory)
    finally:
        if proc.poll() is None:
            proc.kill()
