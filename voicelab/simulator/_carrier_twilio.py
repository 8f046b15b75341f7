"""Twilio's wire shapes for the carrier: sids, dates, error bodies and the Call resource.

Everything here mirrors what Twilio's 2010-04-01 REST API puts on the wire, so the
official twilio SDK (and pipecat's serializer) parse the emulator's answers unchanged.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from voicelab.errors import TwilioApiError
from voicelab.telephony.ids import FINAL_CALL_STATUSES, is_e164

__all__ = [
    "API_VERSION",
    "TERMINAL_STATUSES",
    "CarrierCall",
    "TwilioApiError",
    "is_e164",
    "is_http_url",
    "new_sid",
    "rfc2822",
]

API_VERSION = "2010-04-01"

# Statuses a Call resource can have (twilio SDK: CallInstance.Status). "initiated" is only
# a status-callback event, never a resource status; it still shows in status_history.
TERMINAL_STATUSES = FINAL_CALL_STATUSES  # the carrier's name for them


def new_sid(prefix: str) -> str:
    """A Twilio-style sid: two-letter prefix and 32 lowercase hex digits."""
    return prefix + uuid.uuid4().hex


def rfc2822(moment: datetime | None) -> str | None:
    """Format a UTC datetime the way Twilio does (``Tue, 25 Nov 2025 10:33:00 +0000``)."""
    if moment is None:
        return None
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def is_http_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host, as Twilio requires."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(eq=False)
class CarrierCall:
    """One call the carrier knows about: Twilio's Call resource plus emulator state.

    Read it for assertions; the carrier owns it and is the only writer.

    Attributes:
        sid: ``CA`` + 32 hex.
        account_sid: Owning account.
        to: Called number.
        from_: Calling number.
        direction: ``outbound-api`` (REST-created) or ``inbound`` (:meth:`Carrier.ring`).
        status: Current Twilio resource status.
        status_history: Progress as delivered, including the ``initiated`` event; a status is
            appended once its status callback (if any) has been sent.
        url: Where the call's TwiML is fetched (None when created with inline TwiML).
        method: HTTP method for ``url``.
        twiml: Inline TwiML given on create, if any.
        status_callback: Status callback URL, if any.
        status_callback_method: HTTP method for status callbacks.
        status_callback_events: Events that trigger a status callback.
        scenario: Opaque object handed to the answerer.
        stream_sid: Sid of the last media stream opened (``MZ`` + 32 hex).
        custom_parameters: ``<Parameter>`` values of the last ``<Stream>``.
        errors: Human-readable failures seen while running the call.
        duration_s: Exact answered duration in seconds, once ended.
        amd: Answering machine detection asked for on create (``MachineDetection``...).
        answered_by: Its result (Twilio's ``AnsweredBy``), once known.
        ended_by: Who ended the answered call: ``bot``, ``caller`` or ``carrier``.
        end_how: How (``recording.contract.HangupHow``: ``rest``, ``hung_up``...).
        transferred_to: The number of the last ``<Dial>``.
        transfer_status: How that leg ended (``DialCallStatus``).
    """

    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str
    status: str
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()
    time_limit_s: float = 4 * 3600.0
    timeout_s: float = 60.0
    scenario: Any = None
    status_history: list[str] = field(default_factory=list)
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    start_time: datetime | None = None
    end_time: datetime | None = None
    answered_at: float | None = None  # time.monotonic(), for the duration
    duration_s: float | None = None
    stream_sid: str | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # Set when the call must stop what it is doing: REST hang-up, redirect or time limit.
    interrupt: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    hangup_status: str | None = None  # the terminal status a hang-up asked for
    redirect: tuple[str | None, str, str | None] | None = None  # (url, method, twiml)
    amd: Any = None  # _carrier_amd.AmdSettings: kept opaque here, this module is wire shapes
    answered_by: str | None = None
    ended_by: str | None = None
    end_how: str | None = None
    transferred_to: str | None = None
    transfer_status: str | None = None
    created_mono: float = field(default_factory=time.monotonic, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def ended(self) -> bool:
        """Whether the resource status is terminal."""
        return self.status in TERMINAL_STATUSES

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"

    def touch(self) -> None:
        self.date_updated = datetime.now(UTC)

    def end(self, status: str) -> None:
        """Make the resource final: ``status``, ``end_time`` and duration (first call wins)."""
        if self.ended:
            return
        self.status = status
        self.end_time = datetime.now(UTC)
        if self.answered_at is not None:
            self.duration_s = time.monotonic() - self.answered_at
        self.touch()

    def end_by(self, by: str, how: str) -> None:
        """Note who ended the call and how; the first to end it wins."""
        if self.ended_by is None:
            self.ended_by, self.end_how = by, how

    def mark_progress(self, status: str) -> None:
        """Record ``status`` as delivered and wake :meth:`Carrier.wait_for_status` waiters."""
        self.status_history.append(status)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    @property
    def changed(self) -> asyncio.Event:
        """An event set by the next :meth:`mark_progress` (take it before checking)."""
        return self._changed

    def to_resource(self) -> dict[str, Any]:
        """The Call resource as Twilio's JSON (snake_case, RFC 2822 dates, string duration)."""
        duration: str | None = None
        if self.ended:
            duration = str(round(self.duration_s or 0.0))
        base = self.uri[: -len(".json")]
        return {
            "sid": self.sid,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "parent_call_sid": None,
            "account_sid": self.account_sid,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "phone_number_sid": None,
            "status": self.status,
            "start_time": rfc2822(self.start_time),
            "end_time": rfc2822(self.end_time),
            "duration": duration,
            "price": None,
            "price_unit": "USD",
            "direction": self.direction,
            "answered_by": self.answered_by,
            "annotation": None,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": self.uri,
            "subresource_uris": {
                name: f"{base}/{name.title().replace('_', '')}.json"
                for name in (
                    "notifications",
                    "recordings",
                    "payments",
                    "events",
                    "siprec",
                    "streams",
                    "user_defined_message_subscriptions",
                    "user_defined_messages",
                )
            },
        }

    def webhook_params(self, call_status: str) -> dict[str, str]:
        """The form fields Twilio sends with every voice webhook for this call
        (``AnsweredBy`` once answering machine detection has decided)."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "CallStatus": call_status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
        }
        if self.answered_by is not None:
            params["AnsweredBy"] = self.answered_by
        return params
