"""TwiML, as far as the carrier executes it.

The carrier only needs the verbs that decide where a call goes: ``<Connect><Stream>``
(open a media stream), ``<Redirect>``, ``<Pause>`` and ``<Hangup>``. Verbs that only make
sound (``<Say>``, ``<Play>``) finish at once; verbs the emulator cannot play are skipped
with a warning, so a document that uses them still runs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from loguru import logger

from voicelab.errors import CarrierError

__all__ = [
    "MAX_TWIML_BYTES",
    "Connect",
    "Hangup",
    "Pause",
    "Redirect",
    "Sound",
    "TwimlError",
    "Verb",
    "parse_twiml",
]


# Twilio refuses TwiML documents larger than 64 kB.
MAX_TWIML_BYTES = 64 * 1024
_PAUSE_MAX_S = 600.0


class TwimlError(CarrierError, ValueError):
    """A TwiML document cannot be parsed or executed."""


@dataclass(frozen=True)
class Connect:
    """``<Connect action=...><Stream url=...><Parameter/></Stream></Connect>``."""

    stream_url: str
    parameters: dict[str, str] = field(default_factory=dict)
    action: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Redirect:
    """``<Redirect method=...>url</Redirect>``."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Pause:
    """``<Pause length=...>`` (seconds, default 1)."""

    length_s: float = 1.0


@dataclass(frozen=True)
class Hangup:
    """``<Hangup/>`` (``<Reject/>`` ends the emulated call the same way)."""


@dataclass(frozen=True)
class Sound:
    """A verb that only makes sound (``<Say>``, ``<Play>``): it finishes at once."""

    name: str


Verb = Connect | Redirect | Pause | Hangup | Sound

_SOUND_VERBS = frozenset({"Say", "Play"})
_UNSUPPORTED_VERBS = frozenset(
    {"Gather", "Dial", "Record", "Enqueue", "Leave", "Start", "Stop", "Refer", "Pay", "Prompt"}
)


def parse_twiml(document: str | bytes) -> list[Verb]:
    """Parse a TwiML ``<Response>`` into the verbs the carrier executes.

    Raises:
        TwimlError: The document is too large, is not XML, or is not a ``<Response>``.
    """
    raw = document.encode() if isinstance(document, str) else document
    if len(raw) > MAX_TWIML_BYTES:
        raise TwimlError(f"TwiML document is {len(raw)} bytes; Twilio's limit is 64 kB")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"TwiML root element must be <Response>, got <{root.tag}>")
    verbs: list[Verb] = []
    for element in root:
        verb = _parse_verb(element)
        if verb is not None:
            verbs.append(verb)
    return verbs


def _parse_verb(element: ET.Element) -> Verb | None:
    tag = element.tag
    if tag == "Connect":
        return _parse_connect(element)
    if tag == "Redirect":
        url = (element.text or "").strip()
        if not url:
            raise TwimlError("<Redirect> needs a URL")
        return Redirect(url=url, method=_method(element.get("method"), "<Redirect>"))
    if tag == "Pause":
        return Pause(length_s=_pause_length(element.get("length", "1")))
    if tag in ("Hangup", "Reject"):
        return Hangup()
    if tag in _SOUND_VERBS:
        return Sound(name=tag)
    if tag in _UNSUPPORTED_VERBS:
        logger.warning("carrier: skipping <{}>, which the emulator does not run", tag)
        return None
    raise TwimlError(f"unknown TwiML verb <{tag}>")


def _parse_connect(element: ET.Element) -> Connect:
    streams = [child for child in element if child.tag == "Stream"]
    if len(streams) != 1:
        # <Connect> also takes <Room>, <Conversation>, <VirtualAgent>...; only <Stream> is
        # emulated, and Twilio allows exactly one noun inside <Connect>.
        raise TwimlError("<Connect> must hold exactly one <Stream> in the emulator")
    stream = streams[0]
    url = (stream.get("url") or "").strip()
    if not url:
        raise TwimlError("<Stream> needs a url attribute")
    parameters: dict[str, str] = {}
    for child in stream:
        if child.tag != "Parameter":
            continue
        name = child.get("name")
        if not name:
            raise TwimlError("<Parameter> needs a name attribute")
        parameters[name] = child.get("value", "")
    action = (element.get("action") or "").strip() or None
    return Connect(
        stream_url=url,
        parameters=parameters,
        action=action,
        method=_method(element.get("method"), "<Connect>"),
    )


def _method(value: str | None, where: str) -> str:
    method = (value or "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"{where} method must be GET or POST, got {value!r}")
    return method


def _pause_length(value: str) -> float:
    try:
        length = float(value)
    except ValueError as exc:
        raise TwimlError(f"<Pause length> must be a number, got {value!r}") from exc
    if not 0 <= length <= _PAUSE_MAX_S:
        raise TwimlError(f"<Pause length> must be between 0 and {_PAUSE_MAX_S:g}, got {value!r}")
    return length
