"""The provider bundle and the factory that picks one by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicelab._bundles import BUNDLES, bundle, calls_per_cpu, pool_models
from voicelab.config import Settings
from voicelab.errors import ConfigError

if TYPE_CHECKING:
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    from voicelab.bot.models import ModelPool

__all__ = ["Providers", "build_providers", "calls_per_cpu", "check_providers", "pool_models"]


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
                f" .env), or use --providers {' or '.join(n for n in BUNDLES if n != 'cloud')}"
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
        InvalidArgumentError: ``settings.providers`` names no bundle (settings built
            without validation).
    """
    return _BUILDERS[bundle(settings.providers).name](settings, pool)


def _cloud(settings: Settings, pool: ModelPool | None) -> Providers:
    from voicelab.bot.providers.cloud import cloud_providers

    return cloud_providers(settings)


def _instant(settings: Settings, pool: ModelPool | None) -> Providers:
    from voicelab.bot.providers.instant import instant_providers

    return instant_providers()


def _scripted(settings: Settings, pool: ModelPool | None) -> Providers:
    from voicelab.bot.providers.scripted import scripted_providers

    return scripted_providers(_need(pool, "scripted"), settings.stt_window_secs)


def _offline(settings: Settings, pool: ModelPool | None) -> Providers:
    from voicelab.bot.providers.offline import offline_providers

    pool = _need(pool, "offline")
    return offline_providers(pool, settings.stt_window_secs, tools=settings.offline_tools)


def _need(pool: ModelPool | None, name: str) -> ModelPool:
    if pool is None:
        raise ConfigError(f"the {name} providers need a ModelPool")
    return pool


# How each row of the bundles' table (voicelab._bundles) is built; a test keeps the two
# with the same names.
_BUILDERS: dict[str, Callable[[Settings, ModelPool | None], Providers]] = {
    "cloud": _cloud,
    "offline": _offline,
    "scripted": _scripted,
    "instant": _instant,
}
