"""Test helpers: run any ASGI app on 127.0.0.1 in a thread, over real sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


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
