"""Exceptions raised by voicelab.

Every error voicelab raises on purpose derives from :class:`VoicelabError`, so a
caller can catch one type. Every one is defined here (the modules that raise them
import them, and some re-export them where they were first defined) and exported by
``voicelab`` itself (``from voicelab import OutboundRefused``)::

    VoicelabError
    ├── ConfigError          a setting is missing or invalid (names the variable)
    ├── InvalidArgumentError an argument passed to voicelab is malformed (also a ValueError)
    ├── NotFoundError        a call, column or key asked for does not exist (also a KeyError)
    ├── ProviderError        a speech/LLM provider cannot be built or used
    │   ├── MissingDependencyError   an optional package is not installed
    │   └── ToolMockError            a scenario's mocked function fails, as the scenario says
    ├── TelephonyError       Twilio REST, TwiML or signature problems
    │   ├── TwilioRequestError       Twilio (or the emulator) refused a request
    │   └── MediaMessageError        not a valid Media Streams message (telephony.media)
    ├── OutboundRefused      /outbound refuses a call: a dialling rule (server.dialling)
    ├── ServerRequestError   a voicelab call server refused a client's request (its status)
    ├── CallRecordError      a call directory is malformed or cannot be written
    │   └── MalformedCall            a call directory cannot be loaded (analysis)
    ├── ScenarioError        a scenario file is invalid (names file, field, line)
    │   └── CheckRefused             a pipecat eval check a phone line cannot observe
    ├── SweepError           a sweep file is invalid (names file, field, line), or cannot run
    └── CarrierError         the Twilio emulator (simulator.carrier) cannot do what was asked
        ├── TwilioApiError           a REST request it answers with Twilio's error body
        ├── WebhookError             a webhook it could not deliver (unreachable, non-2xx)
        └── TwimlError               TwiML it cannot run (also a ValueError)

Pydantic validators still raise ``ValueError`` (pydantic turns it into a
``ValidationError``, which voicelab reports as :class:`ConfigError` or
:class:`ScenarioError`); private control-flow exceptions never leave their module.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CallRecordError",
    "CarrierError",
    "CheckRefused",
    "ConfigError",
    "InvalidArgumentError",
    "MalformedCall",
    "MediaMessageError",
    "MissingDependencyError",
    "NotFoundError",
    "OutboundRefused",
    "ProviderError",
    "ScenarioError",
    "ServerRequestError",
    "SweepError",
    "TelephonyError",
    "ToolMockError",
    "TwilioApiError",
    "TwilioRequestError",
    "TwimlError",
    "VoicelabError",
    "WebhookError",
]


class VoicelabError(Exception):
    """Base class of every error voicelab raises on purpose."""


class ConfigError(VoicelabError):
    """A setting is missing or invalid; the message names the variable."""


class InvalidArgumentError(VoicelabError, ValueError):
    """An argument passed to voicelab is malformed or out of range; the message says which.

    Also a :class:`ValueError`, the Python convention for a bad argument value.
    """


class NotFoundError(VoicelabError, KeyError):
    """A call, column or other key asked for does not exist; the message names it.

    Also a :class:`KeyError`, so a lookup that fails reads like a mapping's.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument; these messages are sentences.
        return str(self.args[0]) if self.args else ""


class ProviderError(VoicelabError):
    """A speech, language or voice provider cannot be built or used."""


class MissingDependencyError(ProviderError):
    """An optional dependency is not installed; the message says what to install."""


class ToolMockError(ProviderError):
    """A mocked function's ``error:`` (voicelab.mocks): the agent's function failed, on purpose."""


class TelephonyError(VoicelabError):
    """A Twilio-side problem: REST, TwiML or signatures."""


class TwilioRequestError(TelephonyError):
    """Twilio (or the emulator) refused or failed a REST request.

    Attributes:
        status: The HTTP status Twilio answered with, if any.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MediaMessageError(TelephonyError):
    """A websocket message that is not a valid Twilio Media Streams message."""


class OutboundRefused(VoicelabError):
    """``/outbound`` refuses this call; the message names the rule.

    Attributes:
        status: The HTTP status to answer with (403, 429 or 503).
        headers: Extra response headers (``Retry-After`` for 429).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class CallRecordError(VoicelabError):
    """A call directory is malformed, half-written or cannot be written."""


class MalformedCall(CallRecordError):
    """A call directory cannot be loaded; the message names the path."""


class ScenarioError(VoicelabError):
    """A scenario file is invalid; the message names the file, the field and the line."""


class CheckRefused(ScenarioError):
    """An expectation or metric a phone line cannot check; the caller adds where it is."""


class SweepError(VoicelabError):
    """A sweep file is invalid (the message names the file, the field and the line), or a
    sweep cannot run (e.g. its Ray cluster cannot be reached)."""


class ServerRequestError(VoicelabError):
    """A voicelab call server refused or failed a request.

    Attributes:
        status: The HTTP status the server answered with, if any.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CarrierError(VoicelabError):
    """The Twilio emulator cannot do what was asked (not started, unknown call, bad TwiML...)."""


class TwilioApiError(CarrierError):
    """A REST error answered with Twilio's JSON error body.

    Args:
        status: HTTP status code.
        code: Twilio error code (https://www.twilio.com/docs/errors/<code>).
        message: Human-readable message.
    """

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body Twilio sends with this error."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


class WebhookError(CarrierError):
    """A webhook request failed: unreachable, timed out or answered with non-2xx."""


class TwimlError(CarrierError, ValueError):
    """A TwiML document cannot be parsed or executed."""
