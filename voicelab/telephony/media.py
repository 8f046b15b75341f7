"""Twilio Media Streams messages (Twilio → server), validated before anything uses them.

The websocket is open to the internet, so every message is outside input: it must be
text, JSON, one of Twilio's events with the right field types, and (for ``media``) a
strict-base64 payload of a sensible size. :func:`parse_message` turns a raw websocket
message into one of the models below or raises :class:`MediaMessageError`; unknown
events parse as :class:`UnknownMessage` (Twilio may add events; they are not errors).

Shapes: see ``docs/DESIGN.md`` section 6.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from voicelab.errors import TelephonyError
from voicelab.telephony.ids import CALL_SID_PATTERN, STREAM_SID_PATTERN

__all__ = [
    "FRAME_BYTES",
    "MAX_MEDIA_PAYLOAD_BYTES",
    "ConnectedMessage",
    "DtmfMessage",
    "MarkMessage",
    "MediaMessage",
    "MediaMessageError",
    "StartMessage",
    "StopMessage",
    "UnknownMessage",
    "parse_message",
]

FRAME_BYTES = 160
"""One Twilio media frame: 20 ms of 8 kHz mu-law."""

MAX_MEDIA_PAYLOAD_BYTES = 50 * FRAME_BYTES
"""The largest decoded media payload accepted (1 s of audio; Twilio sends 20 ms)."""

_KNOWN_EVENTS = frozenset({"connected", "start", "media", "dtmf", "mark", "stop"})


class MediaMessageError(TelephonyError):
    """A websocket message that is not a valid Twilio Media Streams message."""


class _Message(BaseModel):
    # Twilio adds fields over time: extra keys are ignored, declared ones are checked.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ConnectedMessage(_Message):
    """``{"event": "connected", "protocol": "Call", "version": "1.0.0"}``."""

    event: Literal["connected"]
    protocol: str | None = None
    version: str | None = None


class StartInfo(_Message):
    """The ``start`` object of a ``start`` message."""

    stream_sid: str = Field(alias="streamSid", pattern=STREAM_SID_PATTERN)
    call_sid: str = Field(alias="callSid", pattern=CALL_SID_PATTERN)
    account_sid: str | None = Field(default=None, alias="accountSid")
    tracks: list[str] = Field(default_factory=list)
    custom_parameters: dict[str, str] = Field(default_factory=dict, alias="customParameters")


class StartMessage(_Message):
    """``start``: the stream's SIDs and the TwiML's ``<Parameter>`` values."""

    event: Literal["start"]
    start: StartInfo


class MediaPayload(_Message):
    """The ``media`` object: one chunk of caller audio."""

    payload: bytes = Field(min_length=1, max_length=MAX_MEDIA_PAYLOAD_BYTES)
    track: str | None = None

    @field_validator("payload", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> bytes:
        if not isinstance(value, str):
            raise ValueError("payload must be a base64 string")
        try:
            # validate=True: stock b64decode silently skips non-alphabet characters.
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("payload is not valid base64") from None


class MediaMessage(_Message):
    """``media``: caller audio."""

    event: Literal["media"]
    stream_sid: str | None = Field(default=None, alias="streamSid")
    media: MediaPayload


class DtmfInfo(_Message):
    digit: str = Field(min_length=1, max_length=1)


class DtmfMessage(_Message):
    """``dtmf``: a key the caller pressed."""

    event: Literal["dtmf"]
    dtmf: DtmfInfo


class MarkInfo(_Message):
    name: str = Field(max_length=256)


class MarkMessage(_Message):
    """``mark``: audio sent before a mark has played."""

    event: Literal["mark"]
    mark: MarkInfo


class StopMessage(_Message):
    """``stop``: the stream ended."""

    event: Literal["stop"]


class UnknownMessage(_Message):
    """Well-formed JSON with an event Twilio does not document (ignored, not an error)."""

    event: str


_Known = Annotated[
    ConnectedMessage | StartMessage | MediaMessage | DtmfMessage | MarkMessage | StopMessage,
    Field(discriminator="event"),
]
_KNOWN = TypeAdapter[Any](_Known)

InboundMessage = (
    ConnectedMessage
    | StartMessage
    | MediaMessage
    | DtmfMessage
    | MarkMessage
    | StopMessage
    | UnknownMessage
)


def parse_message(data: str | bytes) -> InboundMessage:
    """Validate one raw websocket message from Twilio.

    Raises:
        MediaMessageError: Binary frame, not JSON, not an object with a string
            ``event``, or a known event with a wrong shape. The message is short and
            never repeats the payload (it may hold anything).
    """
    if not isinstance(data, str):
        raise MediaMessageError("binary frame (Twilio sends text)")
    try:
        head = UnknownMessage.model_validate_json(data)
    except ValidationError:
        raise MediaMessageError("not a JSON object with a string 'event'") from None
    if head.event not in _KNOWN_EVENTS:
        return head
    try:
        message: InboundMessage = _KNOWN.validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MediaMessageError(f"bad '{head.event}' message: {where}: {first['msg']}") from None
    return message
