"""Twilio Media Streams messages: the one home of their shapes, both directions.

Twilio → server: the websocket is open to the internet, so every message is outside
input: it must be text, JSON, one of Twilio's events with the right field types, and (for
``media``) a strict-base64 payload of a sensible size. :func:`parse_message` turns a raw
websocket message into one of the models below or raises :class:`MediaMessageError`;
unknown events parse as :class:`UnknownMessage` (Twilio may add events; they are not errors).
:class:`TwilioStreamMessages` builds those same messages, numbered as Twilio numbers them,
for whatever plays Twilio (the simulator's caller and answerers, the tests).

Server → Twilio: :func:`parse_server_message` validates what a bot sends (``media``,
``mark``, ``clear``) for the side that plays Twilio.

Shapes: see ``docs/DESIGN.md`` section 6.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Container, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from voicelab.errors import MediaMessageError
from voicelab.telephony.ids import CALL_SID_PATTERN, STREAM_SID_PATTERN

__all__ = [
    "FRAME_BYTES",
    "MAX_MEDIA_PAYLOAD_BYTES",
    "ClearMessage",
    "ConnectedMessage",
    "DtmfMessage",
    "MarkMessage",
    "MediaMessage",
    "MediaMessageError",
    "OutboundMark",
    "OutboundMedia",
    "StartMessage",
    "StopMessage",
    "TwilioStreamMessages",
    "UnknownMessage",
    "parse_message",
    "parse_server_message",
]

FRAME_BYTES = 160
"""One Twilio media frame: 20 ms of 8 kHz mu-law."""

MAX_MEDIA_PAYLOAD_BYTES = 50 * FRAME_BYTES
"""The largest decoded media payload accepted (1 s of audio; Twilio sends 20 ms)."""

_KNOWN_EVENTS = frozenset({"connected", "start", "media", "dtmf", "mark", "stop"})


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


def _strict_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("payload must be a base64 string")
    try:
        # validate=True: stock b64decode silently skips non-alphabet characters.
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("payload is not valid base64") from None


class MediaPayload(_Message):
    """The ``media`` object: one chunk of caller audio."""

    payload: bytes = Field(min_length=1, max_length=MAX_MEDIA_PAYLOAD_BYTES)
    track: str | None = None
    # Milliseconds since the stream began, on Twilio's clock (a string on the wire): where
    # the chunk belongs in the server's recording (recording/recorder.py). Only a hint: one
    # that is not a whole number of milliseconds is ignored, never the audio with it.
    timestamp: int | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _lenient_timestamp(cls, value: object) -> int | None:
        try:
            ms = int(str(value))
        except ValueError:
            return None
        return ms if 0 <= ms <= 2**53 else None

    _decode = field_validator("payload", mode="before")(_strict_base64)


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
    message: InboundMessage = _parse(data, "Twilio sends text", _KNOWN_EVENTS, _KNOWN)
    return message


def _parse(data: str | bytes, binary: str, known: Container[str], adapter: TypeAdapter[Any]) -> Any:
    """One message checked in two steps: an object with a string ``event`` at all, then, for
    an event in ``known``, its whole shape (``adapter``); others come back as they are."""
    if not isinstance(data, str):
        raise MediaMessageError(f"binary frame ({binary})")
    try:  # the usual case, a well-formed known event (50 a second a call): one parse
        return adapter.validate_json(data)
    except ValidationError:
        pass  # unknown, or malformed: find out which, and where
    try:
        head = UnknownMessage.model_validate_json(data)
    except ValidationError:
        raise MediaMessageError("not a JSON object with a string 'event'") from None
    if head.event not in known:
        return head
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MediaMessageError(f"bad '{head.event}' message: {where}: {first['msg']}") from None


# --- building what Twilio sends ------------------------------------------------------------


class TwilioStreamMessages:
    """The messages Twilio sends on one stream, as JSON text, numbered as Twilio numbers them.

    ``connected`` carries no ``sequenceNumber``; every later message does, counting from 1
    as a string. Only well-formed messages: tests of bad input write their own.

    Args:
        stream_sid: The stream's ``MZ...`` SID.
        call_sid: The call's ``CA...`` SID.
        account_sid: The account's ``AC...`` SID.
    """

    SAMPLE_RATE = 8000

    def __init__(self, *, stream_sid: str, call_sid: str, account_sid: str) -> None:
        self.stream_sid, self.call_sid, self.account_sid = stream_sid, call_sid, account_sid
        self.sequence = 0

    def _numbered(self, message: dict[str, Any]) -> str:
        self.sequence += 1
        return json.dumps({**message, "sequenceNumber": str(self.sequence)})

    @staticmethod
    def connected() -> str:
        """``connected``: the first message of every stream."""
        return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    def start(self, custom_parameters: Mapping[str, str] | None = None) -> str:
        """``start``: the SIDs, tracks, audio format and the TwiML's ``<Parameter>`` values."""
        return self._numbered(
            {
                "event": "start",
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": self.account_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": dict(custom_parameters or {}),
                    "mediaFormat": {
                        "encoding": "audio/x-mulaw",
                        "sampleRate": self.SAMPLE_RATE,
                        "channels": 1,
                    },
                },
                "streamSid": self.stream_sid,
            }
        )

    def media(self, ulaw: bytes, *, chunk: int, timestamp_ms: int) -> str:
        """``media``: one chunk of caller audio (mu-law bytes; ``chunk`` counts from 1)."""
        return self.encoded_media(
            base64.b64encode(ulaw).decode(), chunk=chunk, timestamp_ms=timestamp_ms
        )

    def encoded_media(self, payload: str, *, chunk: int, timestamp_ms: int) -> str:
        """``media`` with a payload already base64-encoded (a load caller encodes its line
        once and sends the same strings in every call)."""
        return self._numbered(
            {
                "event": "media",
                "media": {
                    "track": "inbound",
                    "chunk": str(chunk),
                    "timestamp": str(timestamp_ms),
                    "payload": payload,
                },
                "streamSid": self.stream_sid,
            }
        )

    def dtmf(self, digit: str) -> str:
        """``dtmf``: a key the caller pressed."""
        return self._numbered(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    def mark(self, name: str) -> str:
        """``mark``: the echo of a server mark once the audio before it has played."""
        return self._numbered(
            {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}
        )

    def stop(self) -> str:
        """``stop``: the stream ended (the caller hung up)."""
        return self._numbered(
            {
                "event": "stop",
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                "streamSid": self.stream_sid,
            }
        )


# --- reading what the server sends -----------------------------------------------------------


class OutboundMediaPayload(_Message):
    # Bots send 20-100 ms chunks; 10 s bounds what one message can make the caller buffer.
    payload: bytes = Field(max_length=10 * MAX_MEDIA_PAYLOAD_BYTES)

    _decode = field_validator("payload", mode="before")(_strict_base64)


class OutboundMedia(_Message):
    """``media`` from the server: bot audio to play (mu-law, decoded)."""

    event: Literal["media"]
    stream_sid: str | None = Field(default=None, alias="streamSid")
    media: OutboundMediaPayload


class OutboundMark(_Message):
    """``mark`` from the server: echo it once the audio sent before it has played."""

    event: Literal["mark"]
    stream_sid: str | None = Field(default=None, alias="streamSid")
    mark: MarkInfo


class ClearMessage(_Message):
    """``clear``: drop the audio buffered so far and return the pending marks."""

    event: Literal["clear"]
    stream_sid: str | None = Field(default=None, alias="streamSid")


_SERVER = TypeAdapter[Any](
    Annotated[OutboundMedia | OutboundMark | ClearMessage, Field(discriminator="event")]
)
_SERVER_EVENTS = frozenset({"media", "mark", "clear"})

ServerMessage = OutboundMedia | OutboundMark | ClearMessage | UnknownMessage


def parse_server_message(data: str | bytes) -> ServerMessage:
    """Validate one raw websocket message a bot sent to Twilio.

    Raises:
        MediaMessageError: Not a JSON object with a string ``event``, or a ``media``,
            ``mark`` or ``clear`` with a wrong shape.
    """
    message: ServerMessage = _parse(data, "Twilio reads text", _SERVER_EVENTS, _SERVER)
    return message
