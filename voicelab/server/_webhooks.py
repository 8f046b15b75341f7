"""Twilio's webhooks: a call's TwiML (inbound and outbound) and its status callbacks.

Each is a form signed by Twilio (``X-Twilio-Signature``), checked by :func:`twilio_form`
before the route runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from voicelab.server._deps import State
from voicelab.server.calls import Admission, StatusEvent
from voicelab.server.state import ServerState
from voicelab.telephony.ids import CALL_SID, CALLBACK_STATUSES
from voicelab.telephony.signature import websocket_url
from voicelab.telephony.twiml import reject_twiml, stream_twiml

__all__ = ["TwilioForm", "router", "twilio_form"]

router = APIRouter()


async def twilio_form(request: Request, state: State) -> dict[str, str]:
    """The webhook's form, after checking Twilio's signature over it (403 if wrong).

    Twilio posts URL-encoded text fields only: anything else (a multipart file, which
    the signature validator cannot even hash) is a 400 before the signature is tried.
    """
    try:
        form = await request.form(max_files=0)
    except StarletteHTTPException as exc:  # FastAPI's HTTPException is one too
        detail = f"a Twilio webhook is a form of text fields: {exc.detail}"
        raise HTTPException(400, detail) from None
    if any(not isinstance(value, str) for value in form.values()):
        raise HTTPException(400, "a Twilio webhook is a form of text fields, not files")
    if not state.signatures.is_valid(request, form):
        logger.warning(f"{request.url.path}: missing or invalid X-Twilio-Signature")
        raise HTTPException(403, "Invalid or missing X-Twilio-Signature")
    return {key: value for key, value in form.items() if isinstance(value, str)}


TwilioForm = Annotated[dict[str, str], Depends(twilio_form)]


@router.post("/", summary="Incoming-call webhook: TwiML that streams the call to /ws")
async def incoming_call(request: Request, form: TwilioForm, state: State) -> Response:
    return _call_twiml(request, form, state, "inbound")


@router.post("/outbound-twiml", summary="Outbound-call webhook: the same TwiML, outbound")
async def outbound_twiml(request: Request, form: TwilioForm, state: State) -> Response:
    return _call_twiml(request, form, state, "outbound")


@router.post("/status-callback", status_code=204, summary="Twilio call-progress events")
async def status_callback(form: TwilioForm, state: State) -> Response:
    call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "")
    if not CALL_SID.match(call_sid) or status not in CALLBACK_STATUSES:
        raise HTTPException(400, "a status callback needs CallSid and a Twilio CallStatus")
    record = state.registry.record_status(StatusEvent(call_sid, status, form))
    if record is not None:  # news (a duplicate or an unknown call's status writes nothing)
        # Answer once it is on disk: whoever reads the record next sees this status.
        await record.aflush()
    return Response(status_code=204)


def _call_twiml(
    request: Request, form: dict[str, str], state: ServerState, direction: str
) -> Response:
    """Stream TwiML with the call's one-time token, or ``<Reject>`` (see ``Admission``)."""
    call_sid = form.get("CallSid", "")
    if not CALL_SID.match(call_sid):
        # The stream token is bound to one call: without its CallSid there is no stream.
        raise HTTPException(400, "a call webhook needs a CallSid ('CA' + 32 hex digits)")
    from_number, to_number = form.get("From", ""), form.get("To", "")
    admission = state.registry.admit(call_sid, direction, from_number, to_number)
    if admission is not Admission.STREAM:
        # Busy at the cap; a replay of a call whose session ran; no way to record it.
        return Response(content=reject_twiml(), media_type="application/xml")
    xml = stream_twiml(
        websocket_url(state.public_url.base(request)) + "/ws",
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        stream_token=state.stream_tokens.issue(call_sid),
    )
    return Response(content=xml, media_type="application/xml")
