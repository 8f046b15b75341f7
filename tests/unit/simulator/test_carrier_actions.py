"""What the carrier does with an agent's actions: TwiML verbs, transfers, hang-ups, AMD.

The party on the line is a :class:`FakeLine` (the carrier's ``Line`` protocol, no audio,
no models) and the agent's webhooks a stand-in FastAPI app, so these run in seconds and
check the carrier's side alone: order and timing of verbs, ``<Dial>``'s outcomes and its
``action`` request, who hung up, and what answering machine detection sends where.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import uvicorn
from fastapi import FastAPI, Request, Response

from voicelab._tls import tls_context
from voicelab.simulator._carrier_line import DialTarget, PickUp
from voicelab.simulator.carrier import Carrier, StreamSession

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "actions-token"
TWILIO_NUMBER = "+15550002222"
CALLEE = "+15550001111"
MANAGER = "+15550100200"
STREAM = '<Connect><Stream url="wss://bot.test/ws"/></Connect>'

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]


class FakeLine:
    """A party on the line that notes what it hears; it talks to no one."""

    def __init__(self, kind: str = "person", greeting_s: float | None = None, beep: bool = True):
        self.kind = kind
        self.hung_up = asyncio.Event()
        self.heard: list[tuple[str, Any]] = []
        self.parties: dict[str, DialTarget] = {}
        self.bot_closes = asyncio.Event()  # set: the agent's stream ends from its side
        self.party_hangs_up = asyncio.Event()
        self.closed = False
        self._greeting_s, self._beep = greeting_s, beep

    async def greeting_end(self) -> str:
        if self._greeting_s is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self._greeting_s or 0)
        return "beep" if self._beep else "silence"

    async def say(self, text: str) -> None:
        self.heard.append(("say", text))
        await asyncio.sleep(0.05)

    async def play(self, audio: np.ndarray) -> None:
        self.heard.append(("play", round(audio.size / 8000, 2)))
        await asyncio.sleep(audio.size / 8000)

    async def stream(self, session: StreamSession) -> str:
        self.heard.append(("stream", session.url))
        ends = [self.bot_closes.wait(), session.hangup.wait(), self.hung_up.wait()]
        tasks = [asyncio.ensure_future(end) for end in ends]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        if self.hung_up.is_set():
            return "caller"
        return "bot" if self.bot_closes.is_set() else "carrier"

    def dial_target(self, number: str) -> DialTarget | None:
        return self.parties.get(number)

    async def bridge(self, target: DialTarget) -> str:
        self.heard.append(("bridge", target.party))
        await self.party_hangs_up.wait()
        return "party"

    async def close(self) -> None:
        self.closed = True


class LineAnswerer:
    """Gives the carrier :attr:`line` when a call is answered."""

    def __init__(self, line: FakeLine) -> None:
        self.line = line
        self.picked_up: list[PickUp] = []

    async def pick_up(self, call: PickUp) -> FakeLine:
        self.picked_up.append(call)
        return self.line

    async def __call__(self, session: StreamSession) -> None:
        raise AssertionError("a carrier with a line never hands it a bare stream")


class Agent:
    """The agent's webhooks: TwiML answers by path, and every request it got."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.documents: dict[str, str] = {}
        self.base_url = ""
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self._handle, methods=["GET", "POST"])

    async def _handle(self, path: str, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.requests.append(("/" + path, form))
        if path == "hold.wav":
            buffer = io.BytesIO()
            sf.write(buffer, np.full(8000, 0.1, np.float32), 16000, format="WAV")
            return Response(buffer.getvalue(), media_type="audio/wav")
        document = self.documents.get("/" + path, "<Response/>")
        return Response(document, media_type="text/xml")

    def got(self, path: str) -> list[dict[str, str]]:
        return [form for p, form in self.requests if p == path]


@contextlib.asynccontextmanager
async def serving(agent: Agent) -> AsyncIterator[Agent]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(agent.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    agent.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield agent
    finally:
        server.should_exit = True
        await task


async def place(carrier: Carrier, **fields: str) -> str:
    form = {"To": CALLEE, "From": TWILIO_NUMBER, **fields}
    async with httpx.AsyncClient(
        base_url=f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        trust_env=False,
        verify=tls_context(trust_env=False),  # http to 127.0.0.1: no CA bundle load per call
    ) as http:
        response = await http.post("/Calls.json", data=form)
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def events(root: Path, sid: str) -> list[dict[str, Any]]:
    (path,) = root.glob(f"*_{sid}/events.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def manifest(root: Path, sid: str) -> dict[str, Any]:
    (path,) = root.glob(f"*_{sid}/call.json")
    return dict(json.loads(path.read_text()))


async def test_say_play_and_pause_around_a_stream_run_in_order(tmp_path: Path) -> None:
    line = FakeLine()
    line.bot_closes.set()  # the agent closes its stream at once: the TwiML after it runs
    twiml = (
        '<Response><Say>Calls are recorded.</Say><Pause length="0.3"/><Play digits="12"/>'
        f"{STREAM}<Say>Goodbye.</Say></Response>"
    )
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier:
        started = time.monotonic()
        sid = await place(carrier, Twiml=twiml)
        assert await carrier.wait_for_status(sid, "completed") == "completed"
        took = time.monotonic() - started
    assert line.heard == [
        ("say", "Calls are recorded."),
        ("play", 0.7),  # two keys: 0.25 s tone + 0.1 s gap each
        ("stream", "wss://bot.test/ws"),
        ("say", "Goodbye."),
    ]
    assert took > 0.3 + 0.7 and line.closed
    hangup = [e for e in events(tmp_path, sid) if e["type"] == "call.hangup"]
    assert [e["data"] for e in hangup] == [{"by": "bot", "how": "twiml_ended"}]


async def test_without_a_line_a_say_takes_as_long_as_its_text() -> None:
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier:
        sid = await place(carrier, Twiml="<Response><Say>" + "x" * 28 + "</Say></Response>")
        await carrier.wait_for_status(sid, "completed")
        duration = carrier.calls[sid].duration_s
    assert duration is not None and 1.9 < duration < 3.0  # 28 characters at 14 per second


async def test_play_fetches_its_file_and_skips_one_it_cannot_reach(tmp_path: Path) -> None:
    line = FakeLine()
    async with (
        serving(Agent()) as agent,
        Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier,
    ):
        twiml = (
            f"<Response><Play>{agent.base_url}/hold.wav</Play>"
            "<Play>http://127.0.0.1:9/gone.mp3</Play><Say>Still here.</Say></Response>"
        )
        sid = await place(carrier, Twiml=twiml)
        await carrier.wait_for_status(sid, "completed")
    assert line.heard == [("play", 0.5), ("say", "Still here.")]  # 16 kHz file, at 8 kHz
    (warning,) = [e for e in events(tmp_path, sid) if e["type"] == "error"]
    assert "<Play> skipped" in warning["data"]["message"] and warning["data"]["fatal"] is False


async def test_hangup_ends_the_call_and_what_follows_never_runs(tmp_path: Path) -> None:
    line = FakeLine()
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier:
        sid = await place(carrier, Twiml="<Response><Hangup/><Say>Never.</Say></Response>")
        await carrier.wait_for_status(sid, "completed")
        assert carrier.calls[sid].ended_by == "bot"
    assert line.heard == [] and line.closed
    (hangup,) = [e for e in events(tmp_path, sid) if e["type"] == "call.hangup"]
    assert hangup["data"] == {"by": "bot", "how": "hangup_verb"}


async def test_the_party_hanging_up_ends_the_call_there(tmp_path: Path) -> None:
    line = FakeLine()
    twiml = '<Response><Pause length="10"/><Say>Too late.</Say></Response>'
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier:
        sid = await place(carrier, Twiml=twiml)
        await carrier.wait_for_status(sid, "in-progress")
        await asyncio.sleep(0.2)
        line.hung_up.set()
        assert await carrier.wait_for_status(sid, "completed", timeout=2) == "completed"
    assert line.heard == []
    (hangup,) = [e for e in events(tmp_path, sid) if e["type"] == "call.hangup"]
    assert hangup["data"] == {"by": "caller", "how": "hung_up"}


async def test_a_rest_update_ends_the_stream_and_runs_the_new_twiml(tmp_path: Path) -> None:
    line = FakeLine()
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier:
        sid = await place(carrier, Twiml=f"<Response>{STREAM}</Response>")
        await carrier.wait_for_status(sid, "in-progress")
        while not line.heard:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(auth=(ACCOUNT_SID, AUTH_TOKEN), trust_env=False) as http:
            url = f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"
            redirect = await http.post(
                url, data={"Twiml": "<Response><Say>Moved.</Say></Response>"}
            )
            assert redirect.status_code == 200
            await carrier.wait_for_status(sid, "completed")
            unknown = await http.post(
                url.replace(sid, "CA" + "9" * 32), data={"Status": "completed"}
            )
            done = await http.post(url, data={"Twiml": "<Response/>"})
    assert line.heard == [("stream", "wss://bot.test/ws"), ("say", "Moved.")]
    assert (unknown.status_code, unknown.json()["code"]) == (404, 20404)
    assert (done.status_code, done.json()["code"]) == (400, 21220)  # not in progress
    (hangup,) = [e for e in events(tmp_path, sid) if e["type"] == "call.hangup"]
    assert hangup["data"] == {"by": "bot", "how": "twiml_ended"}


async def test_a_dial_bridges_to_the_party_then_asks_its_action(tmp_path: Path) -> None:
    line = FakeLine()
    line.parties[MANAGER] = DialTarget("answer", ring_s=0.2, party="duty manager")
    agent = Agent()
    agent.documents["/after"] = "<Response><Say>Anything else?</Say></Response>"
    async with (
        serving(agent),
        Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier,
    ):
        twiml = f'<Response><Dial action="/after" timeout="5">{MANAGER}</Dial></Response>'
        agent.documents["/start"] = twiml
        sid = await place(
            carrier,
            Url=f"{agent.base_url}/start",
            StatusCallback=f"{agent.base_url}/status",
            StatusCallbackEvent="initiated ringing answered completed",
        )
        await carrier.wait_for_status(sid, "in-progress")
        await asyncio.sleep(0.6)
        line.party_hangs_up.set()
        await carrier.wait_for_status(sid, "completed")
    assert line.heard == [("bridge", "duty manager"), ("say", "Anything else?")]
    (after,) = agent.got("/after")
    assert after["DialCallStatus"] == "completed" and after["DialCallSid"].startswith("CA")
    assert after["DialCallSid"] != sid and after["DialBridged"] == "true"
    # The parent call's own callbacks are those of any call.
    statuses = [form["CallStatus"] for form in agent.got("/status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    (transfer,) = [e for e in events(tmp_path, sid) if e["type"] == "call.transferred"]
    assert transfer["data"]["to"] == MANAGER and transfer["data"]["status"] == "completed"
    assert 0.15 < transfer["data"]["ring_s"] < 0.5 and transfer["data"]["duration_s"] > 0.3
    record = manifest(tmp_path, sid)
    assert (record["transferred_to"], record["transfer_status"]) == (MANAGER, "completed")


@pytest.mark.parametrize(
    ("scripted", "expected", "at_least_s"),
    [("busy", "busy", 0.0), ("failed", "failed", 0.0), (None, "no-answer", 1.0)],
)
async def test_a_dial_nobody_answers_goes_on_with_the_next_verb(
    tmp_path: Path, scripted: str | None, expected: str, at_least_s: float
) -> None:
    line = FakeLine()
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier:
        if scripted is not None:
            carrier.script_destination(MANAGER, scripted, ring_s=0)
        twiml = f'<Response><Dial timeout="1">{MANAGER}</Dial><Say>Nobody came.</Say></Response>'
        started = time.monotonic()
        sid = await place(carrier, Twiml=twiml)
        await carrier.wait_for_status(sid, "completed")
        took = time.monotonic() - started
        assert carrier.calls[sid].transfer_status == expected
    assert line.heard == [("say", "Nobody came.")] and took >= at_least_s
    (transfer,) = [e for e in events(tmp_path, sid) if e["type"] == "call.transferred"]
    assert transfer["data"]["status"] == expected and transfer["data"]["duration_s"] == 0


async def test_a_dial_the_emulator_cannot_ring_fails_and_the_call_goes_on(tmp_path: Path) -> None:
    line = FakeLine()
    twiml = "<Response><Dial><Sip>sip:desk@example.com</Sip></Dial><Say>Sorry.</Say></Response>"
    async with Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier:
        sid = await place(carrier, Twiml=twiml)
        await carrier.wait_for_status(sid, "completed")
        assert any("<Dial><Sip>" in error for error in carrier.calls[sid].errors)
    assert line.heard == [("say", "Sorry.")]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"MachineDetection": "Sometimes"}, 21234),
        ({"MachineDetection": "Enable", "MachineDetectionTimeout": "60"}, 21234),
        ({"MachineDetection": "Enable", "MachineDetectionSpeechThreshold": "999"}, 21234),
        ({"MachineDetection": "Enable", "MachineDetectionSilenceTimeout": "soon"}, 21234),
        ({"MachineDetection": "Enable", "AsyncAmd": "maybe"}, 21200),
        ({"MachineDetection": "Enable", "AsyncAmdStatusCallback": "not a url"}, 21200),
    ],
)
async def test_amd_parameters_are_checked_as_twilio_checks_them(
    fields: dict[str, str], code: int
) -> None:
    async with (
        Carrier(ACCOUNT_SID, AUTH_TOKEN) as carrier,
        httpx.AsyncClient(
            auth=(ACCOUNT_SID, AUTH_TOKEN), trust_env=False, verify=tls_context(trust_env=False)
        ) as http,
    ):
        form = {"To": CALLEE, "From": TWILIO_NUMBER, "Twiml": "<Response/>", **fields}
        url = f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
        response = await http.post(url, data=form)
    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_sync_amd_waits_for_the_beep_and_tells_the_twiml_request(tmp_path: Path) -> None:
    line = FakeLine("answering_machine", greeting_s=0.6)
    async with (
        serving(Agent()) as agent,
        Carrier(ACCOUNT_SID, AUTH_TOKEN, LineAnswerer(line), tmp_path) as carrier,
    ):
        sid = await place(
            carrier,
            Url=f"{agent.base_url}/start",
            MachineDetection="DetectMessageEnd",
            StatusCallback=f"{agent.base_url}/status",
        )
        await carrier.wait_for_status(sid, "completed")
        resource = carrier.calls[sid].to_resource()
    (fetch,) = agent.got("/start")
    assert fetch["AnsweredBy"] == "machine_end_beep"
    assert 550 <= int(fetch["MachineDetectionDuration"]) < 2000
    (completed,) = agent.got("/status")
    assert (
        completed["AnsweredBy"] == "machine_end_beep"
        and resource["answered_by"] == "machine_end_beep"
    )
    (amd,) = [e for e in events(tmp_path, sid) if e["type"] == "amd.result"]
    assert amd["data"]["answered_by"] == "machine_end_beep"
    assert manifest(tmp_path, sid)["answered_by"] == "machine_end_beep"


# Each case waits on AMD's real timers (Twilio's minimums: 1-2 s) and a 2.5 s <Pause>: the four
# calls are placed at once, each on a carrier and agent of its own, and checked one by one.
ASYNC_AMD_CASES = {
    "human": (lambda: FakeLine("person"), "Enable"),
    "machine_start": (lambda: FakeLine("answering_machine", greeting_s=5), "Enable"),
    "machine_end_silence": (lambda: FakeLine("phone_menu", greeting_s=0.2), "DetectMessageEnd"),
    "unknown": (lambda: None, "Enable"),  # a line-less answerer: AMD hears only silence
}


async def _async_amd_call(line: FakeLine | None, mode: str) -> tuple[str, Agent]:
    answerer = LineAnswerer(line) if line is not None else None
    async with serving(Agent()) as agent, Carrier(ACCOUNT_SID, AUTH_TOKEN, answerer) as carrier:
        agent.documents["/start"] = '<Response><Pause length="2.5"/></Response>'
        sid = await place(
            carrier,
            Url=f"{agent.base_url}/start",
            MachineDetection=mode,
            AsyncAmd="true",
            AsyncAmdStatusCallback=f"{agent.base_url}/amd",
            MachineDetectionSpeechThreshold="1000",
            MachineDetectionSpeechEndThreshold="500",
            MachineDetectionSilenceTimeout="2000",
        )
        await carrier.wait_for_status(sid, "completed")
    return sid, agent


@pytest.mark.slow  # four real-time calls: 3 s
async def test_async_amd_runs_the_twiml_at_once_and_posts_its_answer() -> None:
    played = await asyncio.gather(
        *(_async_amd_call(line(), mode) for line, mode in ASYNC_AMD_CASES.values())
    )
    for answer, (sid, agent) in zip(ASYNC_AMD_CASES, played, strict=True):
        (fetch,) = agent.got("/start")
        assert "AnsweredBy" not in fetch, answer  # async: the TwiML did not wait
        (callback,) = agent.got("/amd")
        assert (callback["CallSid"], callback["AnsweredBy"]) == (sid, answer)
        assert 600 <= int(callback["MachineDetectionDuration"]) <= 2500, (answer, callback)
