"""Call records that are valid while the call runs and complete after it, over real sockets.

The real server (instant fake STT/TTS, real Silero VAD, real recorder) and the real
Media Streams caller; the carrier for the status-callback flow.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from helpers import stream_token
from twilio.request_validator import RequestValidator

from voicelab.config import Settings
from voicelab.network import LabModels, LocalNetwork
from voicelab.recording.store import find_call_dir
from voicelab.server.runner import CallServer
from voicelab.simulator._script import HangUp, Pause, Say
from voicelab.simulator.caller import CallerResult, MediaStreamsCaller

pytestmark = pytest.mark.slow  # places real-time calls (make check skips them)

ACCOUNT = "AC" + "f" * 32
TOKEN = "records-token"
RECORDINGS: dict[str, Path] = {}  # recordings root of each server run as a subprocess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = Settings(
        providers="instant",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        recordings_dir=tmp_path_factory.mktemp("recordings"),
    )
    with CallServer(settings) as running:
        yield running


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def place_call(server: CallServer | str, actions: list[Any], call_sid: str) -> CallerResult:
    """One call from the Media Streams caller to ``server`` (a CallServer or a base URL)."""
    url = server if isinstance(server, str) else server.url
    root = RECORDINGS[url] if isinstance(server, str) else server.settings.recordings_dir
    ws_url = url.replace("http://", "ws://") + "/ws"
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(ws_url, {})}
    caller = MediaStreamsCaller(actions, recordings_dir=root)
    return asyncio.run(
        caller.run(
            ws_url,
            call_sid=call_sid,
            stream_sid="MZ" + uuid.uuid4().hex,
            account_sid=ACCOUNT,
            custom_parameters={"stream_token": stream_token(url, call_sid, TOKEN)},
            headers=headers,
        )
    )


def events(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]


def server_ended(directory: Path) -> bool:
    return any(e["type"] == "call.ended" and e["source"] == "server" for e in events(directory))


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def loud(path: Path, channel: int) -> bool:
    """Whether the WAV at ``path`` (read as it is now) holds a loud sample on ``channel``."""
    if not path.exists():
        return False
    audio, rate = sf.read(path, always_2d=True)  # opens as a WAV at every moment
    assert rate == 8000 and audio.shape[1] == 2
    return bool(audio.size) and float(np.abs(audio[:, channel]).max()) > 0.2


def test_both_wavs_are_valid_and_hold_audio_while_the_call_runs(server: CallServer) -> None:
    sid = "CA" + uuid.uuid4().hex
    actions = [Say("a tone", tone(1.0)), Pause(4.0), HangUp(0.0)]
    call = threading.Thread(target=place_call, args=(server, actions, sid))
    call.start()
    try:
        root = server.settings.recordings_dir
        wait_for(lambda: find_call_dir(root, sid) is not None)
        directory = find_call_dir(root, sid)
        assert directory is not None

        # The tone the caller said reaches both recordings while the call still runs
        # (it pauses 4 s after it): the server's (caller on the left) and caller.wav.
        wait_for(lambda: any(loud(p, 0) for p in directory.glob("server_*.wav")))
        wait_for(lambda: loud(directory / "caller.wav", 0))
        assert not server_ended(directory) and call.is_alive()
    finally:
        call.join(60)
    assert not call.is_alive()


def test_a_server_killed_mid_call_leaves_a_wav_with_all_but_the_last_moments(
    tmp_path: Path,
) -> None:
    """``voicelab serve`` SIGKILLed during a call: no finally, no atexit, no close."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = tmp_path / "recordings"
    env = {
        **os.environ,
        "VOICELAB_PROVIDERS": "instant",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "VOICELAB_RECORDINGS_DIR": str(root),
        "VOICELAB_LOG_DIR": str(tmp_path / "logs"),
    }
    serve = [sys.executable, "-m", "voicelab", "serve", "--port", str(port)]
    server = subprocess.Popen(serve, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert server.poll() is None, "voicelab serve exited"
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=90)
        sid = "CA" + uuid.uuid4().hex
        RECORDINGS[url] = root
        actions = [Say("a tone", tone(1.0)), Pause(30.0)]
        call = threading.Thread(target=place_call, args=(url, actions, sid), daemon=True)
        call.start()
        wait_for(lambda: find_call_dir(root, sid) is not None)
        directory = find_call_dir(root, sid)
        assert directory is not None
        wait_for(lambda: any(directory.glob("server_*.wav")))
        recording_started = time.monotonic()
        wav = next(directory.glob("server_*.wav"))
        # The caller says its tone after the greeting: wait until it is on disk, then kill.
        wait_for(lambda: loud(wav, 0))
        recorded_s = time.monotonic() - recording_started  # audio the server had taken in
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        call.join(30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == -signal.SIGKILL
    audio, rate = sf.read(wav, always_2d=True)  # opens: the header matches the data
    assert rate == 8000 and audio.shape[1] == 2
    assert audio.shape[0] / rate >= recorded_s - 2.0  # all but the last ~2 s
    assert np.abs(audio[:, 0]).max() > 0.2  # the caller's tone is in it
    assert not server_ended(directory)  # it really was killed mid-call


def test_every_normal_end_leaves_a_complete_record(server: CallServer) -> None:
    root = server.settings.recordings_dir
    for _ in range(3):
        sid = "CA" + uuid.uuid4().hex
        result = place_call(server, [Say("a tone", tone(0.6)), HangUp(0.5)], sid)
        directory = find_call_dir(root, sid)
        assert directory is not None
        # The caller's side is complete when run() returns: no waiting.
        assert result.wav_path == directory / "caller.wav"
        said = sf.info(directory / "caller.wav")
        assert said.channels == 2 and said.frames > 0
        wait_for(lambda d=directory: server_ended(d))  # the server ends a moment later
        manifest = json.loads((directory / "call.json").read_text())
        # call.ended is visible, so call.json is final: never `recording: null`.
        assert manifest["recording"] is not None and manifest["end_reason"]
        recording = sf.info(directory / manifest["recording"])
        assert recording.channels == 2 and recording.duration > 1.0
        server_events = [e for e in events(directory) if e["source"] == "server"]
        assert server_events[-1]["type"] == "call.ended"
        times = [e["t"] for e in server_events]
        assert times == sorted(times)


def test_status_callbacks_use_the_calls_own_record_and_clock(
    tmp_path: Path, lab_models: LabModels
) -> None:
    async def run() -> Any:
        settings = Settings(providers="instant", recordings_dir=tmp_path)
        async with LocalNetwork(settings, models=lab_models) as network:
            return await network.call("+15551230000")

    call = asyncio.run(run())
    assert call.error is None and call.status == "completed" and call.directory is not None
    log = events(call.directory)
    statuses = [e for e in log if e["type"] == "twilio.status"]
    # All of Twilio's progress, from the moment POST /outbound placed the call.
    assert [e["data"]["status"] for e in statuses] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    times = [e["t"] for e in statuses]
    assert times == sorted(times) and times[-1] > 0.5  # real times, not t = 0 each
    started = next(e for e in log if e["type"] == "call.started" and e["source"] == "server")
    # Same clock as the rest of the call: the stream starts after ringing.
    assert times[1] <= started["t"] <= times[-1]
    manifest = json.loads((call.directory / "call.json").read_text())
    assert [h["status"] for h in manifest["status_history"]][-1] == "completed"


def test_a_status_callback_for_an_unknown_call_creates_nothing(server: CallServer) -> None:
    url = server.url + "/status-callback"
    sid = "CA" + uuid.uuid4().hex
    form = {"CallSid": sid, "CallStatus": "completed", "SequenceNumber": "3"}
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}
    response = httpx.post(url, data=form, headers=headers)
    assert response.status_code == 204
    assert find_call_dir(server.settings.recordings_dir, sid) is None


def test_a_status_callback_with_a_made_up_status_is_a_400(server: CallServer) -> None:
    url = server.url + "/status-callback"
    form = {"CallSid": "CA" + uuid.uuid4().hex, "CallStatus": "../../etc"}
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}
    response = httpx.post(url, data=form, headers=headers)
    assert response.status_code == 400 and "CallStatus" in response.json()["detail"]
