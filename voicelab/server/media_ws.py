"""The media websocket: one Twilio Media Stream = one call = one bot pipeline."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from loguru import logger

from voicelab.bot.call import CallInfo
from voicelab.bot.pipeline import CallPipeline
from voicelab.server._deps import State
from voicelab.server.state import ServerState
from voicelab.telephony.media import (
    ConnectedMessage,
    MediaMessageError,
    StartMessage,
    parse_message,
)
from voicelab.telephony.twiml import STREAM_TOKEN_PARAMETER

__all__ = ["handle_media_stream", "router"]

HANDSHAKE_TIMEOUT_S = 10.0

router = APIRouter()


@router.websocket("/ws", name="media")
async def handle_media_stream(websocket: WebSocket, state: State) -> None:
    """Check, accept and run one media stream until it ends.

    A bad signature is refused before the upgrade completes (HTTP 403). A
    handshake that is not Twilio's ``connected`` + ``start`` within
    :data:`HANDSHAKE_TIMEOUT_S`, a ``start`` without the one-time stream token its
    TwiML carried, or a ``start`` for a call that is not waiting for its stream (live
    already, or ended) closes the socket (1008) before any model or pipeline is
    touched. The call's slot under ``VOICELAB_MAX_CALLS`` was taken by its webhook.
    """
    if not state.signatures.is_valid(websocket):
        logger.warning("media websocket refused: missing or invalid X-Twilio-Signature")
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.accept()
    call = await _handshake(websocket, state)
    if call is None:
        return
    claimed = state.registry.claim(call.call_sid)
    if isinstance(claimed, str):
        # A replayed webhook and upgrade: one session per call, ever.
        logger.warning(f"media websocket refused for {call.call_sid}: {claimed}")
        await _close(websocket, claimed)
        return
    session = CallPipeline(
        websocket=websocket,
        call=call,
        settings=state.settings,
        record=claimed,
        pool=state.pool,
        port=state.port,
        agent=state.agent,
        tracing=state.tracing,
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
    """Read Twilio's ``connected`` + ``start``; the call, or ``None`` once the socket is closed.

    Nothing here creates a record or touches a model: a refused session leaves no trace
    but a log line (which never shows the token).
    """
    try:
        start = await asyncio.wait_for(_read_start(websocket), HANDSHAKE_TIMEOUT_S)
    except TimeoutError:
        logger.warning(f"media websocket closed: no 'start' within {HANDSHAKE_TIMEOUT_S:g} s")
        await _close(websocket, "expected Twilio 'connected' and 'start' messages")
        return None
    except WebSocketDisconnect:
        logger.info("media websocket closed by the peer during the handshake")
        return None
    except MediaMessageError as exc:
        logger.warning(f"media websocket refused: {exc}")
        await _close(websocket, "invalid Twilio 'start' message")
        return None
    call_sid, params = start.start.call_sid, start.start.custom_parameters
    if not state.stream_tokens.redeem(call_sid, params.get(STREAM_TOKEN_PARAMETER)):
        logger.warning(f"media websocket refused for {call_sid}: no valid one-time stream token")
        await _close(websocket, "invalid or expired stream token")
        return None
    return CallInfo(
        call_sid=call_sid,
        stream_sid=start.start.stream_sid,
        account_sid=state.settings.twilio_account_sid or "",
        direction="outbound" if params.get("direction") == "outbound" else "inbound",
        from_number=params.get("from_number", ""),
        to_number=params.get("to_number", ""),
    )


async def _read_start(websocket: WebSocket) -> StartMessage:
    """Twilio's first two messages, strictly: ``connected``, then ``start``.

    Raises:
        MediaMessageError: Anything else (media before ``start``, garbage, binary).
        WebSocketDisconnect: The peer went away.
    """
    for event, expected in (("connected", ConnectedMessage), ("start", StartMessage)):
        raw = await websocket.receive()
        if raw["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(raw.get("code", status.WS_1000_NORMAL_CLOSURE))
        text = raw.get("text")
        message = parse_message(text if text is not None else raw.get("bytes") or b"")
        if not isinstance(message, expected):
            raise MediaMessageError(f"expected '{event}', got '{message.event[:32]}'")
    assert isinstance(message, StartMessage)
    return message


async def _close(
    websocket: WebSocket, reason: str, code: int = status.WS_1008_POLICY_VIOLATION
) -> None:
    with contextlib.suppress(RuntimeError):  # already closed by the peer
        await websocket.close(code=code, reason=reason)
