"""The reference agent: voicelab's own bot, built through the agent seam like any other.

``STT -> user aggregator (Silero VAD, speech-timeout turn stop) -> LLM -> TTS``, then,
after the transport's output, the assistant aggregator. The services are the configured
provider bundle (``VOICELAB_PROVIDERS``, :mod:`voicelab.bot.providers`), the system prompt
and greeting are the call's persona. voicelab adds the transport, the guards, the recorder
and the call record around it (:mod:`voicelab.bot.agent`).
"""

from __future__ import annotations

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voicelab.bot.agent import AgentContext, AgentParts
from voicelab.bot.providers import build_providers
from voicelab.bot.services import LlamaCppLLMService
from voicelab.bot.turn_end import TranscriptTurnEndStrategy
from voicelab.bot.vad import PooledSileroVADAnalyzer

__all__ = ["REFERENCE_AGENT", "reference_agent"]

# Its import string, as VOICELAB_AGENT would name it.
REFERENCE_AGENT = "voicelab.bot.reference_agent:reference_agent"


def reference_agent(ctx: AgentContext) -> AgentParts:
    """The configured providers and the call's persona, as one call's processors.

    Raises:
        ConfigError: The providers cannot be built (cloud keys missing, no model pool).
    """
    providers = build_providers(ctx.settings, ctx.pool)
    context = LLMContext(messages=[{"role": "system", "content": ctx.persona.system_prompt}])
    if isinstance(providers.llm, LlamaCppLLMService):
        providers.llm.prime_with([{"role": "system", "content": ctx.persona.system_prompt}])
    params = VADParams(stop_secs=ctx.settings.vad_stop_secs)
    vad = (
        PooledSileroVADAnalyzer(session=ctx.pool.vad(), params=params)
        if ctx.pool is not None
        else SileroVADAnalyzer(params=params)  # a pool-less caller of the factory
    )
    # The turn ends once the transcript is in: at once if it reads as finished, else after
    # the caller's pause outlasts user_speech_timeout (bot/turn_end.py). pipecat's default,
    # the smart-turn model, loads a model per call and judges prosody our callers lack.
    rule = (
        TranscriptTurnEndStrategy
        if ctx.settings.turn_end == "transcript"
        else SpeechTimeoutUserTurnStopStrategy
    )
    stop = rule(user_speech_timeout=ctx.settings.user_speech_timeout)
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=vad, user_turn_strategies=UserTurnStrategies(stop=[stop])
        ),
    )
    return AgentParts(
        [providers.stt, aggregators.user(), providers.llm, providers.tts],
        after_output=[aggregators.assistant()],
        greeting=ctx.persona.greeting,
        persona=ctx.persona,
        providers={"name": providers.name, **providers.description},
    )
