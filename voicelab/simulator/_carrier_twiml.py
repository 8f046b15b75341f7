"""TwiML, as far as the carrier executes it.

The carrier runs the verbs that decide where a call goes and what its parties hear:
``<Connect><Stream>`` (open a media stream), ``<Dial>`` (bridge to another number),
``<Say>``, ``<Play>``, ``<Pause>``, ``<Redirect>`` and ``<Hangup>``. Verbs the emulator
cannot run (``<Gather>``, ``<Record>``...) are skipped with a warning, so a document that
uses them still runs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

from loguru import logger

from voicelab.errors import TwimlError
from voicelab.telephony.ids import is_e164

__all__ = [
    "MAX_TWIML_BYTES",
    "Connect",
    "Dial",
    "Hangup",
    "Pause",
    "Play",
    "Redirect",
    "Say",
    "TwimlError",
    "Verb",
    "normalize_number",
    "parse_twiml",
]


# Twilio refuses TwiML documents larger than 64 kB.
MAX_TWIML_BYTES = 64 * 1024
_PAUSE_MAX_S = 600.0
_MAX_LOOPS = 1000  # loop="0" is "until the call ends": bounded, a call ends anyway
_DIAL_TIMEOUT_MAX_S = 600.0
_PLAY_DIGITS = re.compile(r"^[0-9*#wW]+$")


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
class Say:
    """``<Say loop=...>text</Say>``: the party hears ``text`` spoken ``loop`` times."""

    text: str
    loop: int = 1


@dataclass(frozen=True)
class Play:
    """``<Play loop=...>url</Play>`` or ``<Play digits="1w2"/>`` (DTMF tones, ``w`` a pause)."""

    url: str | None = None
    digits: str | None = None
    loop: int = 1


@dataclass(frozen=True)
class Dial:
    """``<Dial timeout action method callerId timeLimit>+1...</Dial>`` (or one ``<Number>``).

    Attributes:
        number: The E.164 number dialled (None when the document named none the emulator
            can ring: then ``problem`` says why, and the dial fails as Twilio's would).
        problem: Why nothing can be rung (another noun, an invalid number...).
    """

    number: str | None
    timeout_s: float = 30.0
    action: str | None = None
    method: str = "POST"
    caller_id: str | None = None
    time_limit_s: float = 14400.0
    problem: str | None = None


Verb = Connect | Redirect | Pause | Hangup | Say | Play | Dial

_UNSUPPORTED_VERBS = frozenset(
    {"Gather", "Record", "Enqueue", "Leave", "Start", "Stop", "Refer", "Pay", "Prompt", "Sms"}
)
_DIAL_NOUNS = frozenset(
    {"Number", "Client", "Sip", "Conference", "Queue", "Application", "WhatsApp"}
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
    if tag == "Dial":
        return _parse_dial(element)
    if tag == "Redirect":
        url = (element.text or "").strip()
        if not url:
            raise TwimlError("<Redirect> needs a URL")
        return Redirect(url=url, method=_method(element.get("method"), "<Redirect>"))
    if tag == "Pause":
        return Pause(length_s=_seconds(element.get("length", "1"), "<Pause length>", _PAUSE_MAX_S))
    if tag in ("Hangup", "Reject"):
        return Hangup()
    if tag == "Say":
        return Say(text=" ".join((element.text or "").split()), loop=_loop(element, "<Say>"))
    if tag == "Play":
        return _parse_play(element)
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


def _parse_play(element: ET.Element) -> Play:
    digits = (element.get("digits") or "").strip() or None
    url = (element.text or "").strip() or None
    if digits is not None and not _PLAY_DIGITS.match(digits):
        raise TwimlError(f"<Play digits> takes 0-9, *, # and w, got {digits!r}")
    if (digits is None) == (url is None):
        raise TwimlError("<Play> needs either a URL or a digits attribute")
    return Play(url=url, digits=digits, loop=_loop(element, "<Play>"))


def _parse_dial(element: ET.Element) -> Dial:
    dial = Dial(
        number=None,
        timeout_s=_seconds(element.get("timeout", "30"), "<Dial timeout>", _DIAL_TIMEOUT_MAX_S),
        action=(element.get("action") or "").strip() or None,
        method=_method(element.get("method"), "<Dial>"),
        caller_id=(element.get("callerId") or "").strip() or None,
        time_limit_s=_seconds(element.get("timeLimit", "14400"), "<Dial timeLimit>", 86400),
    )
    nouns = [child for child in element if child.tag in _DIAL_NOUNS]
    text = (element.text or "").strip()
    if not nouns:
        if not text:
            raise TwimlError("<Dial> needs a number (its text or a <Number>)")
        return _dial_number(text, dial)
    others = sorted({noun.tag for noun in nouns if noun.tag != "Number"})
    if others:
        problem = f"<Dial><{others[0]}> is not emulated (only <Number> and a plain number are)"
        return replace(dial, problem=problem)
    if len(nouns) > 1:
        # Twilio rings up to ten <Number>s at once; the emulator rings one.
        return replace(dial, problem="<Dial> with several <Number>s is not emulated")
    return _dial_number((nouns[0].text or "").strip(), dial)


def _dial_number(text: str, dial: Dial) -> Dial:
    number = normalize_number(text)
    if number is None:
        return replace(dial, problem=f"<Dial> number {text!r} is not one Twilio could ring")
    return replace(dial, number=number)


def normalize_number(text: str) -> str | None:
    """``text`` as E.164, as Twilio reads a dialled number (``415-123-4567`` is US)."""
    compact = re.sub(r"[\s().-]", "", text)
    # [0-9], never isdigit(): that takes every Unicode digit (telephony/ids.py says why).
    if re.fullmatch(r"[0-9]{10}", compact):
        compact = "+1" + compact
    elif re.fullmatch(r"1[0-9]{10}", compact):
        compact = "+" + compact
    return compact if is_e164(compact) else None


def _loop(element: ET.Element, where: str) -> int:
    raw = element.get("loop", "1")
    try:
        loop = int(raw)
    except ValueError as exc:
        raise TwimlError(f"{where} loop must be a whole number, got {raw!r}") from exc
    if not 0 <= loop <= _MAX_LOOPS:
        raise TwimlError(f"{where} loop must be between 0 and {_MAX_LOOPS}, got {raw!r}")
    return loop or _MAX_LOOPS  # 0: until the call ends


def _method(value: str | None, where: str) -> str:
    method = (value or "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"{where} method must be GET or POST, got {value!r}")
    return method


def _seconds(value: str, where: str, maximum: float) -> float:
    try:
        length = float(value)
    except ValueError as exc:
        raise TwimlError(f"{where} must be a number, got {value!r}") from exc
    if not 0 <= length <= maximum:
        raise TwimlError(f"{where} must be between 0 and {maximum:g}, got {value!r}")
    return length
