"""Twilio identifiers: the one home of the patterns that validate them.

Every SID Twilio sends is two letters naming the resource and 32 hex digits. Any
identifier that arrives from outside (a webhook form, a URL path, a Media Streams
``start``) is checked against these before it names a file or a call.
"""

from __future__ import annotations

import re

__all__ = ["CALL_SID", "CALL_SID_PATTERN", "STREAM_SID", "is_call_sid", "is_stream_sid"]

CALL_SID_PATTERN = r"^CA[0-9a-fA-F]{32}$"
"""A CallSid as a pattern string, for pydantic / FastAPI ``pattern=`` (Rust regex: ``$`` is
the very end there)."""

# \A...\Z, not ^...$: Python's "$" also matches before a trailing newline, and a CallSid
# with a newline would still pass `.match` and then name a directory.
CALL_SID = re.compile(r"\ACA[0-9a-fA-F]{32}\Z")
STREAM_SID = re.compile(r"\AMZ[0-9a-fA-F]{32}\Z")


def is_call_sid(value: object) -> bool:
    """Whether ``value`` is a string shaped like a Twilio CallSid."""
    return isinstance(value, str) and CALL_SID.match(value) is not None


def is_stream_sid(value: object) -> bool:
    """Whether ``value`` is a string shaped like a Media Streams StreamSid."""
    return isinstance(value, str) and STREAM_SID.match(value) is not None
