"""Hypothesis-generated hostile Media Streams sessions, played against a running server.

Shared by ``tests/fuzz/test_media_fuzz.py`` (bounded, for CI) and
``bench/bench_fuzz_neighbour.py`` (a good call's latency beside the fuzzer vs alone).

A session is one websocket to ``/ws`` (upgrade correctly signed: the attacker holds one
captured signature) of one kind:

- ``raw``: anything at all from the first message (media before ``start``, garbage,
  binary frames, Twilio-shaped messages with wrong types, nothing at all).
- ``forged``: a proper ``connected`` + ``start`` for a CallSid Twilio never announced, with a
  missing, random or token-shaped ``stream_token``: refused before any record exists.
- ``authentic``: a real call (its webhook was served and its token is right) whose media
  stream then sends junk, floods or oversized messages: the serializer must cope, and the
  call's record must still be complete.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from voicelab.config import Settings, secret_value
from voicelab.network import LocalNetwork

__all__ = [
    "KINDS",
    "BackgroundNetwork",
    "FuzzSession",
    "Outcome",
    "play_session",
    "sessions",
]

T = TypeVar("T")
ACCOUNT = "AC" + "f" * 32
LINGER_S = 0.3  # how long a session waits for the server's answer before leaving


@dataclass(frozen=True)
class FuzzSession:
    """One hostile websocket session (see the module docstring for the kinds)."""

    kind: str
    messages: list[str | bytes]
    flood: int = 0
    token: str | None = None  # forged sessions: what they pass off as the token


@dataclass
class Outcome:
    """What happened to one session."""

    kind: str
    call_sid: str
    close_code: int | None = None
    http_status: int | None = None
    errors: list[str] = field(default_factory=list)


# --- strategies -------------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_events = st.sampled_from(
    ["media", "dtmf", "mark", "stop", "start", "connected", "clear"]
) | st.text(max_size=12)
_payloads = (
    st.binary(min_size=0, max_size=12_000).map(lambda b: base64.b64encode(b).decode())
    | st.text(max_size=64)
    | _json
)


def _twilio_shaped(stream_sid: str) -> st.SearchStrategy[str]:
    media = st.fixed_dictionaries(
        {},
        optional={
            "payload": _payloads,
            "track": _json,
            "chunk": _json,
            "timestamp": _json,
        },
    )
    message = st.fixed_dictionaries(
        {"event": _events | _json},
        optional={
            "media": media | _json,
            "dtmf": st.fixed_dictionaries({}, optional={"digit": st.text(max_size=3) | _json}),
            "mark": st.fixed_dictionaries({}, optional={"name": _json}),
            "start": _json,
            "streamSid": st.just(stream_sid) | _json,
            "sequenceNumber": _json,
        },
    )
    return message.map(json.dumps)


def _good_media(stream_sid: str) -> st.SearchStrategy[str]:
    return st.binary(min_size=160, max_size=160).map(
        lambda b: json.dumps(
            {
                "event": "media",
                "streamSid": stream_sid,
                "media": {"track": "inbound", "payload": base64.b64encode(b).decode()},
            }
        )
    )


def _messages(stream_sid: str) -> st.SearchStrategy[list[str | bytes]]:
    one = st.one_of(
        _twilio_shaped(stream_sid),
        _good_media(stream_sid),
        _json.map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.integers(65 * 1024, 160 * 1024).map(lambda n: "x" * n),  # over the size limit
    )
    return st.lists(one, max_size=20)


KINDS = ("raw", "raw", "forged", "forged", "authentic")


@st.composite
def sessions(
    draw: st.DrawFn, stream_sid: str = "MZ" + "0" * 32, kinds: tuple[str, ...] = KINDS
) -> FuzzSession:
    """Any hostile session, of one of ``kinds`` (repeats weigh)."""
    kind = draw(st.sampled_from(kinds))
    messages = draw(_messages(stream_sid))
    flood = draw(st.sampled_from([0, 0, 0, 200, 1500]))
    token_shaped = st.binary(min_size=32, max_size=32).map(
        lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    )
    token = draw(st.none() | st.text(max_size=60) | token_shaped)
    return FuzzSession(kind=kind, messages=messages, flood=flood, token=token)


# --- playing a session ------------------------------------------------------------------------


def _start(call_sid: str, stream_sid: str, token: str | None) -> str:
    params: dict[str, str] = {"direction": "inbound", "from_number": "+15557770000"}
    if token is not None:
        params["stream_token"] = token
    start = {
        "streamSid": stream_sid,
        "accountSid": ACCOUNT,
        "callSid": call_sid,
        "tracks": ["inbound"],
        "customParameters": params,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    return json.dumps({"event": "start", "sequenceNumber": "1", "start": start})


_CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
_SILENCE = base64.b64encode(b"\xff" * 160).decode()


async def _webhook_token(client: httpx.AsyncClient, url: str, auth: str, call_sid: str) -> str:
    form = {"CallSid": call_sid, "From": "+15557770000", "To": "+15550001111"}
    signature = RequestValidator(auth).compute_signature(url + "/", form)
    response = await client.post(url + "/", data=form, headers={"X-Twilio-Signature": signature})
    response.raise_for_status()
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None, response.text
    return next(p.get("value") or "" for p in stream if p.get("name") == "stream_token")


async def play_session(session: FuzzSession, server_url: str, auth_token: str) -> Outcome:
    """Play ``session`` against the server; what happened (never raises for the server's no)."""
    call_sid, stream_sid = "CA" + uuid.uuid4().hex, "MZ" + uuid.uuid4().hex
    outcome = Outcome(session.kind, call_sid)
    ws_url = server_url.replace("http://", "ws://") + "/ws"
    headers = {"X-Twilio-Signature": RequestValidator(auth_token).compute_signature(ws_url, {})}
    async with httpx.AsyncClient(timeout=10) as client:
        token = session.token
        if session.kind == "authentic":
            token = await _webhook_token(client, server_url, auth_token, call_sid)
        try:
            async with connect(
                ws_url, additional_headers=headers, max_size=None, open_timeout=10, close_timeout=2
            ) as ws:
                with contextlib.suppress(ConnectionClosed):
                    if session.kind != "raw":
                        await ws.send(_CONNECTED)
                        await ws.send(_start(call_sid, stream_sid, token))
                    for message in session.messages:
                        await ws.send(message)
                    media = {"track": "inbound", "payload": _SILENCE}
                    flood = json.dumps({"event": "media", "streamSid": stream_sid, "media": media})
                    for _ in range(session.flood):
                        await ws.send(flood)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(LINGER_S):
                            async for _ in ws:  # the bot's audio, until the server closes
                                pass
                outcome.close_code = ws.close_code
        except InvalidStatus as exc:
            outcome.http_status = exc.response.status_code
        health = await client.get(server_url + "/health")
        if health.status_code != 200:
            outcome.errors.append(f"/health answered {health.status_code} after the session")
    return outcome


# --- a network on its own loop ----------------------------------------------------------------


class BackgroundNetwork:
    """A :class:`LocalNetwork` (server + carrier) on an event loop of its own thread.

    The good calls run there; fuzz sessions come from the caller's thread, each in an
    ``asyncio.run`` of its own, so both sides share nothing but the server.

    Args:
        settings: Server settings (the carrier's credentials are filled in).
    """

    def __init__(self, settings: Settings) -> None:
        self.network = LocalNetwork(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coro`` on the network's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    @property
    def server_url(self) -> str:
        assert self.network.server_url is not None
        return self.network.server_url

    @property
    def auth_token(self) -> str:
        assert self.network.server is not None
        token = secret_value(self.network.server.settings.twilio_auth_token)
        assert token is not None
        return token

    def __enter__(self) -> BackgroundNetwork:
        self._thread.start()
        self.submit(self.network.start()).result(120)
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.submit(self.network.stop()).result(60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
