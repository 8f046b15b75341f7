"""The media websocket: one Twilio Media Stream = one call = one bot pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import re

from fastapi import WebSocket, WebSocketDisconnect, status
from loguru import logger
from pipecat.runner.utils import parse_telephony_websocket

from voicelab.bot.call import CallInfo
from voicelab.bot.pipeline import CallPipeline
from voicelab.server.state import ServerState

__all__ = ["handle_media_stream"]

_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
_STREAM_SID = re.compile(r"^MZ[0-9a-fA-F]{32}$")
HANDSHAKE_TIMEOUT_S = 10.0


async def handle_media_stream(websocket: WebSocket, state: ServerState) -> None:
    """Check, accept and run one media stream until it ends.

    A bad signature is refused before the upgrade completes (HTTP 403). A
    handshake that is not Twilio's ``connected`` + ``start`` within
    :data:`HANDSHAKE_TIMEOUT_S` closes the socket with a policy-violation code.
    """
    if not state.signatures.is_valid(websocket):
        logger.warning("media websocket refused: missing or invalid X-Twilio-Signature")
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.accept()
    call = await _handshake(websocket, state)
    if call is None:
        return
    record = state.registry.open_record(call.call_sid)
    session = CallPipeline(
        websocket=websocket,
        call=call,
        settings=state.settings,
        record=record,
        pool=state.pool,
        port=state.port,
    )
    task = asyncio.current_task()
    assert task is not None
    state.registry.started(call.call_sid, task)
    try:
        reason = await session.run()
        logger.info(f"call {call.call_sid} ended: {reason}")
    finally:
        state.registry.ended(call.call_sid)


async def _handshake(websocket: WebSocket, state: ServerState) -> CallInfo | None:
    try:
        kind, data = await asyncio.wait_for(
            parse_telephony_websocket(websocket), HANDSHAKE_TIMEOUT_S
        )
    except (TimeoutError, ValueError, WebSocketDisconnect) as exc:
        logger.warning(f"media websocket closed during the handshake: {exc!r}")
        await _close(websocket, "expected Twilio 'connected' and 'start' messages")
        return None
    call_sid, stream_sid = data.get("call_id") or "", data.get("stream_id") or ""
    if kind != "twilio" or not _CALL_SID.match(call_sid) or not _STREAM_SID.match(stream_sid):
        logger.warning(f"media websocket refused: not a Twilio start ({kind}, {call_sid!r})")
        await _close(websocket, "invalid Twilio 'start' message")
        return None
    body = data.get("body") or {}
    direction = body.get("direction") if body.get("direction") in ("inbound", "outbound") else None
    return CallInfo(
        call_sid=call_sid,
        stream_sid=stream_sid,
        account_sid=state.settings.twilio_account_sid or "",
        direction=direction or "inbound",
        from_number=str(body.get("from_number") or ""),
        to_number=str(body.get("to_number") or ""),
    )


async def _close(websocket: WebSocket, reason: str) -> None:
    with contextlib.suppress(RuntimeError):  # already closed by the peer
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)
