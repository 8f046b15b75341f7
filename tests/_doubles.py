"""Test doubles for what the tests cannot reach: Twilio's REST API, faked at the HTTP layer.

Each double is a real FastAPI app (serve it with ``helpers.serve_app``) answering the way
the twilio SDK expects: JSON bodies, Twilio's error shape, the SDK's paths. They record
what reached them, so a test can assert that a refused request never did. The
``twilio_api`` fixture (``tests/conftest.py``) serves :func:`fake_twilio` per module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

__all__ = [
    "ACCOUNT",
    "KNOWN_CALL",
    "SERVER_COLUMNS",
    "TOKEN",
    "UNREACHABLE",
    "WEBHOOK_FORM",
    "fake_twilio",
    "not_found_twilio",
    "signed",
    "updating_twilio",
]

ACCOUNT = "AC" + "a" * 32
"""The account :func:`fake_twilio` serves (servers under test are configured with it)."""
TOKEN = "test-auth-token"
"""Its auth token: what signs (and checks) the webhooks of those servers."""
KNOWN_CALL = "CA" + "b" * 32
"""A call :func:`fake_twilio` knows without creating it; the calls it creates get SIDs of
their own (``created[i]["Sid"]``) and can be fetched too (any other is Twilio's 404)."""
UNREACHABLE = "+15550009999"
"""A number :func:`fake_twilio` refuses to call (Twilio's 21211, invalid ``To``)."""

WEBHOOK_FORM = {"CallSid": KNOWN_CALL, "From": "+15557770000", "To": "+15550001111"}
"""An incoming-call webhook's form, as Twilio posts it for :data:`KNOWN_CALL`."""

_CALLS = "/2010-04-01/Accounts/{account}/Calls.json"
_CALL = "/2010-04-01/Accounts/{account}/Calls/{sid}.json"
_NOT_FOUND = {"code": 20404, "message": "The requested resource was not found", "status": 404}

SERVER_COLUMNS = [
    "v2v_server_s",
    "vad_stop_s",
    "stt_s",
    "turn_end_s",
    "llm_ttft_s",
    "tts_ttfa_s",
    "transport_s",
    "user_started_t",
    "user_stopped_t",
    "stt_final_t",
    "bot_started_t",
    "bot_stopped_t",
]
"""``turns_df``'s columns only a voicelab server's record fills: empty for a black-box agent."""


def signed(url: str, params: dict[str, str] | None = None) -> dict[str, str]:
    """The ``X-Twilio-Signature`` header Twilio would send with ``params`` to ``url``."""
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params or {})}


def fake_twilio() -> tuple[FastAPI, list[dict[str, Any]]]:
    """Twilio's Calls API as the SDK sees it: JSON over HTTP, Basic auth, error bodies.

    Returns:
        The app, and the list it appends every call creation's form to (with the
        ``Sid`` it answered).
    """
    app = FastAPI()
    created: list[dict[str, Any]] = []
    call = {
        "sid": KNOWN_CALL,
        "account_sid": ACCOUNT,
        "status": "completed",
        "direction": "outbound-api",
        "to": "+15550002222",
        "from": "+15550001111",
        "from_formatted": "(555) 000-1111",
        "duration": "42",
        "start_time": "Mon, 01 Jun 2026 10:30:00 +0000",
        "end_time": "Mon, 01 Jun 2026 10:30:42 +0000",
    }

    @app.post(_CALLS)
    async def create(account: str, request: Request) -> JSONResponse:
        form = await request.form()
        # Each call Twilio creates has a SID of its own (the server holds a slot per SID).
        sid = f"CA{len(created) + 1:032x}"
        created.append({k: form.getlist(k) for k in form} | {"Sid": [sid]})
        if form["To"] == UNREACHABLE:
            error = {"code": 21211, "message": f"Invalid 'To' Phone Number: {UNREACHABLE}"}
            return JSONResponse({**error, "status": 400}, status_code=400)
        body = {**call, "sid": sid, "status": "queued", "to": form["To"]}
        return JSONResponse(body, status_code=201)

    @app.get(_CALL)
    async def fetch(account: str, sid: str) -> JSONResponse:
        placed = next((c for c in created if c["Sid"] == [sid]), None)
        if sid != KNOWN_CALL and placed is None:
            return JSONResponse(_NOT_FOUND, status_code=404)
        return JSONResponse({**call, "sid": sid, **({"to": placed["To"][0]} if placed else {})})

    return app, created


def not_found_twilio() -> tuple[FastAPI, list[dict[str, Any]]]:
    """A Twilio REST API that has never heard of any call: every update is a 404.

    Returns:
        The app, and the list it appends every update's form (with its ``call_sid``) to.
    """
    app = FastAPI()
    updates: list[dict[str, Any]] = []

    @app.post(_CALL)
    async def update(account: str, sid: str, request: Request) -> JSONResponse:
        updates.append({"call_sid": sid, **dict(await request.form())})
        return JSONResponse(_NOT_FOUND, status_code=404)

    return app, updates


def updating_twilio() -> tuple[FastAPI, list[dict[str, Any]]]:
    """A Twilio REST API where every call exists and takes every update (``calls(sid).update``).

    It answers what Twilio answers (the call, 200) and changes nothing: no stream stops, no
    call ends. For what a bot asks of Twilio during a call (a transfer's ``Twiml``, a
    hang-up's ``Status``), when no emulator is needed to carry it out.

    Returns:
        The app, and the list it appends every update's form to (with its ``call_sid`` and
        when it came, ``at``).
    """
    app = FastAPI()
    updates: list[dict[str, Any]] = []

    @app.post(_CALL)
    async def update(account: str, sid: str, request: Request) -> JSONResponse:
        form = dict(await request.form())
        updates.append({"call_sid": sid, "at": datetime.now(UTC), **form})
        status = form.get("Status", "in-progress")
        body = {"sid": sid, "account_sid": account, "status": status, "direction": "inbound"}
        return JSONResponse({**body, "to": "+15550001111", "from": "+15557770000"})

    return app, updates
