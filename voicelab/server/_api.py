"""The key-guarded call API: place an outbound call, read a call's status, through Twilio."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from loguru import logger
from pydantic import BaseModel, Field
from twilio.base.exceptions import TwilioException, TwilioRestException

from voicelab.errors import ConfigError
from voicelab.server._deps import RequireApiKey, State
from voicelab.server.access import AUTH_RESPONSES, Client
from voicelab.server.dialling import OUTBOUND_RESPONSES, OutboundRefused
from voicelab.server.state import ServerState
from voicelab.telephony.ids import CALL_SID, E164_PATTERN, STATUS_CALLBACK_EVENTS

__all__ = ["OutboundCallRequest", "router"]

router = APIRouter()

_OUTBOUND_KEY = RequireApiKey("/outbound")
_STATUS_KEY = RequireApiKey("/call-status")


class OutboundCallRequest(BaseModel):
    """Body of ``POST /outbound``."""

    to_number: Annotated[str, Field(pattern=E164_PATTERN, description="E.164, e.g. +15551234567")]
    from_number: Annotated[str | None, Field(default=None, pattern=E164_PATTERN)] = None


@router.post(
    "/outbound",
    summary="Place an outbound call through Twilio",
    responses={**AUTH_RESPONSES, **OUTBOUND_RESPONSES},
)
async def outbound(
    body: OutboundCallRequest,
    request: Request,
    caller: Annotated[Client, Depends(_OUTBOUND_KEY)],
    state: State,
) -> dict[str, Any]:
    from_number = body.from_number or state.settings.twilio_phone_number
    if not from_number:
        raise HTTPException(422, "from_number is required when TWILIO_PHONE_NUMBER is not set")
    base = state.public_url.base(request)
    webhook_url = f"{base}/outbound-twiml"
    client = _twilio_or_503(state)
    try:
        # Every rule before the SDK: nothing refused ever reaches Twilio.
        state.dialling.admit(body.to_number, caller.identity, state.registry.reserved_count)
    except OutboundRefused as exc:
        logger.warning(f"/outbound refused ({exc.status}): {exc}")
        raise HTTPException(exc.status, str(exc), headers=exc.headers or None) from None
    # The call's slot, held from now: ten requests at once cannot all reach Twilio.
    reservation = state.registry.reserve()
    assert reservation is not None  # admit() checked the same count, with no await since
    try:
        call = await client.calls.create_async(
            to=body.to_number,
            from_=from_number,
            url=webhook_url,
            method="POST",
            status_callback=f"{base}/status-callback",
            status_callback_event=list(STATUS_CALLBACK_EVENTS),
            status_callback_method="POST",
        )
    except (TwilioException, OSError) as exc:
        state.registry.release(reservation)
        logger.error(f"Failed to initiate call to {body.to_number}: {exc}")
        raise HTTPException(502, f"Failed to initiate call: {_twilio_message(exc)}") from None
    # Its record opens and it keeps the slot until it ends or its window passes.
    state.registry.placed(call.sid, reservation, from_number, body.to_number)
    logger.info(f"Outbound call initiated: {call.sid} to {body.to_number}")
    return {
        "success": True,
        "call_sid": call.sid,
        "status": call.status,
        "to": call.to,
        "from": call._from or from_number,
        "webhook_url": webhook_url,
    }


@router.get(
    "/call-status/{call_sid}",
    summary="A call's status, from Twilio",
    responses=AUTH_RESPONSES,
    dependencies=[Depends(_STATUS_KEY)],
)
async def call_status(call_sid: str, state: State) -> dict[str, Any]:
    if not CALL_SID.match(call_sid):
        raise HTTPException(404, f"Call {call_sid} not found")
    client = _twilio_or_503(state)
    try:
        call = await client.calls(call_sid).fetch_async()
    except TwilioRestException as exc:
        if exc.status == 404:
            raise HTTPException(404, f"Call {call_sid} not found") from None
        raise HTTPException(502, f"Failed to fetch call: {_twilio_message(exc)}") from None
    except (TwilioException, OSError) as exc:
        raise HTTPException(502, f"Failed to fetch call: {_twilio_message(exc)}") from None
    return {
        "call_sid": call.sid,
        "status": call.status,
        "direction": call.direction,
        "to": call.to,
        "from_": call._from,  # the SDK keeps "from" as `_from` (a keyword)
        "duration": int(call.duration) if call.duration not in (None, "") else None,
        "start_time": _iso(call.start_time),
        "end_time": _iso(call.end_time),
    }


def _twilio_or_503(state: ServerState) -> Any:
    try:
        return state.twilio()
    except ConfigError as exc:
        raise HTTPException(503, str(exc)) from None


def _twilio_message(exc: Exception) -> str:
    if isinstance(exc, TwilioRestException):
        return f"{exc.msg} (HTTP {exc.status}, code {exc.code})"
    return str(exc) or type(exc).__name__


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
