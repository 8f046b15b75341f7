"""voicelab settings, read from the environment and ``.env``.

The guide's variable names (``TWILIO_*``, ``OPENAI_API_KEY``...) are kept as they
are, so an existing Twilio + Pipecat project's ``.env`` works unchanged;
voicelab's own settings are prefixed ``VOICELAB_``. This is the only module that
reads the environment: everything else receives a :class:`Settings` object.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicelab.errors import ConfigError

__all__ = ["ProvidersName", "Settings", "load_settings"]

ProvidersName = Literal["cloud", "offline", "scripted"]

_E164 = r"^\+[1-9]\d{6,14}$"


def _env(name: str) -> Any:
    # validation_alias makes the field read exactly this variable (no prefix added).
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Everything voicelab can be configured with.

    Attributes:
        twilio_account_sid: ``TWILIO_ACCOUNT_SID``.
        twilio_auth_token: ``TWILIO_AUTH_TOKEN``; when set, every Twilio request is
            signature-checked.
        twilio_phone_number: ``TWILIO_PHONE_NUMBER`` (E.164), the default caller ID.
        openai_api_key / deepgram_api_key / cartesia_api_key / cartesia_voice_id:
            cloud provider credentials.
        providers: ``VOICELAB_PROVIDERS``: ``cloud`` | ``offline`` | ``scripted``.
            Default ``cloud`` when the three cloud keys are set, else ``offline``.
        recordings_dir: ``VOICELAB_RECORDINGS_DIR``, root of the call directories.
        public_url: ``VOICELAB_PUBLIC_URL``, the base URL Twilio sees (overrides
            what is derived from the request and its ``X-Forwarded-*`` headers).
        twilio_api_base: ``VOICELAB_TWILIO_API_BASE``, base URL of Twilio's REST
            API (the emulator's URL in simulations).
        openai_base_url: ``VOICELAB_OPENAI_BASE_URL``, any OpenAI-compatible server.
    """

    model_config = SettingsConfigDict(
        env_prefix="VOICELAB_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    twilio_account_sid: str | None = _env("TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = _env("TWILIO_AUTH_TOKEN")
    twilio_phone_number: str | None = _env("TWILIO_PHONE_NUMBER")
    openai_api_key: str | None = _env("OPENAI_API_KEY")
    deepgram_api_key: str | None = _env("DEEPGRAM_API_KEY")
    cartesia_api_key: str | None = _env("CARTESIA_API_KEY")
    cartesia_voice_id: str | None = _env("CARTESIA_VOICE_ID")

    providers: ProvidersName | None = None
    recordings_dir: Path = Path("recordings")
    log_dir: Path = Path("logs")
    public_url: str | None = None
    twilio_api_base: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    prompts_dir: Path | None = None
    vad_stop_secs: float = Field(default=0.2, gt=0, le=3)
    user_speech_timeout: float = Field(default=0.4, ge=0, le=5)
    max_call_seconds: float = Field(default=600, gt=0)

    @field_validator("twilio_phone_number")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        import re

        if value and not re.match(_E164, value):
            raise ValueError(f"must be an E.164 number like +15551234567, got {value!r}")
        return value or None

    @field_validator("public_url", "twilio_api_base", "openai_base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("twilio_account_sid")
    @classmethod
    def _check_sid(cls, value: str | None) -> str | None:
        if value and not (value.startswith("AC") and len(value) == 34):
            raise ValueError("must be a Twilio account SID: 'AC' followed by 32 characters")
        return value or None

    @model_validator(mode="after")
    def _default_providers(self) -> Settings:
        if self.providers is None:
            self.providers = "cloud" if self.cloud_keys_missing() == [] else "offline"
        return self

    def cloud_keys_missing(self) -> list[str]:
        """Names of the cloud variables that are not set."""
        keys = {
            "OPENAI_API_KEY": self.openai_api_key,
            "DEEPGRAM_API_KEY": self.deepgram_api_key,
            "CARTESIA_API_KEY": self.cartesia_api_key,
        }
        return [name for name, value in keys.items() if not value]

    @property
    def twilio_configured(self) -> bool:
        """Whether Twilio REST credentials are present."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def fingerprint(self) -> str:
        """A short hash of the non-secret settings, stored with each call record."""
        public = self.model_dump(
            mode="json",
            exclude={
                "twilio_auth_token",
                "openai_api_key",
                "deepgram_api_key",
                "cartesia_api_key",
            },
        )
        return hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()[:12]


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and ``.env``, with explicit overrides.

    Raises:
        ConfigError: One line naming the first invalid variable and why.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        raise ConfigError(f"invalid setting {_variable_name(field)}: {error['msg']}") from None


def _variable_name(loc: str) -> str:
    # Fields read through an alias report the alias (already the variable name).
    return f"VOICELAB_{loc.upper()}" if loc in Settings.model_fields else loc
