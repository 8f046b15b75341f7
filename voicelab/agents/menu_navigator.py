"""A sample agent that gets through a phone menu: pipecat's ``IVRNavigator`` with a goal.

    VOICELAB_AGENT=voicelab.agents.menu_navigator:menu_navigator voicelab serve

The bot places (or takes) a call that a phone menu answers. pipecat's ``IVRNavigator``
decides whether a menu or a person answered, then presses the keys that lead to the goal
(``OutputDTMFUrgentFrame``; each key is a ``dtmf.sent`` event in the call record) until the
menu puts the call through. Its LLM is the deterministic
:class:`~voicelab.bot.services.menu_llm.MenuChoiceLLMService` (the goal's keywords against
the options the menu reads out), or, with ``VOICELAB_PROVIDERS=cloud``, the OpenAI LLM
reading the navigator's own prompts. Once through (or when a person answers) it says the
persona's greeting; a dead end (``stuck``) ends the call. The navigation's state goes into
``call.json`` as the tag ``ivr_status``.

Copy it for your own goal: ``make_menu_navigator("Reach the billing department.",
("billing", "accounts"))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.extensions.ivr.ivr_navigator import IVRNavigator, IVRStatus
from pipecat.frames.frames import EndWorkerFrame, LLMMessagesUpdateFrame, TTSSpeakFrame
from pipecat.processors.aggregators.llm_context import LLMContext, LLMContextMessage
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import LLMService
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voicelab.bot.agent import Agent, AgentContext, AgentParts
from voicelab.bot.providers import Providers, build_providers
from voicelab.bot.services.menu_llm import MenuChoiceLLMService
from voicelab.bot.vad import PooledSileroVADAnalyzer

__all__ = ["GOAL", "GOAL_KEYWORDS", "make_menu_navigator", "menu_navigator"]

GOAL = "Reach the catering department."
"""The sample's goal, as the navigator's prompt says it."""
GOAL_KEYWORDS = ("catering",)
"""What the menu option to choose says (the deterministic LLM matches these)."""


def make_menu_navigator(goal: str, keywords: Sequence[str]) -> Agent:
    """An agent that navigates a phone menu towards ``goal``.

    Args:
        goal: The navigation goal, in words (the LLM's prompt).
        keywords: Words of the menu option that leads there (the deterministic LLM's).
    """

    def agent(ctx: AgentContext) -> AgentParts:
        providers = build_providers(ctx.settings, ctx.pool)
        navigator = IVRNavigator(llm=_llm(providers, keywords), ivr_prompt=goal)
        navigator.add_event_handler("on_ivr_status_changed", _on_status(ctx))
        navigator.add_event_handler("on_conversation_detected", _on_person(ctx))
        params = VADParams(stop_secs=ctx.settings.vad_stop_secs)
        vad = (
            PooledSileroVADAnalyzer(session=ctx.pool.vad(), params=params)
            if ctx.pool is not None
            else SileroVADAnalyzer(params=params)
        )
        stop = SpeechTimeoutUserTurnStopStrategy(
            user_speech_timeout=ctx.settings.user_speech_timeout
        )
        # The navigator sets the context's messages itself (its classifier prompt first).
        pair = LLMContextAggregatorPair(
            LLMContext(),
            user_params=LLMUserAggregatorParams(
                vad_analyzer=vad, user_turn_strategies=UserTurnStrategies(stop=[stop])
            ),
        )
        return AgentParts(
            [providers.stt, pair.user(), navigator, providers.tts],
            after_output=[pair.assistant()],
            greeting=None,  # a menu speaks first
            persona=ctx.persona,
            providers={"name": f"{providers.name} + IVR navigator", **providers.description},
        )

    agent.__qualname__ = agent.__name__ = "menu_navigator"
    return agent


def _llm(providers: Providers, keywords: Sequence[str]) -> LLMService[Any]:
    # A cloud LLM reads the navigator's prompts; offline, the menu's words decide.
    return providers.llm if providers.name == "cloud" else MenuChoiceLLMService(goal=keywords)


def _on_status(ctx: AgentContext) -> Any:
    async def handler(processor: FrameProcessor, status: IVRStatus) -> None:
        ctx.record.update_manifest(ivr_status=status.value)
        if status is IVRStatus.COMPLETED:
            await _talk(ctx, processor)
        elif status is IVRStatus.STUCK:
            await processor.push_frame(EndWorkerFrame(reason="ivr: stuck in the menu"))

    return handler


def _on_person(ctx: AgentContext) -> Any:
    async def handler(processor: FrameProcessor, _history: list[Any]) -> None:
        ctx.record.update_manifest(ivr_status="conversation")
        await _talk(ctx, processor)

    return handler


async def _talk(ctx: AgentContext, processor: FrameProcessor) -> None:
    """Through to a person: the persona's prompt replaces the navigator's, and it greets."""
    system: list[LLMContextMessage] = [{"role": "system", "content": ctx.persona.system_prompt}]
    await processor.push_frame(LLMMessagesUpdateFrame(messages=system), FrameDirection.UPSTREAM)
    await processor.push_frame(TTSSpeakFrame(ctx.persona.greeting, append_to_context=True))


menu_navigator = make_menu_navigator(GOAL, GOAL_KEYWORDS)
"""The sample: through the menu to catering (``VOICELAB_AGENT`` names this)."""
