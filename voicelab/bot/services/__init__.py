"""Pipecat services for the embedded offline stack, backed by the shared model pool."""

from voicelab.bot.services.hibari_tts import HibariTTSService
from voicelab.bot.services.llama_cpp_llm import LlamaCppLLMService
from voicelab.bot.services.pooled_whisper import PooledWhisperSTTService
from voicelab.bot.services.scripted_llm import ScriptedLLMService

__all__ = [
    "HibariTTSService",
    "LlamaCppLLMService",
    "PooledWhisperSTTService",
    "ScriptedLLMService",
]
