"""The media websocket against forged, replayed, malformed and oversized input.

The real server over real websockets (instant fake services: the pipeline, Silero VAD,
transport and recorder are real). Each protection has a test that fails without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import stream_token
from loguru import logger
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voicelab.config import Settings
from voicelab.recording.store import find_call_dir
from voicelab.server.runner import CallServer
from voicelab.telephony.media import TwilioStreamMessages

pytestmark = pytest.mark.slow  # places real-time calls (make check skips them)

ACCOUNT = "AC" + "c" * 32
TOKEN = "hardening-auth-token"
SILENCE = b"\xff" * 160  # 20 ms of mu-law silence


def settings(root: Path, **overrides: Any) -> Settings:
    return Settings(
        providers="instant",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        recordings_dir=root,
        **overrides,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[CallServer]:
    root = tmp_path_factory.mktemp("recordings")
    with CallServer(settings(root, stream_token_ttl=3)) as running:
        yield running


def new_sids() -> tuple[str, str]:
    return "CA" + uuid.uuid4().hex, "MZ" + uuid.uuid4().hex


def ws_url(server: CallServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


def signed_headers(server: CallServer) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(ws_url(server), {})}


def _twilio(stream_sid: str, call_sid: str = "CA" + "0" * 32) -> TwilioStreamMessages:
    return TwilioStreamMessages(stream_sid=stream_sid, call_sid=call_sid, account_sid=ACCOUNT)


def start_message(call_sid: str, stream_sid: str, token: str | None) -> str:
    params = {"direction": "inbound", "from_number": "+15557770000", "to_number": "+15550001111"}
    if token is not None:
        params["stream_token"] = token
    return _twilio(stream_sid, call_sid).start(params)


CONNECTED = TwilioStreamMessages.connected()


def media(stream_sid: str, i: int) -> str:
    return _twilio(stream_sid).media(SILENCE, chunk=i, timestamp_ms=i * 20)


async def closed_with(ws: ClientConnection, timeout: float = 10) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    deadline = asyncio.get_running_loop().time() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, "the server did not close the socket"
            await asyncio.wait_for(ws.recv(), left)
    received = closed.value.rcvd
    assert received is not None, "closed without a close frame"
    return received.code, received.reason


async def hears_the_bot(ws: ClientConnection, stream_sid: str, timeout: float = 15) -> None:
    """Send real-time silence until the bot's greeting audio arrives."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    i = 0
    while loop.time() < deadline:
        i += 1
        await ws.send(media(stream_sid, i))
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), 0.02))
        except TimeoutError:
            continue
        if message.get("event") == "media":
            return
    raise AssertionError("no audio from the bot")


def wait_for_end(root: Path, call_sid: str, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        directory = find_call_dir(root, call_sid)
        if directory is not None and (directory / "events.jsonl").exists():
            lines = (directory / "events.jsonl").read_text().splitlines()
            events = [json.loads(line) for line in lines if line.strip()]
            if events and events[-1]["type"] == "call.ended":
                return events
        time.sleep(0.05)
    raise AssertionError(f"the record of {call_sid} never ended")


def no_session_ran(root: Path, call_sid: str) -> bool:
    """Nothing of a media session for the call: no events, no audio.

    (The webhook that issued the call's token may have started its record; a
    refused session adds nothing to it.)
    """
    directory = find_call_dir(root, call_sid)
    if directory is None:
        return True
    events = directory / "events.jsonl"
    started = events.exists() and "call.started" in events.read_text()
    return not started and not list(directory.glob("*.wav"))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


# --- the one-time stream token --------------------------------------------------------------


def test_a_start_without_the_stream_token_is_refused_before_any_record(server):
    call_sid, stream_sid = new_sids()

    async def go() -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, None))
            return await closed_with(ws)

    code, reason = run(go())
    assert code == 1008 and "token" in reason
    assert find_call_dir(server.settings.recordings_dir, call_sid) is None


def test_a_token_opens_only_its_own_call_and_only_once(server):
    call_sid, stream_sid = new_sids()
    other_sid, _ = new_sids()
    token = stream_token(server.url, call_sid, TOKEN)
    root = server.settings.recordings_dir

    async def attempt(sid: str, tok: str) -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(sid, stream_sid, tok))
            return await closed_with(ws)

    async def real_call() -> None:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, token))
            await hears_the_bot(ws, stream_sid)

    assert run(attempt(other_sid, token))[0] == 1008, "another call's token is refused"
    assert find_call_dir(root, other_sid) is None
    run(real_call())  # the failed try did not spend the token
    wait_for_end(root, call_sid)
    code, reason = run(attempt(call_sid, token))
    assert code == 1008 and "token" in reason, "a replayed start is refused"


def test_a_token_expires(server):
    call_sid, stream_sid = new_sids()
    token = stream_token(server.url, call_sid, TOKEN)
    time.sleep(server.settings.stream_token_ttl + 0.2)

    async def go() -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, token))
            return await closed_with(ws)

    assert run(go())[0] == 1008
    assert no_session_ran(server.settings.recordings_dir, call_sid)


def test_a_webhook_without_a_call_sid_is_a_400(server):
    url = server.url + "/"
    for form in (
        {"From": "+15557770000"},
        {"CallSid": "CA123"},
        {"CallSid": "CA" + "a" * 32 + "\n"},
    ):
        headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}
        response = httpx.post(url, data=form, headers=headers)
        assert response.status_code == 400
        assert "CallSid" in response.json()["detail"]


def test_the_token_is_never_logged_nor_recorded(server):
    call_sid, stream_sid = new_sids()
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        token = stream_token(server.url, call_sid, TOKEN)

        async def go() -> None:
            async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
                await ws.send(CONNECTED)
                await ws.send(start_message(call_sid, stream_sid, token))
                await hears_the_bot(ws, stream_sid)

        run(go())
        wait_for_end(server.settings.recordings_dir, call_sid)
    finally:
        logger.remove(sink)
    assert any(call_sid in line for line in lines), "the call was logged"
    assert not any(token in line for line in lines)
    directory = find_call_dir(server.settings.recordings_dir, call_sid)
    assert directory is not None
    for path in directory.iterdir():
        if path.suffix in (".json", ".jsonl"):
            assert token not in path.read_text(), path.name


# --- the handshake --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first, second",
    [
        (CONNECTED, None),  # media before start (filled in below)
        (b"\x00\x01binary", None),
        ("not json", None),
        ("[1, 2]", None),
        (CONNECTED, '{"event": "start", "start": 5}'),
        (CONNECTED, '{"event": "start", "start": {"callSid": "CA1", "streamSid": "MZ1"}}'),
        (CONNECTED, b'{"event": "start"}'),
    ],
)
def test_a_bad_handshake_is_closed_with_policy_violation(server, first, second):
    _, stream_sid = new_sids()
    root = server.settings.recordings_dir
    before = set(root.iterdir())

    async def go() -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            with contextlib.suppress(ConnectionClosed):  # refused after the first message
                await ws.send(first)
                await ws.send(second if second is not None else media(stream_sid, 1))
            return await closed_with(ws)

    code, _ = run(go())
    assert code == 1008
    assert set(root.iterdir()) == before, "a refused session leaves no directory"


def test_a_silent_socket_is_closed_at_the_handshake_timeout(server, monkeypatch):
    import voicelab.server.media_ws as media_ws

    monkeypatch.setattr(media_ws, "HANDSHAKE_TIMEOUT_S", 0.5)

    async def go() -> tuple[int, float]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            started = asyncio.get_running_loop().time()
            await ws.send(CONNECTED)  # ... and then nothing: slowloris
            code, _ = await closed_with(ws, timeout=5)
            return code, asyncio.get_running_loop().time() - started

    code, _ = run(go())
    assert code == 1008


# --- during the call ------------------------------------------------------------------------


def test_a_megabyte_message_closes_that_socket_and_the_neighbour_call_goes_on(server):
    good_sid, good_stream = new_sids()
    bad_sid, bad_stream = new_sids()
    good_token = stream_token(server.url, good_sid, TOKEN)
    bad_token = stream_token(server.url, bad_sid, TOKEN)
    root = server.settings.recordings_dir

    async def go() -> int:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as good:
            await good.send(CONNECTED)
            await good.send(start_message(good_sid, good_stream, good_token))
            await hears_the_bot(good, good_stream)
            async with connect(
                ws_url(server), additional_headers=signed_headers(server), max_size=None
            ) as bad:
                await bad.send(CONNECTED)
                await bad.send(start_message(bad_sid, bad_stream, bad_token))
                await bad.send("x" * (1024 * 1024))
                code, _ = await closed_with(bad)
            for i in range(100):  # two more seconds of the good call: still answered
                await good.send(media(good_stream, 1000 + i))
                await asyncio.sleep(0.02)
            await hears_the_bot(good, good_stream)
            return code

    assert run(go()) == 1009
    events = wait_for_end(root, good_sid)
    assert events[-1]["data"]["reason"] != "error"
    assert wait_for_end(root, bad_sid)[-1]["type"] == "call.ended"


def test_a_session_that_keeps_sending_garbage_is_closed_with_an_error_in_its_record(server):
    call_sid, stream_sid = new_sids()
    token = stream_token(server.url, call_sid, TOKEN)

    async def go() -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, token))
            await hears_the_bot(ws, stream_sid)
            for i in range(200):
                await ws.send(f"garbage {i}")
            return await closed_with(ws)

    code, reason = run(go())
    assert code == 1008 and "malformed" in reason
    events = wait_for_end(server.settings.recordings_dir, call_sid)
    errors = [e for e in events if e["type"] == "error"]
    assert errors and "malformed" in errors[0]["data"]["message"]
    assert events[-1]["type"] == "call.ended"


def test_a_media_flood_is_closed(server):
    call_sid, stream_sid = new_sids()
    token = stream_token(server.url, call_sid, TOKEN)

    async def go() -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, token))
            for i in range(3000):  # a minute of audio as fast as the socket takes it
                try:
                    await ws.send(media(stream_sid, i))
                except ConnectionClosed:
                    break
            return await closed_with(ws)

    code, reason = run(go())
    assert code == 1008 and "real time" in reason
    events = wait_for_end(server.settings.recordings_dir, call_sid)
    assert any(e["type"] == "error" and "real time" in e["data"]["message"] for e in events)
    # Nothing of the call is left running: pipecat left the STT's segment task of a call
    # closed this early pending (with the call's objects) until the process exited.
    assert pipecat_tasks_left() == []


def pipecat_tasks_left() -> list[str]:
    """Tasks of pipecat processors (named ``Processor#N::...``) not yet done, in any loop."""
    gc.collect()
    return [
        task.get_name()
        for task in gc.get_objects()
        if isinstance(task, asyncio.Task) and not task.done() and "#" in task.get_name()
    ]


# --- the live-call cap ----------------------------------------------------------------------


def test_over_the_cap_the_webhook_says_busy_and_the_call_is_recorded(tmp_path):
    # Issue 15: the cap used to count live sessions only, so six webhooks at once all got
    # stream TwiML; the calls beyond it were answered (billed) and then dropped with 1013.
    with CallServer(settings(tmp_path, max_calls=1)) as capped:
        first_sid, first_stream = new_sids()
        second_sid, _ = new_sids()
        first_token = stream_token(capped.url, first_sid, TOKEN)
        url = capped.url + "/"
        form = {"CallSid": second_sid, "From": "+15557770000", "To": "+15550001111"}
        headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}
        busy = httpx.post(url, data=form, headers=headers)
        assert busy.status_code == 200 and '<Reject reason="busy"' in busy.text

        async def go() -> None:
            async with connect(ws_url(capped), additional_headers=signed_headers(capped)) as ws:
                await ws.send(CONNECTED)
                await ws.send(start_message(first_sid, first_stream, first_token))
                await hears_the_bot(ws, first_stream)

        run(go())  # the call that holds the slot is served in full
        wait_for_end(tmp_path, first_sid)
        busy_call = wait_for_end(tmp_path, second_sid)
        assert busy_call[-1]["data"]["reason"] == "capacity"
        assert no_session_ran(tmp_path, second_sid)


# --- one session per call, ever --------------------------------------------------------------


def test_a_replayed_webhook_and_upgrade_cannot_open_a_second_session(server):
    # Issue 15: each replay of a captured webhook issued a new token (cancelling the real
    # call's) and the replayer got a full session; five replays gave five live sessions on
    # one CallSid, all writing into one directory.
    call_sid, stream_sid = new_sids()
    token = stream_token(server.url, call_sid, TOKEN)
    root = server.settings.recordings_dir

    async def go() -> list[tuple[int, str]]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, token))
            await hears_the_bot(ws, stream_sid)
            refusals = []
            url = server.url + "/"
            form = {"CallSid": call_sid, "From": "+15557770000", "To": "+15550001111"}
            signature = RequestValidator(TOKEN).compute_signature(url, form)
            for _ in range(3):
                # The captured webhook, replayed: no new token for a call that is live...
                replayed = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature})
                assert "<Reject" in replayed.text and token not in replayed.text
                # ... and the captured upgrade + start, replayed: refused.
                async with connect(
                    ws_url(server), additional_headers=signed_headers(server)
                ) as again:
                    await again.send(CONNECTED)
                    await again.send(start_message(call_sid, new_sids()[1], token))
                    refusals.append(await closed_with(again))
            await hears_the_bot(ws, stream_sid)  # the real call was never cut off
            return refusals

    refusals = run(go())
    assert [code for code, _ in refusals] == [1008] * 3
    events = wait_for_end(root, call_sid)
    assert [e["type"] for e in events].count("call.started") == 1
    directory = find_call_dir(root, call_sid)
    assert directory is not None and len(list(directory.glob("*.wav"))) == 1


def test_twilios_stop_ends_the_call_even_if_the_socket_stays_open(server):
    # Issue 15: pipecat ignores `stop`; a peer that kept the socket open held the call
    # (and its slot) until VOICELAB_MAX_CALL_SECONDS.
    call_sid, stream_sid = new_sids()
    token = stream_token(server.url, call_sid, TOKEN)

    async def go() -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, token))
            await hears_the_bot(ws, stream_sid)
            await ws.send(_twilio(stream_sid, call_sid).stop())
            return await closed_with(ws, timeout=5)  # we never close: the server must

    code, _ = run(go())
    assert code == 1000
    events = wait_for_end(server.settings.recordings_dir, call_sid)
    assert events[-1]["data"]["reason"] == "stop"


def test_a_record_that_cannot_be_written_ends_that_call_and_not_the_next(server):
    call_sid, stream_sid = new_sids()
    token = stream_token(server.url, call_sid, TOKEN)
    root = server.settings.recordings_dir

    async def go() -> tuple[int, str]:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(call_sid, stream_sid, token))
            await hears_the_bot(ws, stream_sid)
            directory = find_call_dir(root, call_sid)
            assert directory is not None
            # What a cleanup job or a lost mount does to a call: its path is gone.
            directory.rename(root / f".gone-{call_sid}")
            # A keypress: the server's next event (its `dtmf`) has nowhere to go.
            await ws.send(_twilio(stream_sid, call_sid).dtmf("5"))
            for i in range(400):  # keep talking: the call must end by itself
                try:
                    await ws.send(media(stream_sid, 2000 + i))
                except ConnectionClosed:
                    break
                await asyncio.sleep(0.02)
            return await closed_with(ws, timeout=20)  # generous: a loaded box (ends in ~5 s)

    code, _ = run(go())
    assert code in (1000, 1011)
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "degraded"
    assert any("record write failed" in w for w in health["warnings"])
    # The next caller is served, and recorded, as usual.
    next_sid, next_stream = new_sids()
    next_token = stream_token(server.url, next_sid, TOKEN)

    async def next_call() -> None:
        async with connect(ws_url(server), additional_headers=signed_headers(server)) as ws:
            await ws.send(CONNECTED)
            await ws.send(start_message(next_sid, next_stream, next_token))
            await hears_the_bot(ws, next_stream)

    run(next_call())
    assert wait_for_end(root, next_sid)[-1]["type"] == "call.ended"
