"""Deepgram STT + OpenAI (or any OpenAI-compatible server) + Cartesia TTS, via pipecat."""

from __future__ import annotations

from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.openai.llm import OpenAILLMService

from voicelab.bot.providers._base import Providers
from voicelab.config import Settings, secret_value
from voicelab.errors import ConfigError

__all__ = ["cloud_providers"]


def cloud_providers(settings: Settings) -> Providers:
    """The guide's cloud stack.

    Raises:
        ConfigError: A key is missing (the message names every missing variable).
    """
    missing = settings.cloud_keys_missing()
    if not settings.cartesia_voice_id:
        missing.append("CARTESIA_VOICE_ID")
    if missing:
        raise ConfigError(
            f"VOICELAB_PROVIDERS=cloud needs {', '.join(missing)}; "
            "set them or use VOICELAB_PROVIDERS=offline"
        )
    deepgram_key = secret_value(settings.deepgram_api_key)
    cartesia_key = secret_value(settings.cartesia_api_key)
    assert deepgram_key and cartesia_key  # checked above
    stt = DeepgramSTTService(api_key=deepgram_key)
    llm = OpenAILLMService(
        api_key=secret_value(settings.openai_api_key),
        base_url=settings.openai_base_url,
        settings=OpenAILLMService.Settings(model=settings.openai_model),
    )
    tts = CartesiaTTSService(
        api_key=cartesia_key,
        settings=CartesiaTTSService.Settings(voice=settings.cartesia_voice_id),
    )
    description = {
        "stt": {"service": "deepgram"},
        "llm": {
            "service": "openai",
            "model": settings.openai_model,
            "base_url": settings.openai_base_url,
        },
        "tts": {"service": "cartesia", "voice": settings.cartesia_voice_id},
        "vad": {"service": "silero"},
    }
    return Providers("cloud", stt, llm, tts, description)
