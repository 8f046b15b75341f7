"""Offline speech with a deterministic LLM: fast, repeatable calls for tests."""

from __future__ import annotations

from voicelab.bot.models import ModelPool
from voicelab.bot.providers._base import Providers
from voicelab.bot.providers.offline import OFFLINE_DESCRIPTION, offline_speech
from voicelab.bot.services import ScriptedLLMService

__all__ = ["scripted_providers"]


def scripted_providers(pool: ModelPool, stt_window_secs: float = 10.0) -> Providers:
    """Whisper tiny.en + the scripted LLM + Hibari."""
    stt, tts = offline_speech(pool, stt_window_secs)
    description = dict(OFFLINE_DESCRIPTION, llm={"service": "scripted", "model": "keyword rules"})
    return Providers("scripted", stt, ScriptedLLMService(), tts, description)
