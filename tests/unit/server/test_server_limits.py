"""Slow and oversized clients against the real server (CallServer: the real uvicorn config).

Raw sockets on 127.0.0.1, with ``VOICELAB_REQUEST_TIMEOUT`` at 0.5 s: a request head or body
that does not arrive in time is cut off, a head or body over its limit is refused, and
webhooks, kept-alive connections and the media websocket still work. Each refusal has a
test that fails without it (uvicorn alone holds such clients for ever).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from voicelab.config import Settings
from voicelab.server._http import MAX_BODY_BYTES, MAX_HEAD_BYTES, RequestLimits
from voicelab.server.runner import CallServer
from voicelab.telephony.media import TwilioStreamMessages

TIMEOUT = 0.5  # VOICELAB_REQUEST_TIMEOUT in these tests (short: most tests wait it out)
CUT_OFF_WITHIN = TIMEOUT + 4  # what "cut off" means here: closed before this, generously
FORM = urlencode({"CallSid": "CA" + "a" * 32, "From": "+15557770000", "To": "+15550001111"})


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[CallServer]:
    root = tmp_path_factory.mktemp("limits")
    settings = Settings(
        providers="instant",  # no models but the turn ones: this module tests the HTTP front door
        recordings_dir=root,
        log_dir=root / "logs",
        request_timeout=TIMEOUT,
    )
    with CallServer(settings) as running:
        yield running


def post(body: str | bytes = FORM, path: str = "/", headers: str = "") -> bytes:
    """A webhook-style POST, head and body, as bytes."""
    payload = body.encode() if isinstance(body, str) else body
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(payload)}\r\n{headers}\r\n"
    ).encode() + payload


def open_socket(server: CallServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port or 0), timeout=5)


def send(sock: socket.socket, data: bytes) -> bool:
    """Send ``data``; ``False`` if the server had closed the connection already."""
    try:
        sock.sendall(data)
        return True
    except OSError:  # broken pipe / reset: the server stopped listening to us
        return False


def read_until_closed(
    sock: socket.socket, seconds: float, trickle: bytes = b""
) -> tuple[bool, bytes]:
    """Read until the server closes the connection or ``seconds`` pass; returns (closed, data).

    With ``trickle``, sends it every 0.2 s meanwhile (a slow client that never stops).
    """
    deadline = time.monotonic() + seconds
    received = b""
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            if trickle and not send(sock, trickle):
                return True, received
            continue
        except ConnectionResetError:
            return True, received
        if not data:
            return True, received
        received += data
    return False, received


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from a kept-alive connection."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.parametrize(
    ("first", "trickle"),
    [
        (b"", b""),  # connects, sends nothing
        (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b""),  # half a head, then silence
        (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b"a"),  # a byte every 0.2 s
    ],
    ids=["nothing", "half-a-head", "a-byte-at-a-time"],
)
def test_a_request_head_not_in_on_time_is_cut_off(server, first, trickle):
    with open_socket(server) as sock:
        assert send(sock, first)
        closed, received = read_until_closed(sock, CUT_OFF_WITHIN, trickle)
    assert closed, "the server still holds a connection whose head never came"
    assert received == b""  # nothing was served


def test_the_next_head_on_a_kept_alive_connection_has_a_deadline_too(server):
    with open_socket(server) as sock:
        assert send(sock, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert send(sock, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed, received = read_until_closed(sock, CUT_OFF_WITHIN, trickle=b"a")
    assert closed and received == b""


@pytest.mark.parametrize(
    "headers",
    [
        f"X-Big: {'a' * (1 << 20)}\r\n",  # one 1 MB header
        "".join(f"X-{i}: {i}\r\n" for i in range(5000)),  # 5,000 headers (~50 KB)
        f"X-Big: {'a' * (MAX_HEAD_BYTES + 1024)}\r\n",  # just over the limit, likely one read
    ],
    ids=["one-1MB-header", "5000-headers", "just-over-the-limit"],
)
def test_an_oversized_request_head_is_refused(server, headers):
    with open_socket(server) as sock:
        send(sock, post(headers=headers))  # the server may hang up before it is all sent
        closed, received = read_until_closed(sock, CUT_OFF_WITHIN)
    assert closed
    # 431 (a whole head, parsed), 400 (h11 stopped buffering one), or just closed: never 200.
    assert received == b"" or received.split(b" ")[1] in (b"400", b"431"), received[:100]


def test_a_body_sent_at_a_trickle_is_cut_off(server):
    head = post(body=b"x" * 1000)[:-1000]  # Content-Length 1000, then a byte every 0.2 s
    with open_socket(server) as sock:
        assert send(sock, head)
        closed, received = read_until_closed(sock, CUT_OFF_WITHIN, trickle=b"x")
    assert closed, "the server still reads a body that never ends"
    assert received.startswith(b"HTTP/1.1 408"), received[:100]
    assert received.endswith(b'{"detail": "Request body not received in time"}')  # as the app's


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_body_is_refused(server, declared):
    big = b"a=" + b"x" * MAX_BODY_BYTES
    if declared:
        request = post(body=big)[: -len(big)]  # the head alone announces it: refused at once
    else:
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(big[i : i + 8192]), big[i : i + 8192])
            for i in range(0, len(big), 8192)
        )
        request = (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" + chunks + b"0\r\n\r\n"
        )
    with open_socket(server) as sock:
        send(sock, request)
        closed, received = read_until_closed(sock, CUT_OFF_WITHIN)
    assert closed
    assert received.startswith(b"HTTP/1.1 413"), received[:100]


def test_webhooks_and_kept_alive_connections_still_work(server):
    # A head just under the limit is served; an idle kept-alive connection (longer than the
    # request timeout) is not cut by it: uvicorn's keep-alive timeout governs idle ones.
    roomy = f"X-Roomy: {'a' * (MAX_HEAD_BYTES - 1024)}\r\n"
    with open_socket(server) as sock:
        assert send(sock, post(headers=roomy))
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(TIMEOUT * 1.5)
        assert send(sock, post())
        head = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"application/xml" in head  # the TwiML, from the app itself


def test_a_call_websocket_outlives_the_request_timeout(server):
    """The media stream's upgrade has no deadline left: idle past both timeouts, it is served."""

    async def stream() -> tuple[int | None, str]:
        url = server.url.replace("http://", "ws://") + "/ws"
        async with connect(url, open_timeout=5) as ws:
            await asyncio.sleep(TIMEOUT * 2.5)
            messages = TwilioStreamMessages(
                stream_sid="MZ" + "b" * 32, call_sid="CA" + "b" * 32, account_sid="AC" + "b" * 32
            )
            await ws.send(messages.connected())
            await ws.send(messages.start({}))  # no stream token: the app refuses it, 1008
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as exc:
                return (exc.rcvd.code if exc.rcvd else None), (exc.rcvd.reason if exc.rcvd else "")
        return None, ""

    code, reason = asyncio.run(stream())
    assert (code, reason) == (1008, "invalid or expired stream token")  # the app's verdict


def test_an_oversized_websocket_upgrade_head_is_refused_before_the_app():
    """The websocket path of RequestLimits, as ASGI: closed before accept (HTTP 403)."""
    reached: list[str] = []
    sent: list[dict] = []

    async def app(scope, receive, send):  # must not run
        reached.append(scope["type"])

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "headers": [(b"x-big", b"a" * MAX_HEAD_BYTES)],
    }
    asyncio.run(RequestLimits(app, body_timeout=TIMEOUT)(scope, receive, send))
    assert reached == []
    assert sent == [{"type": "websocket.close", "code": 1008}]
