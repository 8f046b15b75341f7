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
from typing import Any, Literal, get_args

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicelab._bundles import bundle
from voicelab.errors import ConfigError
from voicelab.telephony.ids import is_e164, is_e164_prefix

__all__ = [
    "AGENT_IMPORT_STRING",
    "SECRET_SETTINGS",
    "FaultKind",
    "FaultService",
    "JudgeName",
    "Settings",
    "check_import_string",
    "load_settings",
    "secret_value",
]

# Who judges the scenarios' criteria (voicelab.judging): the offline SmolLM2 in-process,
# any OpenAI-compatible server, or a local Ollama. Apart from the agent's LLM on purpose:
# a model grading its own replies is the least independent judge there is.
JudgeName = Literal["offline", "openai", "ollama"]
# How the reference agent decides a caller's turn is over: "smart_turn" is pipecat's
# smart-turn v3.2 model (one shared session) with the transcript, "smart_turn_words" is that
# but ends a turn smart-turn is unsure of when the words read as finished, "transcript" ends
# it as soon as the words read as finished (bot/turn_end.py), "timeout" always waits
# user_speech_timeout.
TurnEndRule = Literal["smart_turn", "smart_turn_words", "transcript", "timeout"]
FaultService = Literal["stt", "llm", "tts"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
FaultKind = Literal["error", "timeout", "slow_first_byte"]

# An agent's import string, ``package.module:factory`` (the attribute may be dotted).
AGENT_IMPORT_STRING = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"


def check_import_string(value: str) -> str:
    """``value`` stripped, if it is a ``module:factory`` import string.

    Raises:
        ValueError: It is not one (the message shows the expected shape).
    """
    import re

    if not re.match(AGENT_IMPORT_STRING, value.strip()):
        raise ValueError(f"must be an import string like 'my_bot.agent:build', got {value!r}")
    return value.strip()


# Premium-rate and special-rate destinations inside +1 that are refused even when "+1" is
# allowed: 900/976 are US premium-rate services; the rest are Caribbean NANP areas that
# bill at international rates and are the usual targets of toll fraud.
DEFAULT_DENIED_PREFIXES = (
    "+1900",
    "+1976",
    "+1242",
    "+1246",
    "+1264",
    "+1268",
    "+1284",
    "+1345",
    "+1441",
    "+1473",
    "+1649",
    "+1664",
    "+1721",
    "+1758",
    "+1767",
    "+1784",
    "+1809",
    "+1829",
    "+1849",
    "+1868",
    "+1869",
    "+1876",
)


def _env(name: str) -> Any:
    # validation_alias makes the field read exactly this variable (no prefix added).
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Everything voicelab can be configured with.

    One flat class on purpose: each field is one variable, one sweep override and one
    ``Lab(**overrides)`` keyword by the same name. Secrets are :class:`~pydantic.SecretStr`
    (``repr`` shows ``**********``; :func:`secret_value` reads one where a client needs it).

    Attributes:
        twilio_account_sid: ``TWILIO_ACCOUNT_SID``.
        twilio_auth_token: ``TWILIO_AUTH_TOKEN``; when set, every Twilio request is
            signature-checked.
        twilio_phone_number: ``TWILIO_PHONE_NUMBER`` (E.164), the default caller ID.
        openai_api_key / deepgram_api_key / cartesia_api_key / cartesia_voice_id:
            cloud provider credentials.
        providers: ``VOICELAB_PROVIDERS``: a provider bundle, ``cloud`` | ``offline`` |
            ``scripted`` | ``instant`` (:data:`voicelab._bundles.BUNDLES`; another name is
            an error). Default ``cloud`` when the three cloud keys are set, else ``offline``.
        recordings_dir: ``VOICELAB_RECORDINGS_DIR``, root of the call directories.
        public_url: ``VOICELAB_PUBLIC_URL``, the base URL Twilio sees (overrides
            what is derived from the request and its ``X-Forwarded-*`` headers).
        twilio_api_base: ``VOICELAB_TWILIO_API_BASE``, base URL of Twilio's REST
            API (the emulator's URL in simulations).
        openai_base_url: ``VOICELAB_OPENAI_BASE_URL``, any OpenAI-compatible server.
        api_key: ``VOICELAB_API_KEY``: the bearer key that ``/outbound``, ``/call-status``,
            the API docs and the detailed ``/health`` require. Without it ``/outbound``
            is closed, unless the Twilio API base is a loopback emulator.
        outbound_allowed_prefixes: ``VOICELAB_OUTBOUND_ALLOWED_PREFIXES`` (JSON list):
            E.164 prefixes ``/outbound`` may dial.
        outbound_denied_prefixes: ``VOICELAB_OUTBOUND_DENIED_PREFIXES`` (JSON list):
            premium and special-rate prefixes refused even inside the allow-list.
        outbound_per_minute: ``VOICELAB_OUTBOUND_PER_MINUTE``: calls one API key may
            place per minute.
        max_calls: ``VOICELAB_MAX_CALLS``: live calls at once; above it ``/outbound``
            answers 503 and inbound calls get a busy signal.
        trusted_proxies: ``VOICELAB_TRUSTED_PROXIES`` (JSON list of addresses or CIDR
            networks): the only peers whose ``X-Forwarded-*`` headers are believed (none
            by default; behind a tunnel set ``public_url`` instead).
        stream_token_ttl: ``VOICELAB_STREAM_TOKEN_TTL``: seconds a call's one-time
            media-stream token stays valid after its TwiML was served.
        ws_max_message_bytes: ``VOICELAB_WS_MAX_MESSAGE_BYTES``: the largest media
            websocket message accepted (a media frame is ~400 bytes).
        request_timeout: ``VOICELAB_REQUEST_TIMEOUT``: seconds a client has to send an HTTP
            request's head, and as long again for its body; a slower one is cut off (the
            connection closed, or 408). A call's websocket messages are not a body: no call
            is ever cut by it (server/_http.py).
        mask_phone_numbers: ``VOICELAB_MASK_PHONE_NUMBERS``: log phone numbers as
            ``+1555***4567``.
        log_level: ``VOICELAB_LOG_LEVEL``: what the console shows (``WARNING``: warnings
            and errors; ``DEBUG``: every pipeline decision, as ``--verbose`` does). The log
            file in ``log_dir`` has INFO and up regardless.
        faults: ``VOICELAB_FAULTS`` (JSON, e.g. ``{"llm": "error"}``): make a provider
            (``stt``/``llm``/``tts``) misbehave on purpose: ``error``, ``timeout`` (no answer
            for ``fault_delay`` s, then an error) or ``slow_first_byte``.
        fault_delay: ``VOICELAB_FAULT_DELAY``: seconds a ``timeout``/``slow_first_byte``
            fault holds the answer back.
        fault_times: ``VOICELAB_FAULT_TIMES``: answers each fault spoils per call (0: all).
        llm_timeout: ``VOICELAB_LLM_TIMEOUT``: seconds to wait for the LLM's first token
            before the bot says a fallback line instead.
        agent: ``VOICELAB_AGENT``: the call's agent as ``module:factory`` (see
            :mod:`voicelab.bot.agent`); unset, the reference agent. Imported at server start.
        duty_manager_number: ``VOICELAB_DUTY_MANAGER_NUMBER`` (E.164): whom the reference
            agent's ``transfer_to_duty_manager`` tool dials (default: the first site's duty
            manager in the packaged ``sites.yaml``).
        offline_tools: ``VOICELAB_OFFLINE_TOOLS``: give the offline LLM (SmolLM2-135M) the
            reference agent's tools. Off by default: measured, it calls them too rarely
            and too wrongly to be useful (bench/RESULTS.md).
        otlp_endpoint: ``VOICELAB_OTLP_ENDPOINT``: an OTLP/HTTP collector (``http(s)://host:4318``,
            ``/v1/traces`` added unless given) that every call's spans are sent to (pipecat's
            conversation, turn and service spans, each with the call's SID). Needs
            ``voicelab-phone[otel]``; the OTel SDK's ``OTEL_EXPORTER_OTLP_*`` variables (headers,
            timeout, compression, certificates) still apply. See :mod:`voicelab.bot.tracing`.
        judge: ``VOICELAB_JUDGE``: the LLM that judges the scenarios' ``eval:`` criteria and
            ``metrics:`` (:mod:`voicelab.judging`), configured apart from the agent's:
            ``offline`` (default: SmolLM2 through llama.cpp, in-process), ``openai`` (any
            OpenAI-compatible server) or ``ollama``.
        judge_base_url: ``VOICELAB_JUDGE_BASE_URL``: the judge's server (``openai``:
            default OpenAI's; ``ollama``: default ``http://localhost:11434/v1``).
        judge_model: ``VOICELAB_JUDGE_MODEL``: the judge's model (``openai``: default
            ``gpt-4o-mini``; ``ollama``: default ``llama3.2``).
        judge_api_key: ``VOICELAB_JUDGE_API_KEY``: the ``openai`` judge's key (never
            logged nor written to a record).
        judge_timeout: ``VOICELAB_JUDGE_TIMEOUT``: seconds one verdict may take.
    """

    model_config = SettingsConfigDict(
        env_prefix="VOICELAB_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # A ValidationError never quotes what was given: it may be a key.
        hide_input_in_errors=True,
    )

    twilio_account_sid: str | None = _env("TWILIO_ACCOUNT_SID")
    # Every secret is a SecretStr: hidden in repr/str and JSON dumps, and SECRET_SETTINGS
    # (what fingerprints and sweep manifests leave out) is read off these types.
    twilio_auth_token: SecretStr | None = _env("TWILIO_AUTH_TOKEN")
    twilio_phone_number: str | None = _env("TWILIO_PHONE_NUMBER")
    openai_api_key: SecretStr | None = _env("OPENAI_API_KEY")
    deepgram_api_key: SecretStr | None = _env("DEEPGRAM_API_KEY")
    cartesia_api_key: SecretStr | None = _env("CARTESIA_API_KEY")
    cartesia_voice_id: str | None = _env("CARTESIA_VOICE_ID")

    # A name of the bundles' table (voicelab._bundles), checked against it.
    providers: str | None = None
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
    # With turn_end "transcript"/"timeout": how long a caller may pause inside a sentence.
    user_speech_timeout: float = Field(default=0.8, ge=0, le=5)
    turn_end: TurnEndRule = "smart_turn"
    # With turn_end "smart_turn"/"smart_turn_words": the longest silence before a turn the
    # model calls unfinished ends anyway.
    smart_turn_stop_secs: float = Field(default=1.5, gt=0, le=10)
    # With turn_end "smart_turn"/"smart_turn_words": start the reply at the final transcript,
    # before smart-turn decides, and release it at the turn's end (bot/turn_end.py). Off
    # until measured on more than this box (bench/RESULTS.md).
    speculative_replies: bool = False
    # The offline Whisper's shortest window (bot/services/windowed_whisper.py): 10 s answers
    # ~0.3 s sooner than Whisper's own 30 s, at a measured cost in word errors (RESULTS.md).
    stt_window_secs: float = Field(default=10.0, ge=5, le=30)
    # Audio kept queued in Twilio's playout buffer ahead of the caller's ear
    # (bot/playout.py): a server loop late by less than this is not a gap the caller hears.
    # 0 (default): pipecat's own pace, one 20 ms chunk ahead. Off by default: with it, 6
    # offline calls at once answered 2x slower (P3b p90 2.6 -> 5.8-6.9 s, bench/RESULTS.md).
    playout_lead_ms: int = Field(default=0, ge=0, le=2000)
    max_call_seconds: float = Field(default=600, gt=0)

    # Safety: who may act, what may be dialled, how much at once (README "Security").
    api_key: SecretStr | None = None
    outbound_allowed_prefixes: list[str] = Field(default_factory=lambda: ["+1"])
    outbound_denied_prefixes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DENIED_PREFIXES)
    )
    outbound_per_minute: int = Field(default=10, ge=0)
    max_calls: int = Field(default=20, ge=1)
    # None by default: behind a tunnel every request comes from 127.0.0.1, so trusting
    # loopback believed every client's X-Forwarded-Host (set VOICELAB_PUBLIC_URL instead).
    trusted_proxies: list[str] = Field(default_factory=list)
    stream_token_ttl: float = Field(default=30, gt=0, le=600)
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    request_timeout: float = Field(default=10, gt=0, le=300)
    mask_phone_numbers: bool = False
    # The console's level (stderr). The log file has INFO and up whatever this says.
    log_level: LogLevel = "WARNING"

    # Resilience: injected provider faults (tests, drills) and the LLM's first-token guard.
    faults: dict[FaultService, FaultKind] = Field(default_factory=dict)
    fault_delay: float = Field(default=3.0, gt=0, le=120)
    fault_times: int = Field(default=0, ge=0)
    llm_timeout: float = Field(default=10.0, gt=0, le=300)

    # The agent seam: whose pipecat processors answer the calls (voicelab.bot.agent).
    agent: str | None = None

    # Traces: where every call's OpenTelemetry spans go (voicelab.bot.tracing).
    otlp_endpoint: str | None = None

    # The reference agent's tools (voicelab.bot.tools). The default is the London site's
    # duty manager in voicelab/defaults/sites.yaml (a test keeps them the same).
    duty_manager_number: str = "+15550100101"
    offline_tools: bool = False

    # The judge of the scenarios' criteria (voicelab.judging), apart from the agent's LLM.
    judge: JudgeName = "offline"
    judge_base_url: str | None = None
    judge_model: str | None = None
    judge_api_key: SecretStr | None = None
    judge_timeout: float = Field(default=120.0, gt=0, le=600)

    @field_validator("providers")
    @classmethod
    def _check_providers(cls, value: str | None) -> str | None:
        return bundle(value).name if value else None

    @field_validator("agent")
    @classmethod
    def _check_agent(cls, value: str | None) -> str | None:
        return check_import_string(value) if value else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("duty_manager_number")
    @classmethod
    def _check_duty_manager(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError(f"must be an E.164 number like +15551234567, got {value!r}")
        return value

    @field_validator("twilio_phone_number")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        if value and not is_e164(value):
            raise ValueError(f"must be an E.164 number like +15551234567, got {value!r}")
        return value or None

    @field_validator("public_url", "twilio_api_base", "openai_base_url", "judge_base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_otlp_endpoint(cls, value: str | None) -> str | None:
        url = _http_url(value)
        # The endpoint is an ordinary setting (logged, hashed): credentials belong in the
        # SDK's OTEL_EXPORTER_OTLP_HEADERS, which voicelab never reads or writes anywhere.
        if url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "must not carry credentials: put them in OTEL_EXPORTER_OTLP_HEADERS "
                "(e.g. 'authorization=Bearer ...')"
            )
        return url

    @field_validator("outbound_allowed_prefixes", "outbound_denied_prefixes")
    @classmethod
    def _check_prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not is_e164_prefix(prefix):
                raise ValueError(f"must be E.164 prefixes like '+1' or '+44', got {prefix!r}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"must be IP addresses or CIDR networks, got {entry!r}") from None
        return value

    @field_validator("*")
    @classmethod
    def _empty_secret(cls, value: Any) -> Any:
        # An empty variable (``OPENAI_API_KEY=`` in a .env) is no secret at all.
        return None if isinstance(value, SecretStr) and not value.get_secret_value() else value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (try: openssl rand -hex 24)")
        return value

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
        """A short hash of the non-secret settings, stored with each call record.

        Where the traces go is left out too: it changes nothing a call does, so a traced
        and an untraced run of the same setup keep one hash.
        """
        public = self.model_dump(mode="json", exclude=set(SECRET_SETTINGS | _NOT_FINGERPRINTED))
        return hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()[:12]


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


SECRET_SETTINGS: frozenset[str] = frozenset(
    name for name, info in Settings.model_fields.items() if _is_secret(info.annotation)
)
"""The settings that are secrets (typed ``SecretStr``): never logged, hashed or recorded."""

# Not secret, but nothing a call does depends on them: a traced and an untraced run of the
# same setup keep one hash, and the judge grades a call afterwards.
_NOT_FINGERPRINTED = frozenset(
    {"otlp_endpoint", "judge", "judge_base_url", "judge_model", "judge_timeout"}
)


def secret_value(secret: SecretStr | None) -> str | None:
    """The text of a secret setting, for the one call that needs it (``None`` if unset)."""
    return secret.get_secret_value() if secret is not None else None


def _http_url(value: str | None) -> str | None:
    """``value`` without its trailing slash, if it is an http(s) URL; ``None`` if empty."""
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    return value.rstrip("/")


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
