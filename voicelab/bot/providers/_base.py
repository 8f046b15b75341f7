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

__all__ = ["Providers", "build_providers", "calls_per_cpu", "check_providers", "pool_models"]


# One row per provider bundle (the services themselves are built by build_providers).
@dataclass(frozen=True)
class _Bundle:
    """What voicelab knows about a provider bundle beyond its services.

    Attributes:
        models: The model pool's models its calls use: what a server's pool loads and warms
            before its first call.
        calls_per_cpu: The calls one CPU holds at once with the bundle's models on it: a Ray
            sweep worker's default (``--concurrency`` overrides it).
    """

    models: frozenset[str]
    calls_per_cpu: int


# Every bundle's calls run Silero VAD and the smart-turn model (one session each, shared:
# bot/vad.py).
_TURNS = frozenset({"vad", "smart_turn"})
# Calls per CPU (bench/RESULTS.md): an instant call costs 1.4 s of CPU in 6.2 s, and a cloud
# one about as much here (the models run remotely); a scripted call runs Whisper (3 on 2 cores
# queue it: stt_s doubles); the offline stack holds 2-3 calls on 2 cores.
_BUNDLES: dict[str, _Bundle] = {
    "cloud": _Bundle(_TURNS, calls_per_cpu=4),
    "instant": _Bundle(_TURNS, calls_per_cpu=4),
    "scripted": _Bundle(frozenset({"whisper", "tts"}) | _TURNS, calls_per_cpu=2),
    "offline": _Bundle(frozenset({"whisper", "tts", "llm"}) | _TURNS, calls_per_cpu=1),
}


def _bundle(providers: str | None) -> _Bundle:
    # No bundle named: the settings' default when the cloud keys are missing.
    return _BUNDLES.get(providers or "offline", _BUNDLES["offline"])


def pool_models(providers: str | None) -> frozenset[str]:
    """The pool's models (``whisper``, ``llm``, ``tts``) the bundle ``providers`` needs."""
    return _bundle(providers).models


def calls_per_cpu(providers: str | None) -> int:
    """How many calls of the bundle ``providers`` one CPU holds at once (at least 1)."""
    return _bundle(providers).calls_per_cpu


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
