"""Pipecat services for the embedded offline stack (over the shared model pool), the
instant stand-ins (no model) for load tests, and the deterministic LLMs (scripted replies,
phone menus).

Each service loads on first use: the instant ones are voicelab's core, while Whisper's and
Hibari's need the ``scripted`` extra and SmolLM2's the ``offline`` one (``voicelab._extras``),
so importing one must not import the others' libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicelab.bot.services.hibari_tts import HibariTTSService
    from voicelab.bot.services.instant_stt import InstantSTTService
    from voicelab.bot.services.instant_tts import InstantTTSService
    from voicelab.bot.services.llama_cpp_llm import LlamaCppLLMService
    from voicelab.bot.services.menu_llm import MenuChoiceLLMService
    from voicelab.bot.services.pooled_whisper import PooledWhisperSTTService
    from voicelab.bot.services.scripted_llm import ScriptedLLMService

__all__ = [
    "HibariTTSService",
    "InstantSTTService",
    "InstantTTSService",
    "LlamaCppLLMService",
    "MenuChoiceLLMService",
    "PooledWhisperSTTService",
    "ScriptedLLMService",
]

_MODULES = {
    "HibariTTSService": "hibari_tts",
    "InstantSTTService": "instant_stt",
    "InstantTTSService": "instant_tts",
    "LlamaCppLLMService": "llama_cpp_llm",
    "MenuChoiceLLMService": "menu_llm",
    "PooledWhisperSTTService": "pooled_whisper",
    "ScriptedLLMService": "scripted_llm",
}


def __getattr__(name: str) -> object:
    if name in _MODULES:
        module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
