"""The simulated caller against a bot that sends a message over its limit.

A tiny websocket server on 127.0.0.1 plays the hostile black-box bot: after Twilio's
handshake it sends one message bigger than the caller takes. The call must end at once,
with a clear reason in the result and the caller's record, never by buffering the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from voicelab.recording.store import EVENTS, find_call_dir
from voicelab.simulator._script import HangUp
from voicelab.simulator.caller import MAX_MESSAGE_BYTES, MediaStreamsCaller

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

STREAM_SID = "MZ" + "d" * 32
HANG_UP_AFTER = 3.0  # the script's own end: a call that ignores the message ends this way


async def two_mib_media(ws: ServerConnection) -> None:
    payload = "A" * (2 * MAX_MESSAGE_BYTES)  # valid base64: a well-formed, oversized frame
    await ws.send(
        json.dumps({"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}})
    )


async def announced_300_mb(ws: ServerConnection) -> None:
    # Only a frame header saying "text, 300 MB follow" and one byte: a caller that waits for
    # the rest would buffer it all; the limit refuses it from the header.
    ws.transport.write(b"\x81\x7f" + (300 << 20).to_bytes(8, "big") + b"{")


@pytest.mark.parametrize("oversized", [two_mib_media, announced_300_mb], ids=["2-MiB", "300-MB"])
async def test_a_message_over_the_limit_ends_the_call_with_a_reason(
    tmp_path: Path, oversized: Callable[[ServerConnection], Awaitable[None]]
) -> None:
    async def bot(ws: ServerConnection) -> None:
        await ws.recv()  # connected
        await ws.recv()  # start
        await oversized(ws)
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:  # the caller's media, until it hangs up
                pass

    call_sid = "CA" + uuid.uuid4().hex
    caller = MediaStreamsCaller([HangUp(after=HANG_UP_AFTER)], recordings_dir=tmp_path)
    async with serve(bot, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        started = asyncio.get_running_loop().time()
        result = await asyncio.wait_for(
            caller.run(
                f"ws://127.0.0.1:{port}/ws",
                call_sid=call_sid,
                stream_sid=STREAM_SID,
                account_sid="AC" + "d" * 32,
            ),
            HANG_UP_AFTER + 5,
        )
        took = asyncio.get_running_loop().time() - started

    assert result.end_reason == "error"
    assert result.error is not None and f"over {MAX_MESSAGE_BYTES:,} bytes" in result.error
    assert took < HANG_UP_AFTER  # broken off by the message, not ended by the script
    directory = find_call_dir(tmp_path, call_sid)
    assert directory is not None
    events = [json.loads(line) for line in (directory / EVENTS).read_text().splitlines()]
    errors = [e["data"] for e in events if e["type"] == "error"]
    assert errors == [{"message": result.error, "fatal": True}]
    assert events[-1]["type"] == "call.ended" and events[-1]["data"]["reason"] == "error"
