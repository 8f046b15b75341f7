"""Instant fake STT and TTS with the scripted LLM: the pipeline's own cost, no models.

For load tests and framework-overhead benchmarks. Silero VAD, the turn strategy,
the transport and the recorder stay real (they are in the pipeline, not here); the
three services answer at once, so nothing needs the model pool.
"""

from __future__ import annotations

from voicelab.bot.providers._base import Providers
from voicelab.bot.services import InstantSTTService, InstantTTSService, ScriptedLLMService
from voicelab.bot.services.instant_stt import INSTANT_TRANSCRIPT

__all__ = ["INSTANT_DESCRIPTION", "instant_providers"]

INSTANT_DESCRIPTION = {
    "stt": {"service": "instant", "model": f"fixed transcript {INSTANT_TRANSCRIPT!r}"},
    "llm": {"service": "scripted", "model": "keyword rules"},
    "tts": {"service": "instant", "model": "synthetic harmonic tone"},
    "vad": {"service": "silero"},
}


def instant_providers() -> Providers:
    """Instant STT (a fixed transcript) + the scripted LLM + instant TTS (a tone)."""
    return Providers(
        "instant",
        InstantSTTService(),
        ScriptedLLMService(),
        InstantTTSService(),
        dict(INSTANT_DESCRIPTION),
    )
