"""Speech, language and voice providers: one bundle per call, built by name.

``cloud``: Deepgram + OpenAI (or any OpenAI-compatible server) + Cartesia.
``offline``: Whisper tiny.en + SmolLM2 (llama.cpp) + Hibari, all in-process.
``scripted``: the offline STT/TTS with a deterministic LLM, for repeatable tests.
``instant``: model-free STT/TTS that answer at once + the scripted LLM, for load tests.
"""

from voicelab.bot.providers._base import (
    Providers,
    build_providers,
    calls_per_cpu,
    check_providers,
    pool_models,
)

__all__ = ["Providers", "build_providers", "calls_per_cpu", "check_providers", "pool_models"]
