"""Pipecat services for the embedded offline stack (over the shared model pool) and the
instant stand-ins (no model) for load tests."""

from voicelab.bot.services.hibari_tts import HibariTTSService
from voicelab.bot.services.instant_stt import InstantSTTService
from voicelab.bot.services.instant_tts import InstantTTSService
from voicelab.bot.services.llama_cpp_llm import LlamaCppLLMService
from voicelab.bot.services.pooled_whisper import PooledWhisperSTTService
from voicelab.bot.services.scripted_llm import ScriptedLLMService

__all__ = [
    "HibariTTSService",
    "InstantSTTService",
    "InstantTTSService",
    "LlamaCppLLMService",
    "PooledWhisperSTTService",
    "ScriptedLLMService",
]
