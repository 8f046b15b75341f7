"""Carrier REST semantics and call lifecycle, with inline TwiML and in-process answerers.

No server is involved: calls carry ``Twiml`` and the answerers never open a socket, so these
tests exercise the carrier alone (hang-ups, redirects, time limits, shutdown, REST errors).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from voicelab._tls import tls_context
from voicelab.errors import CarrierError, ConfigError, InvalidArgumentError, NotFoundError
from voicelab.simulator.carrier import Carrier, StreamSession

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "lifecycle-token"
TWILIO_NUMBER = "+15550002222"
CALLEE = "+15550001111"
STREAM_TWIML = '<Response><Connect><Stream url="wss://bot.test/ws"/></Connect></Response>'

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]


class EmulatorHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with ``https://api.twilio.com`` rewritten to the emulator."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=10)
        self.base_url = base_url
        assert self.session is not None
        self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        url = url.replace("https://api.twilio.com", self.base_url, 1)
        return super().request(method, url, *args, **kwargs)


def sdk_client(carrier: Carrier) -> Client:
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=EmulatorHttpClient(carrier.base_url))


def rest(carrier: Carrier) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        trust_env=False,
        verify=tls_context(trust_env=False),  # http to 127.0.0.1: no CA bundle load per test
    )


class HoldingAnswerer:
    """Stays on the line until the carrier hangs up (or forever, if ``deaf``)."""

    def __init__(self, deaf: bool = False, fail: bool = False) -> None:
        self.sessions: list[StreamSession] = []
        self.on_line = asyncio.Event()
        self.deaf = deaf
        self.fail = fail

    async def __call__(self, session: StreamSession) -> None:
        self.sessions.append(session)
        self.on_line.set()
        if self.fail:
            raise ConnectionRefusedError("handshake refused")
        if self.deaf:
            await asyncio.Event().wait()
        await session.hangup.wait()


async def place(carrier: Carrier, **fields: str) -> str:
    form = {"To": CALLEE, "From": TWILIO_NUMBER, "Twiml": STREAM_TWIML, **fields}
    async with rest(carrier) as http:
        response = await http.post("/Calls.json", data=form)
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


async def test_pipecat_style_hangup_and_idempotent_repeat() -> None:
    answerer = HoldingAnswerer()
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, answerer) as carrier:
        sid = await place(carrier)
        await asyncio.wait_for(answerer.on_line.wait(), 5)
        session = answerer.sessions[0]
        assert session.url == "wss://bot.test/ws" and "X-Twilio-Signature" in session.headers
        async with rest(carrier) as http:
            # Status=canceled does not end an answered call on Twilio either.
            ignored = await http.post(f"/Calls/{sid}.json", data={"Status": "canceled"})
            assert ignored.status_code == 200 and ignored.json()["status"] == "in-progress"
            first = await http.post(f"/Calls/{sid}.json", data={"Status": "completed"})
            again = await http.post(f"/Calls/{sid}.json", data={"Status": "completed"})
        assert first.status_code == again.status_code == 200
        assert first.json()["status"] == "completed"
        assert session.hangup.is_set()
        assert await carrier.wait_for_status(sid, "completed") == "completed"
        assert carrier.calls[sid].errors == []


async def test_cancel_while_ringing() -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, HoldingAnswerer()) as carrier:
        carrier.script_destination(CALLEE, ring_s=5)
        sid = await place(carrier)
        await carrier.wait_for_status(sid, "ringing")
        async with rest(carrier) as http:
            redirect = await http.post(f"/Calls/{sid}.json", data={"Twiml": "<Response/>"})
            assert redirect.status_code == 400 and redirect.json()["code"] == 21220
            response = await http.post(f"/Calls/{sid}.json", data={"Status": "canceled"})
        assert response.json()["status"] == "canceled"
        assert await carrier.wait_for_status(sid, ["canceled"], timeout=2) == "canceled"
        assert carrier.calls[sid].status_history == ["queued", "initiated", "ringing", "canceled"]
        assert response.json()["duration"] == "0"


async def test_ringing_past_timeout_is_no_answer() -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, HoldingAnswerer(), ring_s=0.3) as carrier:
        sid = await place(carrier, Timeout="1")
        assert await carrier.wait_for_status(sid, "in-progress") == "in-progress"
        carrier.script_destination(CALLEE, ring_s=2)
        late = await place(carrier, Timeout="1")
        assert await carrier.wait_for_status(late, ["no-answer", "in-progress"]) == "no-answer"


async def test_redirect_with_inline_twiml_replaces_the_stream() -> None:
    answerer = HoldingAnswerer()
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, answerer) as carrier:
        sid = await place(carrier)
        await asyncio.wait_for(answerer.on_line.wait(), 5)
        await asyncio.to_thread(
            sdk_client(carrier).calls(sid).update, twiml="<Response><Say>Bye</Say></Response>"
        )
        assert await carrier.wait_for_status(sid, "completed") == "completed"
        assert answerer.sessions[0].hangup.is_set()


async def test_time_limit_ends_the_call() -> None:
    answerer = HoldingAnswerer()
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, answerer) as carrier:
        sid = await place(carrier, TimeLimit="1")
        assert await carrier.wait_for_status(sid, "completed", timeout=5) == "completed"
        call = carrier.calls[sid]
        assert call.duration_s is not None and 0.9 < call.duration_s < 3
        assert call.to_resource()["duration"] == "1"


async def test_deaf_and_failing_answerers_still_complete() -> None:
    deaf = HoldingAnswerer(deaf=True)
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, deaf, answerer_grace_s=0.1) as carrier:
        sid = await place(carrier)
        await asyncio.wait_for(deaf.on_line.wait(), 5)
        await asyncio.to_thread(sdk_client(carrier).calls(sid).update, status="completed")
        assert await carrier.wait_for_status(sid, "completed", timeout=2) == "completed"

    failing = HoldingAnswerer(fail=True)
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, failing) as carrier:
        sid = await place(carrier)
        assert await carrier.wait_for_status(sid, "completed") == "completed"
        assert "handshake refused" in carrier.calls[sid].errors[0]


async def test_stop_hangs_up_live_calls() -> None:
    answerer = HoldingAnswerer()
    carrier = Carrier(ACCOUNT_SID, AUTH_TOKEN, answerer)
    await carrier.start()
    sid = await place(carrier)
    await asyncio.wait_for(answerer.on_line.wait(), 5)
    await carrier.stop()
    assert carrier.calls[sid].status == "completed"
    assert carrier.calls[sid].status_history[-1] == "completed"
    with pytest.raises(CarrierError, match="only be started once"):
        await carrier.start()


async def test_list_and_rest_errors() -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, HoldingAnswerer()) as carrier:
        carrier.script_destination(CALLEE, "busy")
        sid = await place(carrier)
        await carrier.wait_for_status(sid, "busy")
        client = sdk_client(carrier)
        listed = await asyncio.to_thread(client.calls.list, status="busy")
        assert [call.sid for call in listed] == [sid]
        assert await asyncio.to_thread(client.calls.list, status="completed") == []

        with pytest.raises(TwilioRestException) as raised:
            await asyncio.to_thread(client.calls(sid).update, status="ringing")
        assert raised.value.status == 400

        async with rest(carrier) as http:
            nothing = await http.post(f"/Calls/{sid}.json", data={})
            unknown_path = await http.get("/Conferences.json")
            json_body = await http.post("/Calls.json", json={"To": CALLEE})
        assert nothing.status_code == 400
        assert unknown_path.status_code == 404 and unknown_path.json()["code"] == 20404
        assert json_body.status_code == 400 and json_body.json()["code"] == 21201


async def test_helpers_validate_their_arguments() -> None:
    with pytest.raises(ConfigError):
        Carrier(ACCOUNT_SID, "")
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        with pytest.raises(InvalidArgumentError, match=r"E\.164"):
            carrier.script_destination("5550001111")
        with pytest.raises(InvalidArgumentError, match="outcome"):
            carrier.script_destination(CALLEE, "voicemail")
        with pytest.raises(InvalidArgumentError, match="webhook_url"):
            await carrier.ring("ftp://x.test/", to=TWILIO_NUMBER, from_=CALLEE)
        with pytest.raises(NotFoundError, match=r"^unknown call 'CAnope'$"):
            await carrier.wait_for_status("CAnope", "completed")
        carrier.script_destination(CALLEE, ring_s=5)
        sid = await place(carrier)
        with pytest.raises(TimeoutError):
            await carrier.wait_for_status(sid, "in-progress", timeout=0.2)
