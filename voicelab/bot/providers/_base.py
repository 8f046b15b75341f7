"""The provider bundle and the factory that picks one by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicelab.config import Settings
from voicelab.errors import ConfigError

if TYPE_CHECKING:
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    from voicelab.bot.models import ModelPool

__all__ = ["Providers", "build_providers", "check_providers", "pool_models"]

# The model pool's models each provider bundle uses: the one place that says what a
# server's pool loads and warms before its first call.
# Every bundle's calls run Silero VAD and the smart-turn model (one session each, shared:
# bot/vad.py).
_TURNS = frozenset({"vad", "smart_turn"})
_POOL_MODELS: dict[str, frozenset[str]] = {
    "cloud": _TURNS,
    "instant": _TURNS,
    "scripted": frozenset({"whisper", "tts"}) | _TURNS,
    "offline": frozenset({"whisper", "tts", "llm"}) | _TURNS,
}


def pool_models(providers: str | None) -> frozenset[str]:
    """The pool's models (``whisper``, ``llm``, ``tts``) the bundle ``providers`` needs."""
    return _POOL_MODELS.get(providers or "offline", _POOL_MODELS["offline"])


# Which extra each of the pool's models comes with (voicelab._extras).
_MODEL_EXTRA = {"whisper": "scripted", "tts": "scripted", "llm": "offline"}


def check_providers(settings: Settings, *, reference_agent: bool) -> None:
    """Fail before a server starts if its calls could not run: an extra not installed, or the
    reference agent on cloud providers without their keys (which used to fail every call
    while ``/health`` said ready).

    Args:
        settings: The server's settings (``providers``, the cloud keys).
        reference_agent: Whether the calls run voicelab's reference agent (another agent
            brings its own services: only the pool's models are checked).

    Raises:
        ConfigError: The cloud keys are missing (the message names each variable).
        MissingDependencyError: An extra is missing (the message has the install command).
    """
    from voicelab._extras import require

    for model in sorted(pool_models(settings.providers)):
        if model in _MODEL_EXTRA:
            require(_MODEL_EXTRA[model], f"VOICELAB_PROVIDERS={settings.providers}")
    if reference_agent and settings.providers == "cloud":
        require("cloud", "VOICELAB_PROVIDERS=cloud")
        missing = settings.cloud_keys_missing()
        if not settings.cartesia_voice_id:
            missing.append("CARTESIA_VOICE_ID")
        if missing:
            raise ConfigError(
                f"VOICELAB_PROVIDERS=cloud needs {', '.join(missing)}: set them (environment or"
                " .env), or use --providers offline, scripted or instant"
            )


@dataclass
class Providers:
    """The three services of one call, plus what the call record says about them.

    Attributes:
        name: ``cloud``, ``offline``, ``scripted`` or ``instant``.
        stt: Speech-to-text service.
        llm: Language model service.
        tts: Text-to-speech service.
        description: ``{"stt": ..., "llm": ..., "tts": ...}`` names and models.
    """

    name: str
    stt: STTService
    llm: LLMService[Any]
    tts: TTSService
    description: dict[str, Any] = field(default_factory=dict)


def build_providers(settings: Settings, pool: ModelPool | None = None) -> Providers:
    """Build the configured providers for one call.

    Args:
        settings: Picks the bundle (``settings.providers``) and holds the keys.
        pool: The process's model pool (needed for ``offline`` and ``scripted``; see
            :func:`pool_models`).

    Raises:
        ConfigError: Cloud keys are missing, or no pool was given for a local bundle.
    """
    if settings.providers == "cloud":
        from voicelab.bot.providers.cloud import cloud_providers

        return cloud_providers(settings)
    if settings.providers == "instant":
        from voicelab.bot.providers.instant import instant_providers

        return instant_providers()
    if pool is None:
        raise ConfigError(f"the {settings.providers} providers need a ModelPool")
    if settings.providers == "scripted":
        from voicelab.bot.providers.scripted import scripted_providers

        return scripted_providers(pool, settings.stt_window_secs)
    from voicelab.bot.providers.offline import offline_providers

    return offline_providers(pool, settings.stt_window_secs, tools=settings.offline_tools)
