"""The FastAPI call server: Twilio webhooks, the outbound API, status, health, media."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from loguru import logger
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from twilio.base.exceptions import TwilioException, TwilioRestException

from voicelab.bot.agent import AgentSpec, load_agent
from voicelab.bot.models import ModelPool
from voicelab.bot.pipeline import SHUTDOWN_REASON
from voicelab.bot.providers import check_providers, pool_models
from voicelab.bot.tracing import TraceExport
from voicelab.config import Settings
from voicelab.errors import ConfigError
from voicelab.server.access import (
    AUTH_RESPONSES,
    ApiKeyGuard,
    BearerCredentials,
    Client,
    add_docs_routes,
    security_warnings,
)
from voicelab.server.calls import Admission, StatusEvent
from voicelab.server.dialling import (
    OUTBOUND_RESPONSES,
    OutboundGuard,
    OutboundRefused,
)
from voicelab.server.media_ws import handle_media_stream
from voicelab.server.record_health import check_recordings_dir
from voicelab.server.state import ServerState
from voicelab.telephony.ids import CALL_SID, CALLBACK_STATUSES, E164_PATTERN
from voicelab.telephony.signature import websocket_url
from voicelab.telephony.twiml import reject_twiml, stream_twiml

__all__ = ["SHUTDOWN_GRACE_S", "OutboundCallRequest", "create_app", "end_live_calls"]

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
# Seconds live calls get to finish their records when the server shuts down.
SHUTDOWN_GRACE_S = 10.0


async def twilio_form(request: Request) -> dict[str, str]:
    """The webhook's form, after checking Twilio's signature over it (403 if wrong).

    Twilio posts URL-encoded text fields only: anything else (a multipart file, which
    the signature validator cannot even hash) is a 400 before the signature is tried.
    """
    state: ServerState = request.app.state.voicelab
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


class OutboundCallRequest(BaseModel):
    """Body of ``POST /outbound``."""

    to_number: Annotated[str, Field(pattern=E164_PATTERN, description="E.164, e.g. +15551234567")]
    from_number: Annotated[str | None, Field(default=None, pattern=E164_PATTERN)] = None


def create_app(
    settings: Settings,
    pool: ModelPool | None = None,
    port: int | None = None,
    agent: AgentSpec | None = None,
) -> FastAPI:
    """Build the call server.

    Args:
        settings: Server settings.
        pool: The offline model pool; built (and warmed at start-up) if the
            providers need one and none is given.
        port: The port the server listens on (names the recordings).
        agent: The calls' agent, or its ``module:factory`` import string (default:
            ``settings.agent``, else the reference agent; see :mod:`voicelab.bot.agent`).

    Raises:
        ConfigError: The agent does not import (the message names ``VOICELAB_AGENT``), or
            ``VOICELAB_OTLP_ENDPOINT`` is set without the ``otel`` extra installed.
    """
    # Imported here, once: a broken agent stops the server, not each call.
    call_agent = load_agent(agent if agent is not None else settings.agent)
    # Calls that could not run stop the server here, not each call after it says ready.
    check_providers(settings, reference_agent=call_agent is load_agent(None))
    # Every call leaves a record: a server that cannot write one does not start.
    check_recordings_dir(settings.recordings_dir)
    # Traces (VOICELAB_OTLP_ENDPOINT): a missing extra stops the server here, not each call.
    tracing = TraceExport.from_settings(settings)
    if pool is None and pool_models(settings.providers):
        pool = ModelPool()
    state = ServerState.create(
        settings,
        pool,
        port if port is not None else settings.port,
        agent=call_agent,
        tracing=tracing,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.pool is not None:
            # Warm every model before the first call, off the event loop.
            models = pool_models(settings.providers)
            if models:
                await asyncio.to_thread(state.pool.warm, models)
        if state.tracing is not None:
            state.tracing.start()  # once per server start, not per call
        yield
        # Calls still live (an ASGI server that closes no websockets first): end them
        # with reason `shutdown` and complete records. CallServer/`voicelab serve` have
        # already done so before uvicorn closed the websockets (see runner.GracefulServer).
        try:
            await end_live_calls(app)
            await state.aclose()
        finally:
            if state.tracing is not None:
                # Last: every call's spans have ended. Bounded, and off the event loop.
                await asyncio.to_thread(state.tracing.close)

    warnings = security_warnings(settings)
    for warning in warnings:
        logger.warning(f"SECURITY: {warning}")
    outbound_access = ApiKeyGuard(settings, "/outbound")
    status_access = ApiKeyGuard(settings, "/call-status")
    docs_access = ApiKeyGuard(settings, "the API docs")
    dialling = OutboundGuard(settings)

    # FastAPI's own docs routes are unguarded: add_docs_routes serves them behind the key.
    app = FastAPI(
        title="voicelab call server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.voicelab = state
    add_docs_routes(app, docs_access)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )

    def call_twiml(request: Request, form: dict[str, str], direction: str) -> Response:
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

    @app.post("/", summary="Incoming-call webhook: TwiML that streams the call to /ws")
    async def incoming_call(request: Request, form: TwilioForm) -> Response:
        return call_twiml(request, form, "inbound")

    @app.post("/outbound-twiml", summary="Outbound-call webhook: the same TwiML, outbound")
    async def outbound_twiml(request: Request, form: TwilioForm) -> Response:
        return call_twiml(request, form, "outbound")

    @app.post(
        "/outbound",
        summary="Place an outbound call through Twilio",
        responses={**AUTH_RESPONSES, **OUTBOUND_RESPONSES},
    )
    async def outbound(
        body: OutboundCallRequest,
        request: Request,
        # A default, not Annotated: the guard is local, and annotations are strings here.
        caller: Client = Depends(outbound_access),  # noqa: B008
    ) -> dict[str, Any]:
        from_number = body.from_number or settings.twilio_phone_number
        if not from_number:
            raise HTTPException(422, "from_number is required when TWILIO_PHONE_NUMBER is not set")
        base = state.public_url.base(request)
        webhook_url = f"{base}/outbound-twiml"
        client = _twilio_or_503(state)
        try:
            # Every rule before the SDK: nothing refused ever reaches Twilio.
            dialling.admit(body.to_number, caller.identity, state.registry.reserved_count)
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
                status_callback_event=STATUS_EVENTS,
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

    @app.get(
        "/call-status/{call_sid}",
        summary="A call's status, from Twilio",
        responses=AUTH_RESPONSES,
        dependencies=[Depends(status_access)],
    )
    async def call_status(call_sid: str) -> dict[str, Any]:
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

    @app.post("/status-callback", status_code=204, summary="Twilio call-progress events")
    async def status_callback(form: TwilioForm) -> Response:
        call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "")
        if not CALL_SID.match(call_sid) or status not in CALLBACK_STATUSES:
            raise HTTPException(400, "a status callback needs CallSid and a Twilio CallStatus")
        record = state.registry.record_status(StatusEvent(call_sid, status, form))
        if record is not None:  # news (a duplicate or an unknown call's status writes nothing)
            # Answer once it is on disk: whoever reads the record next sees this status.
            await record.aflush()
        return Response(status_code=204)

    @app.get("/health", summary="Readiness; with the API key also providers, models, calls")
    async def health(credentials: BearerCredentials) -> dict[str, Any]:
        loaded = state.pool.loaded if state.pool else {}
        ready = all(loaded.get(name) for name in pool_models(settings.providers))
        problem = state.registry.health.problem
        public = {
            "status": "degraded" if problem else "ready" if ready else "starting",
            "timestamp": datetime.now(UTC).isoformat(),
            "signature_validation": state.signatures.enabled,
            "warnings": [*warnings, *([f"RECORDS: {problem}"] if problem else [])],
        }
        if not docs_access.allows(credentials):
            # What is configured (phone number, API base, load) is for the key holder only.
            return public
        return {
            **public,
            "providers": settings.providers,
            "cloud_keys_missing": settings.cloud_keys_missing(),
            "offline_models": loaded,
            "model_load_seconds": state.pool.load_seconds if state.pool else {},
            "twilio": {
                "credentials": settings.twilio_configured,
                "phone_number": settings.twilio_phone_number,
                "api_base": settings.twilio_api_base or "https://api.twilio.com",
            },
            "active_calls": state.registry.active_count,
            # Waiting for their stream or live, plus /outbound placements: what the cap counts.
            "reserved_calls": state.registry.reserved_count,
        }

    @app.websocket("/ws")
    async def media(websocket: WebSocket) -> None:
        await handle_media_stream(websocket, state)

    return app


async def end_live_calls(app: FastAPI) -> None:
    """End every live call of ``app`` with reason ``shutdown``; wait for their records."""
    state: ServerState = app.state.voicelab
    if state.registry.active_count:
        logger.info(f"shutdown: ending {state.registry.active_count} live call(s)")
    await state.registry.end_all(SHUTDOWN_REASON, timeout=SHUTDOWN_GRACE_S)


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
