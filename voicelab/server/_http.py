"""How the call server is served: uvicorn's configuration, with limits on slow or big clients.

The one home of the server's uvicorn configuration: ``voicelab serve`` and
:class:`~voicelab.server.runner.CallServer` both build it with :func:`uvicorn_config`, so
their security settings cannot drift apart. A client gets:

* :data:`MAX_HEAD_BYTES` for a request's head (request line and headers, which also bounds
  how many headers): h11 stops buffering an incomplete head past it (400, connection closed)
  and :class:`RequestLimits` answers a complete one 431, so no larger head is ever served;
* ``VOICELAB_REQUEST_TIMEOUT`` seconds to send that head, from the connection (or, on a kept-
  alive connection, from the next request's first byte); then the connection is closed
  (:class:`HeadTimeoutProtocol`);
* :data:`MAX_BODY_BYTES` for a request's body (413) and ``VOICELAB_REQUEST_TIMEOUT`` seconds,
  again, to send it once its head is in (408); both answers close the connection.

uvicorn (0.55) has no timeout of its own while a request arrives (its keep-alive timer runs
only between requests) and its default parser, httptools, buffers a head of any size; h11,
the parser here, bounds an incomplete one. A websocket's messages are not a body: once the
media stream's upgrade is in, none of these timeouts applies to the call (its messages have
their own limit, ``VOICELAB_WS_MAX_MESSAGE_BYTES``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from loguru import logger
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from voicelab.config import Settings
from voicelab.server.app import SHUTDOWN_GRACE_S

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "UVICORN_GRACE_S",
    "HeadTimeoutProtocol",
    "RequestLimits",
    "ServerConfig",
    "uvicorn_config",
]

# A Twilio webhook's head is under 2 KiB (a tunnel or proxy adds a few headers); 16 KiB is
# what Node.js allows by default and h11's own default, and it leaves no room for thousands
# of headers (each takes at least 4 bytes).
MAX_HEAD_BYTES = 16 * 1024
# The largest body the server has to read is a webhook's form (Twilio's: about 1-2 KiB) or an
# /outbound JSON body (two phone numbers); 64 KiB is room to spare, not a place to stream.
MAX_BODY_BYTES = 64 * 1024
# uvicorn's own bound on waiting for connections at shutdown, past the calls' grace period.
UVICORN_GRACE_S = int(SHUTDOWN_GRACE_S) + 5


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, carrying the request timeout to :class:`HeadTimeoutProtocol`.

    Args:
        app: The ASGI app.
        request_timeout: Seconds a client has to send a request's head.
        **options: uvicorn's own options.
    """

    def __init__(self, app: Any, *, request_timeout: float, **options: Any) -> None:
        self.request_timeout = request_timeout
        super().__init__(app, **options)


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is not in on time.

    The deadline starts when the connection is made and, on a kept-alive connection, with
    the first byte of each next request (until then uvicorn's keep-alive timeout governs the
    idle connection). It ends as soon as h11 has the whole head: a websocket upgrade hands
    the connection over with no deadline left, and a body is :class:`RequestLimits`'s to time.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, ServerConfig), "built by uvicorn_config()"
        self._head_timeout = config.request_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._await_head()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_in()  # a request (or an upgrade), or a protocol error that closes

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_in()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_deadline is None:  # a deadline already running belongs to this head
            self._head_deadline = self.loop.call_later(self._head_timeout, self._head_late)

    def _head_in(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_late(self) -> None:
        self._head_deadline = None
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.info(f"{peer}: no complete request head in {self._head_timeout:g} s: closed")
        self.transport.close()


class _BodyTooLarge(Exception):
    """A request body went past :data:`MAX_BODY_BYTES` (never leaves this module)."""


class RequestLimits:
    """Pure ASGI middleware: the head's size, the body's size and the time to read it.

    A head over :data:`MAX_HEAD_BYTES` is answered 431 (a websocket upgrade: refused, 403).
    An HTTP request's body is read whole before the app runs, within ``body_timeout`` seconds
    (else 408) and :data:`MAX_BODY_BYTES` (else 413), then handed to the app as one message;
    the refusals close the connection. Websockets and lifespan pass through untouched.

    Args:
        app: The ASGI app.
        body_timeout: Seconds a request's body may take once its head is in.
    """

    def __init__(self, app: ASGIApp, body_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        size = _head_bytes(scope)
        if size > MAX_HEAD_BYTES:
            # h11 bounds a head still arriving; this catches one that arrived in one read.
            logger.warning(f"{_peer(scope)}: request head of {size} bytes refused")
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # before the upgrade
            else:
                await _refuse(send, 431, "Request header fields too large")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)  # a call: its messages are not a body
            return
        declared = _content_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            logger.warning(f"{_peer(scope)}: request body of {declared} bytes refused")
            await _refuse(send, 413, "Request body too large")
            return
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await _read_body(receive)
        except TimeoutError:
            logger.warning(f"{_peer(scope)}: request body not in after {self.body_timeout:g} s")
            await _refuse(send, 408, "Request body not received in time")
            return
        except _BodyTooLarge:
            logger.warning(f"{_peer(scope)}: request body over {MAX_BODY_BYTES} bytes refused")
            await _refuse(send, 413, "Request body too large")
            return
        if body is None:
            return  # the client went away
        await self.app(scope, _replay(body, receive), send)


def _head_bytes(scope: Scope) -> int:
    """The size of a request's head: request line, headers, blank line (as h11 parsed them)."""
    query = scope.get("query_string") or b""
    target = len(scope.get("raw_path") or b"") + (len(query) + 1 if query else 0)
    request_line = len(scope.get("method", "GET")) + 1 + target + len(" HTTP/1.1\r\n")
    return request_line + sum(len(name) + len(value) + 4 for name, value in scope["headers"]) + 2


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or ``None`` if the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read already, then the client's next events."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(send: Send, status: int, detail: str) -> None:
    """Answer ``status`` as the app's own errors are (JSON with a ``detail``), and close."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of what it sends is not read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 has refused it already
    return None


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "a client"


def uvicorn_config(app: ASGIApp, settings: Settings, **options: Any) -> ServerConfig:
    """The call server's uvicorn configuration: ``options`` plus voicelab's limits.

    Args:
        app: The call server app (wrapped in :class:`RequestLimits` here).
        settings: ``ws_max_message_bytes`` and ``request_timeout``.
        **options: uvicorn's other options (host, port, log level, lifespan); they cannot
            override the limits.
    """
    limits: dict[str, Any] = {
        # h11, not uvicorn's default httptools: it bounds a head still arriving (httptools
        # buffers any size). Measured cost: about 0.2 ms more per webhook, a few per call;
        # after the upgrade the media websocket runs on the same protocol as before.
        "http": HeadTimeoutProtocol,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "ws_max_size": settings.ws_max_message_bytes,
        # X-Forwarded-* are PublicURL's to judge (VOICELAB_TRUSTED_PROXIES), on the real peer.
        "proxy_headers": False,
        "timeout_graceful_shutdown": UVICORN_GRACE_S,
    }
    return ServerConfig(
        RequestLimits(app, body_timeout=settings.request_timeout),
        request_timeout=settings.request_timeout,
        **{**options, **limits},
    )
