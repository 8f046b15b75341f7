"""Test helpers: run any ASGI app on 127.0.0.1 in a thread, over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from click.testing import Result


@contextmanager
def serve_app(app: object) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))  # type: ignore[arg-type]

    def run() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def stream_token(server_url: str, call_sid: str, auth_token: str | None = None) -> str:
    """The one-time stream token the server's TwiML gives ``call_sid`` (as Twilio would fetch it).

    A test that opens the media websocket itself, without the carrier, needs it in the
    ``start`` message's ``customParameters`` (``stream_token``).
    """
    import xml.etree.ElementTree as ET

    import httpx
    from twilio.request_validator import RequestValidator

    url = server_url + "/"
    form = {"CallSid": call_sid, "From": "+15557770000", "To": "+15550001111"}
    headers = {}
    if auth_token:
        headers["X-Twilio-Signature"] = RequestValidator(auth_token).compute_signature(url, form)
    response = httpx.post(url, data=form, headers=headers)
    response.raise_for_status()
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None, response.text
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    token = params.get("stream_token")
    assert token, "the TwiML carries no stream_token"
    return token


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """``voicelab ARGS`` run in-process (Typer's ``CliRunner``), ``env`` set meanwhile.

    A process of its own costs seconds (interpreter, imports); an exception that escapes a
    command is exit code 1 with ``result.exception`` set, as a traceback would be.
    """
    from typer.testing import CliRunner

    from voicelab.cli import app

    return CliRunner().invoke(app, list(args), env=env)


def assert_exit_2(result: Result) -> None:
    """Exit code 2 from the CLI's own one-line path, not an exception that escaped."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr


# For a pytest run inside a test (pytester): its pytest-asyncio warns that the run's project sets
# no asyncio_default_fixture_loop_scope, and the warning would surface in this run.
QUIET_ASYNCIO = ("-W", "ignore:The configuration option:pytest.PytestDeprecationWarning")


SHORT_GREETING = "Compass Group, hello."


def short_greeting_prompts(directory: Path, greeting: str = SHORT_GREETING) -> Path:
    """The reference personas with a short greeting, written to ``directory`` (returned).

    For calls that test mechanisms, not the greeting: with the instant TTS the reference
    greeting is about 3 s of every call, this one under half a second.
    """
    import re

    from voicelab.defaults import personas_dir

    directory.mkdir(parents=True, exist_ok=True)
    for persona in personas_dir().glob("*.md"):
        line = f"greeting: {greeting}"
        text = re.sub(r"^greeting: .*$", line, persona.read_text(), count=1, flags=re.M)
        assert greeting in text, f"{persona} has no greeting line"
        (directory / persona.name).write_text(text)
    return directory


def read_events(directory: Path) -> list[dict[str, Any]]:
    """Every event of a call directory, in file order."""
    lines = (directory / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def wait_for_record(directory: Path, timeout: float = 15.0) -> None:
    """Wait until the server has written its ``call.ended`` (its record's last line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (directory / "events.jsonl").exists() and any(
            e["type"] == "call.ended" and e["source"] == "server" for e in read_events(directory)
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"the server never recorded call.ended in {directory}")


def assert_record_complete(
    directory: Path, end_reason: str | None = None, *, wav: bool = True
) -> dict[str, Any]:
    """Check a call directory is a complete record; returns its manifest.

    Complete: ``call.json`` parses and has an ``end_reason`` (``end_reason`` if given);
    every line of ``events.jsonl`` parses and the server's ``call.ended`` carries that
    reason, with nothing of the call after it (Twilio's status callbacks may still
    arrive); with ``wav``, the manifest names a stereo WAV that opens and holds audio.
    """
    import soundfile as sf

    manifest = json.loads((directory / "call.json").read_text())
    assert manifest.get("end_reason"), f"call.json has no end_reason: {manifest}"
    if end_reason is not None:
        assert manifest["end_reason"] == end_reason, manifest
    server = [e for e in read_events(directory) if e["source"] == "server"]
    ended = [i for i, e in enumerate(server) if e["type"] == "call.ended"]
    assert len(ended) == 1, f"{len(ended)} server call.ended events"
    assert server[ended[0]]["data"]["reason"] == manifest["end_reason"]
    after = [e["type"] for e in server[ended[0] + 1 :] if e["type"] != "twilio.status"]
    assert not after, f"server events after call.ended: {after}"
    if wav:
        assert manifest.get("recording"), f"call.json names no recording: {manifest}"
        info = sf.info(directory / manifest["recording"])
        assert info.channels == 2 and info.frames > 0, info
    return manifest
