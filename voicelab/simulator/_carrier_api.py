"""The carrier's REST API: the slice of Twilio's 2010-04-01 Calls API that servers use.

Paths, HTTP Basic auth, form fields, JSON bodies and error bodies follow Twilio, so the
official twilio SDK and pipecat's hang-up call work against it unchanged. Every input is
validated into a Twilio-style 400; nothing a client sends produces a 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from voicelab.simulator._carrier_amd import amd_from_form
from voicelab.simulator._carrier_switch import Switchboard
from voicelab.simulator._carrier_twilio import (
    API_VERSION,
    CarrierCall,
    TwilioApiError,
    is_e164,
    is_http_url,
    new_sid,
)
from voicelab.simulator._carrier_twiml import TwimlError, parse_twiml

__all__ = ["build_app"]

_CALLBACK_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
_MAX_TWIML_CHARS = 4000  # Twilio's limit for the Twiml parameter
_CALLS = f"/{API_VERSION}/Accounts/{{account_sid}}/Calls.json"
_CALL = f"/{API_VERSION}/Accounts/{{account_sid}}/Calls/{{call_sid}}.json"
# calls.create fields the emulator acts on; any other is accepted, as Twilio would, and
# named in a warning: a call that asked for a recording or SendDigits gets neither here.
_CALL_FIELDS = ("To", "From", "Url", "Method", "Twiml", "Timeout", "TimeLimit")
_CALLBACK_FIELDS = ("StatusCallback", "StatusCallbackEvent", "StatusCallbackMethod")
_AMD_TUNING = ("", "Timeout", "SpeechThreshold", "SpeechEndThreshold", "SilenceTimeout")
_AMD_FIELDS = tuple(f"MachineDetection{name}" for name in _AMD_TUNING) + tuple(
    f"AsyncAmd{name}" for name in ("", "StatusCallback", "StatusCallbackMethod")
)
_CREATE_FIELDS = frozenset(_CALL_FIELDS + _CALLBACK_FIELDS + _AMD_FIELDS)


def build_app(switchboard: Switchboard, account_sid: str, auth_token: str) -> FastAPI:
    """The carrier's FastAPI app, acting on ``switchboard`` for account ``account_sid``."""
    app = FastAPI(title="voicelab carrier", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(TwilioApiError, _twilio_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.include_router(_CallsRoutes(switchboard, account_sid, auth_token).router)
    return app


class _CallsRoutes:
    """The Calls resource endpoints bound to one switchboard and one account."""

    def __init__(self, switchboard: Switchboard, account_sid: str, auth_token: str) -> None:
        self._switchboard = switchboard
        self._account_sid = account_sid
        self._auth_token = auth_token
        self.router = APIRouter()
        self.router.add_api_route(_CALLS, self.create, methods=["POST"])
        self.router.add_api_route(_CALLS, self.list_calls, methods=["GET"])
        self.router.add_api_route(_CALL, self.fetch, methods=["GET"])
        self.router.add_api_route(_CALL, self.update, methods=["POST"])

    async def create(self, account_sid: str, request: Request) -> JSONResponse:
        self._authorize(request, account_sid)
        form = await _form(request)
        call = _new_outbound_call(account_sid, form)
        self._switchboard.start(call)
        return JSONResponse(call.to_resource(), status_code=201)

    async def list_calls(self, account_sid: str, request: Request) -> JSONResponse:
        self._authorize(request, account_sid)
        query = request.query_params
        page_size = _int_field(query.get("PageSize"), "PageSize", 1, 1000, 50)
        calls = [
            call
            for call in reversed(self._switchboard.calls.values())
            if all(
                query.get(name) in (None, value)
                for name, value in (("To", call.to), ("From", call.from_), ("Status", call.status))
            )
        ][:page_size]
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        body = {
            "calls": [call.to_resource() for call in calls],
            "end": max(len(calls) - 1, 0),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }
        return JSONResponse(body)

    async def fetch(self, account_sid: str, call_sid: str, request: Request) -> JSONResponse:
        self._authorize(request, account_sid)
        return JSONResponse(self._call(request, call_sid).to_resource())

    async def update(self, account_sid: str, call_sid: str, request: Request) -> JSONResponse:
        self._authorize(request, account_sid)
        call = self._call(request, call_sid)
        form = await _form(request)
        # Validate everything before changing anything.
        status = _text(form, "Status")
        if status is not None and status not in ("completed", "canceled"):
            raise TwilioApiError(
                400, 21200, f"Status must be completed or canceled, got {status!r}"
            )
        url = _text(form, "Url")
        if url is not None and not is_http_url(url):
            raise TwilioApiError(400, 21205, f"Url is not a valid URL: {url}")
        twiml = _text(form, "Twiml")
        if twiml is not None:
            _check_twiml(twiml)
        method = _method(form, "Method")
        callback = _callback_url(form)
        callback_method = None
        if _text(form, "StatusCallbackMethod") is not None:
            callback_method = _method(form, "StatusCallbackMethod")
        redirecting = status is None and (url is not None or twiml is not None)
        if redirecting and call.status != "in-progress":
            raise TwilioApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status is None and not redirecting and callback is None and callback_method is None:
            raise TwilioApiError(400, 21200, "Nothing to update: pass Status, Url or Twiml")

        if callback is not None:
            call.status_callback = callback
        if callback_method is not None:
            call.status_callback_method = callback_method
        call.touch()
        if status is not None:
            self._switchboard.hang_up(call, status)
        elif redirecting:
            self._switchboard.redirect(call, None if twiml is not None else url, method, twiml)
        return JSONResponse(call.to_resource())

    def _authorize(self, request: Request, account_sid: str) -> None:
        """HTTP Basic auth with the account sid and auth token, as Twilio requires."""
        user, password = _basic_credentials(request.headers.get("authorization"))
        good_user = hmac.compare_digest(user.encode(), self._account_sid.encode())
        good_password = hmac.compare_digest(password.encode(), self._auth_token.encode())
        if not (good_user and good_password):
            raise TwilioApiError(401, 20003, "Authenticate")
        if account_sid != self._account_sid:
            raise TwilioApiError(404, 20404, _not_found(request))

    def _call(self, request: Request, call_sid: str) -> CarrierCall:
        call = self._switchboard.calls.get(call_sid)
        if call is None:
            raise TwilioApiError(404, 20404, _not_found(request))
        return call


def _new_outbound_call(account_sid: str, form: FormData) -> CarrierCall:
    """Validate a create-call form into a queued ``outbound-api`` call."""
    to = _text(form, "To")
    from_ = _text(form, "From")
    if not to:
        raise TwilioApiError(400, 21201, "A 'To' phone number is required.")
    if not from_:
        raise TwilioApiError(400, 21213, "A 'From' phone number is required.")
    if not is_e164(to):
        raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not is_e164(from_):
        raise TwilioApiError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
    if _text(form, "ApplicationSid") is not None:
        raise TwilioApiError(400, 21200, "ApplicationSid is not emulated; pass Url or Twiml")
    url = _text(form, "Url")
    twiml = _text(form, "Twiml")
    if url is None and twiml is None:
        raise TwilioApiError(400, 21200, "Either Url or Twiml is required.")
    if url is not None and not is_http_url(url):
        raise TwilioApiError(400, 21205, f"Url is not a valid URL: {url}")
    if twiml is not None:
        _check_twiml(twiml)
    callback = _callback_url(form)
    events = _callback_events(form)
    amd = amd_from_form(lambda name: _text(form, name))
    ignored = sorted({key for key in form if key not in _CREATE_FIELDS})
    if ignored:
        logger.warning("carrier: calls.create: {} not emulated, ignored", ", ".join(ignored))
    return CarrierCall(
        sid=new_sid("CA"),
        account_sid=account_sid,
        to=to,
        from_=from_,
        direction="outbound-api",
        status="queued",
        url=None if twiml is not None else url,  # Twilio runs Twiml over Url
        method=_method(form, "Method"),
        twiml=twiml,
        status_callback=callback,
        status_callback_method=_method(form, "StatusCallbackMethod"),
        status_callback_events=events or frozenset({"completed"}),
        timeout_s=float(_int_field(_text(form, "Timeout"), "Timeout", 1, 600, 60)),
        time_limit_s=float(_int_field(_text(form, "TimeLimit"), "TimeLimit", 1, 86400, 14400)),
        amd=amd,
    )


async def _form(request: Request) -> FormData:
    try:
        form = await request.form()
    except Exception as exc:  # malformed multipart / encoding: the client's fault, not ours
        raise TwilioApiError(400, 21200, f"Unreadable form body: {exc}") from exc
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise TwilioApiError(400, 21200, f"Parameter {key} must be text, not a file")
    return form


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _method(form: FormData, name: str) -> str:
    value = (_text(form, name) or "POST").upper()
    if value not in ("GET", "POST"):
        raise TwilioApiError(400, 21200, f"{name} must be GET or POST, got {value!r}")
    return value


def _int_field(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioApiError(400, 21200, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise TwilioApiError(400, 21200, f"{name} must be between {low} and {high}, got {value}")
    return value


def _callback_url(form: FormData) -> str | None:
    url = _text(form, "StatusCallback")
    if url is not None and not is_http_url(url):
        raise TwilioApiError(400, 21200, f"StatusCallback is not a valid URL: {url}")
    return url


def _callback_events(form: FormData) -> frozenset[str]:
    # The SDK repeats the field; TwiML habits put several events in one, space-separated.
    events = {
        event
        for value in form.getlist("StatusCallbackEvent")
        if isinstance(value, str)
        for event in value.replace(",", " ").split()
    }
    unknown = events - _CALLBACK_EVENTS
    if unknown:
        raise TwilioApiError(
            400, 21200, f"StatusCallbackEvent must be among {sorted(_CALLBACK_EVENTS)}: {unknown}"
        )
    return frozenset(events)


def _check_twiml(twiml: str) -> None:
    if len(twiml) > _MAX_TWIML_CHARS:
        raise TwilioApiError(400, 21200, f"Twiml is longer than {_MAX_TWIML_CHARS} characters")
    try:
        parse_twiml(twiml)
    except TwimlError as exc:
        raise TwilioApiError(400, 21200, f"Twiml is not valid TwiML: {exc}") from exc


def _basic_credentials(header: str | None) -> tuple[str, str]:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def _not_found(request: Request) -> str:
    return f"The requested resource {request.url.path} was not found"


async def _twilio_error(_: Request, exc: TwilioApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # Unknown paths and methods still answer in Twilio's error shape.
    code = {404: 20404, 405: 20004}.get(exc.status_code, exc.status_code)
    message = _not_found(request) if exc.status_code == 404 else str(exc.detail)
    error = TwilioApiError(exc.status_code, code, message)
    return JSONResponse(error.body(), status_code=exc.status_code)
