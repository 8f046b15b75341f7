"""Twilio identifiers, numbers, call statuses and dial outcomes: the one home of their definitions.

Every SID Twilio sends is two letters naming the resource and 32 hex digits; a phone
number is E.164. Any identifier that arrives from outside (a webhook form, a URL path, a
Media Streams ``start``) is checked against these before it names a file or a call.

This module imports nothing of voicelab, so :mod:`voicelab.config` may import it too.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Literal, get_args

__all__ = [
    "CALLBACK_STATUSES",
    "CALL_SID",
    "CALL_SID_PATTERN",
    "CALL_STATUSES",
    "CALL_STATUS_ORDER",
    "DEFAULT_TWILIO_NUMBER",
    "DIAL_OUTCOMES",
    "DIAL_OUTCOME_STATUS",
    "E164",
    "E164_NUMBER",
    "E164_PATTERN",
    "E164_PREFIX",
    "FINAL_CALL_STATUSES",
    "STATUS_CALLBACK_EVENTS",
    "STREAM_SID",
    "STREAM_SID_PATTERN",
    "CallStatus",
    "DialOutcome",
    "is_call_sid",
    "is_e164",
    "is_e164_prefix",
    "is_stream_sid",
]

DEFAULT_TWILIO_NUMBER = "+15550001000"
"""The agent's number when ``TWILIO_PHONE_NUMBER`` is unset (the lab's and load callers' To)."""

CALL_SID_PATTERN = r"^CA[0-9a-fA-F]{32}$"
"""A CallSid as a pattern string, for pydantic / FastAPI ``pattern=`` (Rust regex: ``$`` is
the very end there)."""

STREAM_SID_PATTERN = r"^MZ[0-9a-fA-F]{32}$"
"""A Media Streams StreamSid as a pattern string (see :data:`CALL_SID_PATTERN`)."""

# \A...\Z, not ^...$: Python's "$" also matches before a trailing newline, and a CallSid
# with a newline would still pass `.match` and then name a directory.
CALL_SID = re.compile(r"\ACA[0-9a-fA-F]{32}\Z")
STREAM_SID = re.compile(r"\AMZ[0-9a-fA-F]{32}\Z")

# [0-9], never \d: \d is every Unicode digit (in ``re`` and in pydantic's Rust engine), and
# "+1９００5550100" (fullwidth) would pass as a number, then miss every prefix rule, which
# compares ASCII strings: a premium-rate call through the toll-fraud guard.
E164_NUMBER = r"\+[1-9][0-9]{6,14}"
"""An E.164 phone number, unanchored: ``+`` and 7 to 15 ASCII digits, no leading zero."""

E164_PATTERN = rf"^{E164_NUMBER}$"
"""A whole value that is an E.164 number (for pydantic/FastAPI ``pattern=``)."""

E164 = re.compile(rf"\A{E164_NUMBER}\Z")

E164_PREFIX = re.compile(r"\A\+[0-9]{1,14}\Z")
"""A dialling prefix (``+1``, ``+44``, ``+1900``): ``+`` and 1 to 14 ASCII digits."""

CallStatus = Literal[
    "queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"
]
"""The statuses a Call resource can have (twilio SDK: ``CallInstance.Status``)."""

FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
"""Statuses a call never leaves."""

CALL_STATUSES = FINAL_CALL_STATUSES | {"queued", "ringing", "in-progress"}
"""Every :data:`CallStatus`."""

CALLBACK_STATUSES = CALL_STATUSES | {"initiated"}
"""What a status callback's ``CallStatus`` may say: ``initiated`` is an event, never a
resource status."""

STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
"""The ``StatusCallbackEvent`` values voicelab asks Twilio (or the emulator) for: every
stage of a call. (The twilio SDK expands only a ``list`` into repeated form fields: pass
``list(STATUS_CALLBACK_EVENTS)`` to it.)"""

CALL_STATUS_ORDER: MappingProxyType[str, int] = MappingProxyType(
    {
        "queued": 0,
        "initiated": 1,
        "ringing": 2,
        "in-progress": 3,
        **dict.fromkeys(FINAL_CALL_STATUSES, 4),
    }
)
"""How far along a call each status is: orders callbacks that carry no ``SequenceNumber``."""

DialOutcome = Literal["answer", "busy", "no-answer", "failed"]
"""What a dialled number does: a scenario's ``outcome``, scripted at the carrier."""

DIAL_OUTCOMES: frozenset[str] = frozenset(get_args(DialOutcome))
"""Every :data:`DialOutcome`."""

DIAL_OUTCOME_STATUS: MappingProxyType[str, str] = MappingProxyType(
    {"answer": "completed", "busy": "busy", "no-answer": "no-answer", "failed": "failed"}
)
"""The final call status each :data:`DialOutcome` ends in (an answered call completes)."""


def is_call_sid(value: object) -> bool:
    """Whether ``value`` is a string shaped like a Twilio CallSid."""
    return isinstance(value, str) and CALL_SID.match(value) is not None


def is_stream_sid(value: object) -> bool:
    """Whether ``value`` is a string shaped like a Media Streams StreamSid."""
    return isinstance(value, str) and STREAM_SID.match(value) is not None


def is_e164_prefix(value: object) -> bool:
    """Whether ``value`` is a string holding one E.164 dialling prefix (``+1``, ``+1900``)."""
    return isinstance(value, str) and E164_PREFIX.match(value) is not None


def is_e164(value: object) -> bool:
    """Whether ``value`` is a string holding exactly one E.164 phone number."""
    return isinstance(value, str) and E164.match(value) is not None
