"""Agents a user could have written, for the agent-seam tests (no models, instant answers).

``fixed_reply_agent`` is plain pipecat: the instant STT, a user aggregator with Silero VAD,
a :class:`FixedReply` processor where an LLM would be, and the instant TTS. Importable as
``custom_agents:fixed_reply_agent`` with ``tests/`` on ``sys.path`` (the suite's conftest
puts it there; a subprocess gets it through ``PYTHONPATH``).
"""

from __future__ import annotations

from typing import Any

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voicelab.bot.agent import AgentContext, AgentParts
from voicelab.bot.services import InstantSTTService, InstantTTSService

GREETING = "Tony's Pizza, this is the test agent. What can I get you?"
REPLY = "One large margherita, coming right up."


class FixedReply(FrameProcessor):
    """Answers every caller turn with :data:`REPLY`, framed as an LLM's reply would be."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            if not frame.speculation:  # a provisional turn gets no answer
                await self.push_frame(LLMFullResponseStartFrame())
                await self.push_frame(LLMTextFrame(REPLY))
                await self.push_frame(LLMFullResponseEndFrame())
            return
        await self.push_frame(frame, direction)


def fixed_reply_agent(ctx: AgentContext) -> AgentParts:
    """The test agent: a fixed greeting, then :data:`REPLY` to every turn."""
    context = LLMContext(messages=[{"role": "system", "content": "You sell pizza."}])
    stop = SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=ctx.settings.user_speech_timeout)
    pair = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=ctx.settings.vad_stop_secs)),
            user_turn_strategies=UserTurnStrategies(stop=[stop]),
        ),
    )
    ctx.record.update_manifest(agent_variant="fixed")  # an agent may tag its calls
    return AgentParts(
        [InstantSTTService(), pair.user(), FixedReply(), InstantTTSService()],
        after_output=[pair.assistant()],
        greeting=GREETING,
    )


class SwitchableAgent:
    """:func:`fixed_reply_agent`, or an agent that raises while it is built (``broken``)."""

    def __init__(self) -> None:
        self.broken = False

    def __call__(self, ctx: AgentContext) -> Any:
        if self.broken:
            raise RuntimeError("the agent exploded while being built")
        return fixed_reply_agent(ctx)


# --- an agent that acts: the README's tool-calling example ---------------------------------------
# (README "An agent that calls functions": keep the two the same.)

import itertools  # noqa: E402

from pipecat.frames.frames import FunctionCallFromLLM  # noqa: E402
from pipecat.services.llm_service import FunctionCallParams, LLMService  # noqa: E402


class OrderTaker(LLMService):
    """An LLM of your own: every caller turn places an order, then says what came back."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ids = itertools.count(1)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        if frame.speculation:  # a provisional turn gets no answer
            return
        last = frame.context.get_messages()[-1]
        await self.push_frame(LLMFullResponseStartFrame())
        if last.get("role") == "tool":  # the function's result: say it
            await self.push_frame(LLMTextFrame(f"Your order is placed: {last['content']}."))
        else:  # a caller's turn: call the function (its result comes back as a new turn)
            call = FunctionCallFromLLM(
                function_name="place_order",
                tool_call_id=f"call-{next(self._ids)}",
                arguments={"item": "margherita", "size": "large"},
                context=frame.context,
            )
            await self.run_function_calls([call])
        await self.push_frame(LLMFullResponseEndFrame())


ORDERS_PLACED: list[dict[str, Any]] = []  # what the real function did (mocks never reach it)


async def place_order(params: FunctionCallParams) -> None:
    """The agent's own function: in real life an order system's API."""
    ORDERS_PLACED.append(dict(params.arguments))
    await params.result_callback({"order": f"A-{len(ORDERS_PLACED)}"})


def order_agent(ctx: AgentContext) -> AgentParts:
    """The tool-calling agent: instant STT/TTS around :class:`OrderTaker`."""
    context = LLMContext(messages=[{"role": "system", "content": "You take pizza orders."}])
    stop = SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=ctx.settings.user_speech_timeout)
    pair = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=ctx.settings.vad_stop_secs)),
            user_turn_strategies=UserTurnStrategies(stop=[stop]),
        ),
    )
    llm = OrderTaker()
    llm.register_function("place_order", place_order)
    return AgentParts(
        [InstantSTTService(), pair.user(), llm, InstantTTSService()],
        after_output=[pair.assistant()],
        greeting=GREETING,
    )


def reference_agent_hearing(text: str) -> Any:
    """voicelab's reference agent, its instant STT hearing ``text`` in every speech segment.

    With ``providers="instant"`` the reference agent's STT hears a fixed line; these agents
    hear the line a test needs (a goodbye, an angry guest, a voicemail greeting), so its
    tools, its hang-up and its voicemail detector run in a real call without Whisper.
    """
    from voicelab.bot.reference_agent import reference_agent

    def agent(ctx: AgentContext) -> AgentParts:
        parts = reference_agent(ctx)
        processors = list(parts.processors)  # type: ignore[arg-type]
        assert isinstance(processors[0], InstantSTTService), "run it with providers='instant'"
        processors[0] = InstantSTTService(text=text)
        parts.processors = processors
        return parts

    return agent


goodbye_agent = reference_agent_hearing("No, that was all. Goodbye.")
angry_agent = reference_agent_hearing("This is unacceptable, I want to speak to a manager.")
answering_machine_agent = reference_agent_hearing(
    "Hi, you have reached Taylor. Please leave a message after the beep."
)


# --- an agent whose server loop stalls while it speaks: the playout lead's test ----------------

import time  # noqa: E402

from pipecat.frames.frames import BotSpeakingFrame  # noqa: E402

STALL_S = 0.1  # each stall of the server's loop
STALL_EVERY_S = 0.3  # at most one stall this often, while the bot speaks


class LoopStall(FrameProcessor):
    """Blocks the server's event loop for :data:`STALL_S` now and then while the bot speaks.

    What a busy server does to every call on it (a burst of other calls' frames, a model run
    on the loop, a garbage collection), on purpose and on time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._last = 0.0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotSpeakingFrame) and time.monotonic() - self._last >= STALL_EVERY_S:
            time.sleep(STALL_S)  # blocking on purpose: the whole loop waits
            self._last = time.monotonic()
        await self.push_frame(frame, direction)


def stalling_agent(ctx: AgentContext) -> AgentParts:
    """:func:`fixed_reply_agent` on a server whose loop stalls while the bot speaks."""
    parts = fixed_reply_agent(ctx)
    return AgentParts(
        [*parts.processors, LoopStall()], after_output=parts.after_output, greeting=GREETING
    )
