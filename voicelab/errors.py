"""Exceptions raised by voicelab.

Every error voicelab raises on purpose derives from :class:`VoicelabError`, so a
caller can catch one type::

    VoicelabError
    ├── ConfigError          a setting is missing or invalid (names the variable)
    ├── ProviderError        a speech/LLM provider cannot be built or used
    │   └── MissingDependencyError   an optional package is not installed
    ├── TelephonyError       Twilio REST, TwiML or signature problems
    │   └── TwilioRequestError       Twilio (or the emulator) refused a request
    ├── CallRecordError      a call directory is malformed or cannot be written
    └── ScenarioError        a scenario file is invalid (names file, field, line)
"""

from __future__ import annotations

__all__ = [
    "CallRecordError",
    "ConfigError",
    "MissingDependencyError",
    "ProviderError",
    "ScenarioError",
    "TelephonyError",
    "TwilioRequestError",
    "VoicelabError",
]


class VoicelabError(Exception):
    """Base class of every error voicelab raises on purpose."""


class ConfigError(VoicelabError):
    """A setting is missing or invalid; the message names the variable."""


class ProviderError(VoicelabError):
    """A speech, language or voice provider cannot be built or used."""


class MissingDependencyError(ProviderError):
    """An optional dependency is not installed; the message says what to install."""


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


class CallRecordError(VoicelabError):
    """A call directory is malformed, half-written or cannot be written."""


class ScenarioError(VoicelabError):
    """A scenario file is invalid; the message names the file, the field and the line."""
