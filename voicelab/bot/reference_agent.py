"""The reference agent: voicelab's own bot, built through the agent seam like any other.

``STT -> user aggregator (Silero VAD, the VOICELAB_TURN_END rule) -> LLM -> TTS``, then,
after the transport's output, the assistant aggregator. The services are the configured
provider bundle (``VOICELAB_PROVIDERS``, :mod:`voicelab.bot.providers`), the system prompt
and greeting are the call's persona. voicelab adds the transport, the guards, the recorder
and the call record around it (:mod:`voicelab.bot.agent`).

The LLM has the Guest Relationship Executive's tools (:mod:`voicelab.bot.tools`: log
feedback, look up a site, transfer to the duty manager, end the call), except SmolLM2
(offline) unless ``VOICELAB_OFFLINE_TOOLS`` says so. Outbound calls run pipecat's voicemail
detector (:mod:`voicelab.bot.voicemail`): ``STT -> detector -> ... -> TTS -> gate``.
"""

from __future__ import annotations

from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams
from pipecat.classifiers.base_classifier import BaseClassifier
from pipecat.classifiers.llm.classifier import LLMClassifier
from pipecat.processors.aggregators.llm_context import NOT_GIVEN, LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.turns.user_stop.base_user_turn_stop_strategy import BaseUserTurnStopStrategy
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voicelab.bot.agent import AgentContext, AgentParts
from voicelab.bot.providers import Providers, build_providers
from voicelab.bot.services import LlamaCppLLMService
from voicelab.bot.tools import TOOLS_PROMPT, GuestRelationsTools, SpeechWatch
from voicelab.bot.turn_end import (
    HeldTurnAnalyzerStopStrategy,
    TranscriptTurnEndStrategy,
    WordsOrSmartTurnStopStrategy,
)
from voicelab.bot.vad import PooledSileroVADAnalyzer, PooledSmartTurnAnalyzer
from voicelab.bot.voicemail import OutboundVoicemail, VoicemailKeywords

__all__ = ["REFERENCE_AGENT", "reference_agent"]

# Its import string, as VOICELAB_AGENT would name it.
REFERENCE_AGENT = "voicelab.bot.reference_agent:reference_agent"


def reference_agent(ctx: AgentContext) -> AgentParts:
    """The configured providers and the call's persona, as one call's processors.

    Raises:
        ConfigError: The providers cannot be built (cloud keys missing, no model pool).
    """
    providers = build_providers(ctx.settings, ctx.pool)
    speech = SpeechWatch()
    system_prompt = ctx.persona.system_prompt
    tools = None
    if _has_tools(ctx, providers):
        tools = GuestRelationsTools(ctx, speech)
        tools.register(providers.llm)
        system_prompt = f"{system_prompt} {TOOLS_PROMPT}"
    context = LLMContext(
        messages=[{"role": "system", "content": system_prompt}],
        tools=tools.schemas if tools is not None else NOT_GIVEN,
    )
    if isinstance(providers.llm, LlamaCppLLMService):
        providers.llm.prime_with([{"role": "system", "content": system_prompt}])
    params = VADParams(stop_secs=ctx.settings.vad_stop_secs)
    vad = (
        PooledSileroVADAnalyzer(session=ctx.pool.vad(), params=params)
        if ctx.pool is not None
        else SileroVADAnalyzer(params=params)  # a pool-less caller of the factory
    )
    stop = _turn_stop(ctx, vad)
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=vad, user_turn_strategies=UserTurnStrategies(stop=[stop])
        ),
    )
    heard: list[FrameProcessor] = [providers.stt]
    spoken: list[FrameProcessor] = [providers.tts]
    if ctx.direction == "outbound":
        # A machine may answer: the bot's speech waits for the verdict (bot/voicemail.py).
        voicemail = OutboundVoicemail(
            record=ctx.record, message=ctx.persona.voicemail, classifier=_classifier(providers)
        )
        heard.append(voicemail.detector())
        spoken.append(voicemail.gate())
    return AgentParts(
        [*heard, aggregators.user(), providers.llm, *spoken],
        after_output=[speech, aggregators.assistant()],
        greeting=ctx.persona.greeting,
        persona=ctx.persona,
        providers={"name": providers.name, **providers.description},
    )


def _has_tools(ctx: AgentContext, providers: Providers) -> bool:
    """Whether the LLM gets the tools: always, but SmolLM2 only when asked for (it cannot
    use them usefully: bench/RESULTS.md)."""
    return providers.name != "offline" or ctx.settings.offline_tools


def _classifier(providers: Providers) -> BaseClassifier:
    """Who decides whether a machine answered: the cloud LLM, else the greeting's words."""
    if providers.name == "cloud":
        return LLMClassifier(llm=providers.llm)
    return VoicemailKeywords()


def _turn_stop(ctx: AgentContext, vad: VADAnalyzer) -> BaseUserTurnStopStrategy:
    """When the caller's turn is over (``VOICELAB_TURN_END``).

    ``smart_turn`` (default): pipecat's smart-turn v3.2 model reads the turn's audio at each
    VAD stop, with the transcript; its session is the pool's, and the end of the turn waits
    while the VAD hears the caller's voice resume. ``smart_turn_words``: the same, but a turn
    smart-turn is unsure of ends at a transcript that reads as finished. ``transcript``: the
    words alone (:mod:`voicelab.bot.turn_end`). ``timeout``: a fixed wait.
    """
    rule = ctx.settings.turn_end
    if rule in ("smart_turn", "smart_turn_words"):
        params = SmartTurnParams(stop_secs=ctx.settings.smart_turn_stop_secs)
        analyzer = (
            PooledSmartTurnAnalyzer(session=ctx.pool.smart_turn(), params=params)
            if ctx.pool is not None
            else LocalSmartTurnAnalyzerV3(params=params)  # a pool-less caller: its own model
        )
        # Held while the VAD hears the caller resuming (bot/turn_end.py): at most its
        # start_secs, plus a margin for the frame in flight.
        strategy = (
            WordsOrSmartTurnStopStrategy
            if rule == "smart_turn_words"
            else HeldTurnAnalyzerStopStrategy
        )
        return strategy(
            turn_analyzer=analyzer,
            vad=vad,
            max_hold_secs=vad.params.start_secs + 0.1,
            speculate=ctx.settings.speculative_replies,
        )
    if rule == "transcript":
        return TranscriptTurnEndStrategy(user_speech_timeout=ctx.settings.user_speech_timeout)
    return SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=ctx.settings.user_speech_timeout)
