"""End-to-end tests of the carrier, driven by the real twilio SDK against a stand-in server.

The stand-in plays the production server's part over HTTP/WS only: a TwiML webhook, a
Media Streams websocket and a status-callback endpoint, each checking Twilio's signature
with the SDK's own ``RequestValidator``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI, Request, Response, WebSocket
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from voicelab._tls import tls_context
from voicelab.errors import TelephonyError
from voicelab.simulator._carrier_answerer import SilentAnswerer
from voicelab.simulator.carrier import Carrier, StreamSession

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"
TWILIO_NUMBER = "+15550002222"
CALLEE = "+15550001111"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]


# --- the twilio SDK pointed at the emulator ----------------------------------------------


class EmulatorHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with ``https://api.twilio.com`` rewritten to the emulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=10)
        self.base_url = base_url
        assert self.session is not None
        self.session.trust_env = False  # no proxy between the test and 127.0.0.1

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        url = url.replace("https://api.twilio.com", self.base_url, 1)
        return super().request(method, url, *args, **kwargs)


def sdk_client(carrier: Carrier, auth_token: str = AUTH_TOKEN) -> Client:
    return Client(ACCOUNT_SID, auth_token, http_client=EmulatorHttpClient(carrier.base_url))


# --- a stand-in for the production server --------------------------------------------------


@dataclass
class Webhook:
    path: str
    params: dict[str, str]
    signature_ok: bool


@dataclass
class StandIn:
    """What the stand-in server saw."""

    base_url: str = ""
    twiml_requests: list[Webhook] = field(default_factory=list)
    callbacks: list[Webhook] = field(default_factory=list)
    upgrades: list[bool] = field(default_factory=list)  # signature valid, per websocket
    messages: list[dict[str, Any]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    close_after_media: int | None = None  # the server hangs up after this many frames

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    def callback_statuses(self) -> list[str]:
        return [hook.params["CallStatus"] for hook in self.callbacks]

    def media(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("event") == "media"]


def stand_in_app(state: StandIn) -> FastAPI:
    validator = RequestValidator(AUTH_TOKEN)
    app = FastAPI()

    async def webhook(request: Request) -> Webhook:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = str(request.url)
        signature = request.headers.get("X-Twilio-Signature", "")
        ok = validator.validate(url, form, signature)
        params = form or dict(request.query_params)
        return Webhook(request.url.path, params, ok)

    def stream_twiml() -> str:
        return (
            "<?xml version='1.0' encoding='UTF-8'?><Response><Connect>"
            f'<Stream url="{state.ws_url}"><Parameter name="persona" value="dentist"/>'
            "</Stream></Connect></Response>"
        )

    @app.api_route("/twiml", methods=["GET", "POST"])
    async def twiml(request: Request) -> Response:
        hook = await webhook(request)
        state.twiml_requests.append(hook)
        if not hook.signature_ok:
            return Response(status_code=403)
        return Response(stream_twiml(), media_type="text/xml")

    @app.api_route("/say", methods=["GET", "POST"])
    async def say(request: Request) -> Response:
        state.twiml_requests.append(await webhook(request))
        return Response("<Response><Say>Bye</Say></Response>", media_type="text/xml")

    @app.post("/forbidden")
    async def forbidden(request: Request) -> Response:
        state.twiml_requests.append(await webhook(request))
        return Response("bad signature", status_code=403)

    @app.post("/status")
    async def status(request: Request) -> Response:
        state.callbacks.append(await webhook(request))
        return Response(status_code=204)

    @app.websocket("/ws")
    async def media(ws: WebSocket) -> None:
        signature = ws.headers.get("x-twilio-signature", "")
        ok = validator.validate(str(ws.url), {}, signature)
        state.upgrades.append(ok)
        if not ok:
            await ws.close(code=1008)
            return
        await ws.accept()
        frames = 0
        while True:
            try:
                message = json.loads(await ws.receive_text())
            except Exception:
                return
            state.messages.append(message)
            if message["event"] == "start":
                state.started.set()
            elif message["event"] == "media":
                frames += 1
                if state.close_after_media is not None and frames >= state.close_after_media:
                    await ws.close()
                    return
            elif message["event"] == "stop":
                return

    return app


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "stand-in server died"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest_asyncio.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    state = StandIn()
    async with serve(stand_in_app(state)) as base_url:
        state.base_url = base_url
        yield state


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


# --- tests -----------------------------------------------------------------------------------


async def test_outbound_call_end_to_end(stand_in: StandIn) -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        client = sdk_client(carrier)
        created = await asyncio.to_thread(
            client.calls.create,
            to=CALLEE,
            from_=TWILIO_NUMBER,
            url=f"{stand_in.base_url}/twiml",
            status_callback=f"{stand_in.base_url}/status",
            status_callback_event=ALL_EVENTS,
        )
        assert created.status == "queued"
        assert created.direction == "outbound-api"
        assert created.sid and created.sid.startswith("CA") and len(created.sid) == 34
        assert created.date_created is not None and created.api_version == "2010-04-01"

        await asyncio.wait_for(stand_in.started.wait(), 10)
        await until(lambda: len(stand_in.media()) >= 5)

        # The TwiML fetch: signed, with Twilio's fields for an answered outbound call.
        (fetch,) = stand_in.twiml_requests
        assert fetch.signature_ok
        assert fetch.params["CallSid"] == created.sid
        assert fetch.params["CallStatus"] == "in-progress"
        assert fetch.params["Direction"] == "outbound-api"
        assert fetch.params["From"] == fetch.params["Caller"] == TWILIO_NUMBER
        assert fetch.params["To"] == fetch.params["Called"] == CALLEE
        assert fetch.params["AccountSid"] == ACCOUNT_SID

        # The websocket: signed upgrade, then connected, start and paced media.
        assert stand_in.upgrades == [True]
        connected, start = stand_in.messages[:2]
        assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        stream_sid = start["streamSid"]
        assert stream_sid.startswith("MZ") and len(stream_sid) == 34
        assert start["sequenceNumber"] == "1"
        assert start["start"] == {
            "streamSid": stream_sid,
            "accountSid": ACCOUNT_SID,
            "callSid": created.sid,
            "tracks": ["inbound"],
            "customParameters": {"persona": "dentist"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        first, second = stand_in.media()[:2]
        assert first["sequenceNumber"] == "2" and first["streamSid"] == stream_sid
        assert first["media"]["chunk"] == "1" and second["media"]["chunk"] == "2"
        assert first["media"]["timestamp"] == "0" and second["media"]["timestamp"] == "20"
        assert base64.b64decode(first["media"]["payload"]) == b"\xff" * 160
        assert carrier.calls[created.sid].stream_sid == stream_sid

        # Hanging up over REST ends the stream with Twilio's stop message.
        updated = await asyncio.to_thread(client.calls(created.sid).update, status="completed")
        assert updated.status == "completed"
        assert await carrier.wait_for_status(created.sid, "completed") == "completed"
        await until(lambda: stand_in.messages[-1]["event"] == "stop")
        assert stand_in.messages[-1]["stop"] == {"accountSid": ACCOUNT_SID, "callSid": created.sid}

        # Status callbacks: every requested event, in order, signed, numbered.
        assert stand_in.callback_statuses() == ["initiated", "ringing", "in-progress", "completed"]
        assert all(hook.signature_ok for hook in stand_in.callbacks)
        assert [hook.params["SequenceNumber"] for hook in stand_in.callbacks] == [
            "0",
            "1",
            "2",
            "3",
        ]
        assert {hook.params["CallbackSource"] for hook in stand_in.callbacks} == {
            "call-progress-events"
        }
        assert "CallDuration" in stand_in.callbacks[-1].params

        fetched = await asyncio.to_thread(client.calls(created.sid).fetch)
        assert fetched.status == "completed"
        assert fetched.duration is not None and int(fetched.duration) >= 0
        assert fetched.start_time is not None and fetched.end_time is not None
        assert carrier.calls[created.sid].status_history == [
            "queued",
            "initiated",
            "ringing",
            "in-progress",
            "completed",
        ]


async def test_wrong_credentials_answer_401() -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        client = sdk_client(carrier, auth_token="wrong")
        with pytest.raises(TwilioRestException) as raised:
            await asyncio.to_thread(
                client.calls.create, to=CALLEE, from_=TWILIO_NUMBER, twiml="<Response/>"
            )
        assert raised.value.status == 401
        assert raised.value.code == 20003

        async with httpx.AsyncClient(base_url=carrier.base_url, trust_env=False) as http:
            response = await http.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/CAx.json")
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
        assert carrier.calls == {}


async def test_unknown_call_answers_404() -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        client = sdk_client(carrier)
        with pytest.raises(TwilioRestException) as raised:
            await asyncio.to_thread(client.calls("CA" + "f" * 32).fetch)
        assert raised.value.status == 404
        assert raised.value.code == 20404


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": TWILIO_NUMBER, "Url": "http://x.test/t"}, 21201),
        ({"To": CALLEE, "Url": "http://x.test/t"}, 21213),
        ({"To": "5550001111", "From": TWILIO_NUMBER, "Url": "http://x.test/t"}, 21211),
        ({"To": CALLEE, "From": "bob", "Url": "http://x.test/t"}, 21212),
        ({"To": CALLEE, "From": TWILIO_NUMBER}, 21200),
        ({"To": CALLEE, "From": TWILIO_NUMBER, "Url": "not a url"}, 21205),
        ({"To": CALLEE, "From": TWILIO_NUMBER, "Twiml": "<Response>"}, 21200),
        ({"To": CALLEE, "From": TWILIO_NUMBER, "Url": "http://x.test/t", "Method": "PUT"}, 21200),
        ({"To": CALLEE, "From": TWILIO_NUMBER, "Url": "http://x.test/t", "Timeout": "x"}, 21200),
        (
            {
                "To": CALLEE,
                "From": TWILIO_NUMBER,
                "Url": "http://x.test/t",
                "StatusCallback": "http://x.test/s",
                "StatusCallbackEvent": "hungup",
            },
            21200,
        ),
    ],
)
async def test_create_rejects_bad_forms(fields: dict[str, str], code: int) -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        async with httpx.AsyncClient(
            base_url=carrier.base_url,
            auth=(ACCOUNT_SID, AUTH_TOKEN),
            trust_env=False,
            verify=tls_context(trust_env=False),  # http to 127.0.0.1: no CA bundle load
        ) as http:
            response = await http.post(
                f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", data=fields
            )
        assert response.status_code == 400
        assert response.json()["code"] == code
        assert carrier.calls == {}


@pytest.mark.parametrize(
    ("outcome", "history"),
    [
        ("busy", ["queued", "initiated", "busy"]),
        ("no-answer", ["queued", "initiated", "ringing", "no-answer"]),
        ("failed", ["queued", "initiated", "failed"]),
    ],
)
async def test_scripted_destinations(stand_in: StandIn, outcome: str, history: list[str]) -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        carrier.script_destination(CALLEE, outcome)
        created = await asyncio.to_thread(
            sdk_client(carrier).calls.create,
            to=CALLEE,
            from_=TWILIO_NUMBER,
            url=f"{stand_in.base_url}/twiml",
            status_callback=f"{stand_in.base_url}/status",
            status_callback_event=ALL_EVENTS,
        )
        assert await carrier.wait_for_status(created.sid, [outcome]) == outcome
        assert carrier.calls[created.sid].status_history == history
        assert stand_in.callback_statuses() == history[1:]
        assert stand_in.twiml_requests == []
        fetched = await asyncio.to_thread(sdk_client(carrier).calls(created.sid).fetch)
        assert fetched.status == outcome
        with pytest.raises(TelephonyError):
            await carrier.wait_for_status(created.sid, "in-progress")


async def test_forbidden_twiml_fails_the_call(stand_in: StandIn, tmp_path: Path) -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, recordings_root=tmp_path) as carrier:
        created = await asyncio.to_thread(
            sdk_client(carrier).calls.create,
            to=CALLEE,
            from_=TWILIO_NUMBER,
            url=f"{stand_in.base_url}/forbidden",
            status_callback=f"{stand_in.base_url}/status",
        )
        assert await carrier.wait_for_status(created.sid, "failed") == "failed"
    assert stand_in.twiml_requests[0].signature_ok
    assert stand_in.callback_statuses() == ["failed"]  # Twilio's default: completed event only
    assert "403" in carrier.calls[created.sid].errors[0]
    (events_file,) = tmp_path.glob(f"*_{created.sid}/events.jsonl")
    error, hangup = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert (error["source"], error["type"], error["data"]["fatal"]) == ("carrier", "error", True)
    # The callee had answered: the carrier says who ended the call, and how.
    assert (hangup["type"], hangup["data"]) == ("call.hangup", {"by": "carrier", "how": "failed"})


async def test_inbound_ring_until_the_server_hangs_up(stand_in: StandIn) -> None:
    sessions: list[StreamSession] = []

    async def answerer(session: StreamSession) -> None:
        sessions.append(session)
        await SilentAnswerer()(session)

    stand_in.close_after_media = 3
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, answerer) as carrier:
        scenario = object()
        sid = await carrier.ring(
            f"{stand_in.base_url}/twiml",
            to=TWILIO_NUMBER,
            from_=CALLEE,
            status_callback=f"{stand_in.base_url}/status",
            scenario=scenario,
        )
        assert sid.startswith("CA") and len(sid) == 34
        assert await carrier.wait_for_status(sid, "completed", timeout=10) == "completed"
        call = carrier.calls[sid]
        assert call.direction == "inbound"
        assert call.status_history == ["ringing", "in-progress", "completed"]
        assert call.duration_s is not None and call.duration_s > 0

    (incoming,) = stand_in.twiml_requests
    assert incoming.signature_ok
    assert incoming.params["CallStatus"] == "ringing"
    assert incoming.params["Direction"] == "inbound"
    assert incoming.params["From"] == incoming.params["Caller"] == CALLEE
    assert incoming.params["To"] == incoming.params["Called"] == TWILIO_NUMBER
    (session,) = sessions
    assert session.scenario is scenario
    assert session.direction == "inbound" and session.call_sid == sid
    assert session.custom_parameters == {"persona": "dentist"}
    assert stand_in.callback_statuses() == ["completed"]
    assert stand_in.callbacks[0].signature_ok


async def test_redirect_to_twiml_without_stream_ends_the_call(stand_in: StandIn) -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        client = sdk_client(carrier)
        created = await asyncio.to_thread(
            client.calls.create,
            to=CALLEE,
            from_=TWILIO_NUMBER,
            url=f"{stand_in.base_url}/twiml",
            method="GET",
        )
        await asyncio.wait_for(stand_in.started.wait(), 10)
        await asyncio.to_thread(
            client.calls(created.sid).update, url=f"{stand_in.base_url}/say", method="POST"
        )
        assert await carrier.wait_for_status(created.sid, "completed") == "completed"
    first, second = stand_in.twiml_requests
    assert first.signature_ok and first.params["CallSid"] == created.sid  # GET: query signed
    assert second.path == "/say" and second.signature_ok
    assert stand_in.messages[-1]["event"] == "stop"


async def test_scenarios_reach_the_answerer() -> None:
    seen: list[Any] = []

    async def answerer(session: StreamSession) -> None:
        seen.append(session.scenario)

    twiml = '<Response><Connect><Stream url="ws://127.0.0.1:9/ws"/></Connect><Hangup/></Response>'
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, answerer) as carrier:
        carrier.script_destination(CALLEE, scenario="default")
        carrier.place_hint(CALLEE, "hinted")
        client = sdk_client(carrier)
        for _ in range(2):
            created = await asyncio.to_thread(
                client.calls.create, to=CALLEE, from_=TWILIO_NUMBER, twiml=twiml
            )
            await carrier.wait_for_status(created.sid, "completed")
    assert seen == ["hinted", "default"]
