"""A tiny black-box phone agent that acts the way Twilio sees agents act.

Not voicelab and not pipecat: a FastAPI app a team might write against Twilio's own
protocol. ``POST /`` answers TwiML (``<Connect><Stream>``), ``/ws`` speaks Media Streams
(listening with a plain energy detector, talking with pre-rendered speech), ``POST
/outbound`` places calls with the twilio SDK (pointed at voicelab's carrier, as
``voicelab/telephony/rest.py`` does), ``POST /amd`` takes async AMD results. Each call's
plan (``BotPlan.mode``) says what it does:

- ``transfer``: greet, hear the caller out, say it transfers, then ``calls.update`` with
  ``<Dial>`` (the stream ends: Twilio's ``stop``, then the dial);
- ``hang_up``: greet, hear the caller out, say goodbye, ``calls.update(status="completed")``;
- ``menu``: listen to a phone menu's prompt, press a key (pipecat's own DTMF tones, in the
  audio, as pipecat's transports send them), then speak to whoever answers and hang up;
- ``voicemail``: leave a message at once (the AMD waited for the beep), then hang up.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocketDisconnect
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from voicelab.recording.wav import pcm16
from voicelab.telephony import mulaw

RATE = 8000
FRAME = 160
_SPEECH_RMS = 0.02  # well above line noise, well below speech


@dataclass
class BotPlan:
    """What the bot does, and what it saw (for the test's assertions)."""

    mode: str
    lines: dict[str, np.ndarray]  # name -> 8 kHz float32 speech
    account_sid: str = ""
    auth_token: str = ""
    carrier_url: str = ""
    from_number: str = "+15550001000"
    dial_to: str = "+15550100200"
    create_args: dict[str, str] = field(default_factory=dict)
    keys: str = "2"
    webhooks: list[dict[str, str]] = field(default_factory=list)
    amd_callbacks: list[dict[str, str]] = field(default_factory=list)
    stream_events: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def client(self) -> Client:
        return Client(self.account_sid, self.auth_token, http_client=_CarrierHttp(self.carrier_url))


class _CarrierHttp(TwilioHttpClient):
    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=10)
        self.base_url = base_url
        assert self.session is not None
        self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        url = url.replace("https://api.twilio.com", self.base_url, 1)
        return super().request(method, url, *args, **kwargs)


def action_bot(plan: BotPlan) -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def twiml(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        plan.webhooks.append(form)
        response = VoiceResponse()
        connect = Connect()
        connect.stream(url=f"ws://{request.url.netloc}/ws")
        response.append(connect)
        return Response(str(response), media_type="application/xml")

    @app.post("/outbound")
    async def outbound(request: Request) -> JSONResponse:
        body = await request.json()
        base = str(request.base_url).rstrip("/")
        # A path among the arguments is one of the bot's own routes (an AMD callback).
        args = {k: base + v if v.startswith("/") else v for k, v in plan.create_args.items()}
        call = await asyncio.to_thread(
            plan.client().calls.create,
            to=body["to_number"],
            from_=plan.from_number,
            url=base + "/",
            **args,
        )
        return JSONResponse({"call_sid": call.sid})

    @app.post("/amd")
    async def amd(request: Request) -> Response:
        plan.amd_callbacks.append({k: str(v) for k, v in (await request.form()).items()})
        return Response(status_code=204)

    @app.websocket("/ws")
    async def media(ws: WebSocket) -> None:
        await ws.accept()
        call = _Call(ws, plan)
        try:
            await call.handshake()
            receiving = asyncio.create_task(call.receive())
            try:
                await asyncio.wait_for(_MODES[plan.mode](call), 60)
            finally:
                receiving.cancel()
        except WebSocketDisconnect:
            pass
        except Exception as exc:  # the test reads what went wrong
            plan.errors.append(repr(exc))
        finally:
            call.done.set()

    return app


class _Call:
    """One media stream: what the bot hears, and how it talks back."""

    def __init__(self, ws: WebSocket, plan: BotPlan) -> None:
        self.ws, self.plan = ws, plan
        self.stream_sid = self.call_sid = ""
        self.loud = 0  # frames of speech in a row
        self.quiet = 0  # frames of silence since the last speech
        self.heard_speech = False
        self.marks: asyncio.Queue[str] = asyncio.Queue()
        self.done = asyncio.Event()
        self.stopped = asyncio.Event()

    async def handshake(self) -> None:
        connected = json.loads(await self.ws.receive_text())
        start = json.loads(await self.ws.receive_text())
        assert connected["event"] == "connected" and start["event"] == "start"
        self.stream_sid = start["start"]["streamSid"]
        self.call_sid = start["start"]["callSid"]

    async def receive(self) -> None:
        while True:
            message = json.loads(await self.ws.receive_text())
            event = message["event"]
            self.plan.stream_events.append(event)
            if event == "media":
                pcm = mulaw.decode(base64.b64decode(message["media"]["payload"]))
                rms = float(np.sqrt(np.mean((pcm.astype(np.float32) / 32768) ** 2)))
                self.loud = self.loud + 1 if rms > _SPEECH_RMS else 0
                self.quiet = 0 if rms > _SPEECH_RMS else self.quiet + 1
                self.heard_speech = self.heard_speech or self.loud >= 3
            elif event == "mark":
                self.marks.put_nowait(message["mark"]["name"])
            elif event == "stop":
                self.stopped.set()
                return

    async def said_and_done(self, quiet_s: float = 0.8, timeout: float = 30) -> None:
        """Wait for the other side to speak, then to be quiet for ``quiet_s``."""
        self.heard_speech = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.heard_speech and self.quiet * FRAME / RATE >= quiet_s):
            if loop.time() > deadline:
                raise TimeoutError("the other side never spoke")
            await asyncio.sleep(0.02)

    async def say(self, audio: np.ndarray, name: str) -> None:
        """Send speech, then a mark; return once the mark is echoed (it has been heard)."""
        ulaw = mulaw.encode(pcm16(audio))
        for i in range(0, len(ulaw), FRAME):
            payload = base64.b64encode(ulaw[i : i + FRAME]).decode()
            await self.send({"event": "media", "media": {"payload": payload}})
        await self.send({"event": "mark", "mark": {"name": name}})
        while await asyncio.wait_for(self.marks.get(), 30) != name:
            pass

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps({**message, "streamSid": self.stream_sid}))

    async def update(self, **fields: Any) -> None:
        await asyncio.to_thread(self.plan.client().calls(self.call_sid).update, **fields)


async def _transfer(call: _Call) -> None:
    await call.say(call.plan.lines["greeting"], "greeting")
    await call.said_and_done()
    await call.say(call.plan.lines["transfer"], "transfer")
    response = VoiceResponse()
    response.append(Dial(call.plan.dial_to, timeout=10))
    await call.update(twiml=str(response))
    await asyncio.wait_for(call.stopped.wait(), 10)  # Twilio's stop ends our stream


async def _hang_up(call: _Call) -> None:
    await call.say(call.plan.lines["greeting"], "greeting")
    await call.said_and_done()
    await call.say(call.plan.lines["goodbye"], "goodbye")
    await call.update(status="completed")
    await asyncio.wait_for(call.stopped.wait(), 10)


async def _menu(call: _Call) -> None:
    from pipecat.audio.dtmf.types import KeypadEntry
    from pipecat.audio.dtmf.utils import load_dtmf_audio

    await call.said_and_done(quiet_s=1.0)  # the menu's prompt, to its end
    for key in call.plan.keys:
        tone = await load_dtmf_audio(KeypadEntry(key), sample_rate=RATE)  # pipecat's own
        await call.say(np.frombuffer(tone, dtype="<i2").astype(np.float32) / 32768, f"key{key}")
    await call.said_and_done(quiet_s=1.0)  # hold music, then the person's first words
    await call.say(call.plan.lines["to_person"], "to_person")
    await call.update(status="completed")


async def _voicemail(call: _Call) -> None:
    await call.say(call.plan.lines["message"], "message")
    await call.update(status="completed")


_MODES = {"transfer": _transfer, "hang_up": _hang_up, "menu": _menu, "voicemail": _voicemail}
