"""When a provider fails: a first-token guard, a polite fallback, and where faults go.

Three small pipecat processors, wired around the call's services by :class:`CallGuards`::

    transport in -> FallbackSpeaker -> STT -> [fault] -> user -> LLM -> [fault] ->
        FirstTokenGuard -> TTS -> [fault] -> transport out ...

- :class:`~voicelab.bot.fault_injection.ProviderFault` stands right after a service and
  spoils its answers the way ``settings.faults`` says (drills and tests).
- :class:`FirstTokenGuard` watches the LLM: a reply whose first token does not come
  within ``settings.llm_timeout`` is interrupted (pipecat's interruption cancels the
  hung request) and reported as an ``ErrorFrame``.
- :class:`FallbackSpeaker` sits at the head of the pipeline, where every service's
  ``ErrorFrame`` passes on its way upstream: it says a short fallback line (once per
  caller turn; a TTS that failed once may speak again), and ends the call politely (an
  ``EndWorkerFrame``: the bot hangs up) when the TTS fails again, since then nothing can
  be said, or after :data:`MAX_FALLBACKS`.

Errors stay non-fatal ErrorFrames, so the call's ``CallEventObserver`` writes each as an
``error`` event and the call goes on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

from voicelab.bot.fault_injection import ProviderFault
from voicelab.config import FaultService, Settings

__all__ = [
    "FALLBACK_LINE",
    "GOODBYE_LINE",
    "MAX_FALLBACKS",
    "CallGuards",
    "FallbackSpeaker",
    "FirstTokenGuard",
    "service_kind",
]

FALLBACK_LINE = "Sorry, I'm having trouble hearing you right now. Could you say that again?"
GOODBYE_LINE = "Sorry, I'm having technical trouble right now. Please call back later. Goodbye."
# Fallbacks in one call before the bot stops apologising and ends the call.
MAX_FALLBACKS = 3


class FirstTokenGuard(FrameProcessor):
    """Interrupts an LLM reply whose first token is late, and reports it as an error.

    Placed after the LLM: pipecat's LLM services push ``LLMFullResponseStartFrame``
    before they send the request, so a reply that started but has no text after
    ``timeout`` seconds is a hung provider. The interruption cancels the request
    (pipecat cancels a processor's work on ``InterruptionFrame``); the error makes the
    :class:`FallbackSpeaker` talk, so the caller is not left in silence.

    Args:
        timeout: Seconds to wait for the first token.
    """

    service: FaultService = "llm"

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._timer: asyncio.Task[None] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame):
            await self._stop_timer()
            self._timer = self.create_task(self._expire(), name=f"{self}::first_token")
        elif isinstance(
            frame,
            LLMTextFrame | LLMFullResponseEndFrame | InterruptionFrame | EndFrame | CancelFrame,
        ):
            await self._stop_timer()
        await self.push_frame(frame, direction)

    async def _expire(self) -> None:
        await asyncio.sleep(self.timeout)
        self._timer = None  # not cancelled by the interruption below: it is this task
        logger.warning(f"{self}: no first token from the LLM in {self.timeout:g} s")
        await self.broadcast_interruption()
        await self.push_error(f"the LLM gave no first token within {self.timeout:g} s")

    async def _stop_timer(self) -> None:
        if self._timer is not None:
            timer, self._timer = self._timer, None
            await self.cancel_task(timer)

    async def cleanup(self) -> None:
        await self._stop_timer()
        await super().cleanup()


class FallbackSpeaker(FrameProcessor):
    """Says a fallback line when a provider fails; ends the call when that cannot help.

    Placed at the head of the pipeline (right after the transport's input), where the
    ``ErrorFrame`` of every later processor passes on its way upstream.

    Attributes:
        fallbacks: Fallback lines said so far.
        gave_up: Why the bot ended the call itself (``None`` while it has not).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fallbacks = 0
        self.gave_up: str | None = None
        self._said_this_turn = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, UserStartedSpeakingFrame):
            self._said_this_turn = False
        await self.push_frame(frame, direction)
        if isinstance(frame, ErrorFrame) and direction is FrameDirection.UPSTREAM:
            await self._on_error(frame)

    async def _on_error(self, frame: ErrorFrame) -> None:
        service = failed_service(frame)
        if service is None or self.gave_up is not None or frame.fatal:
            return  # not a provider's failure, or the call is ending anyway
        if service == "tts" and self._said_this_turn:
            # The fallback itself cannot be said: end the call (the bot hangs up) rather
            # than leave the caller in silence.
            await self._end(f"the TTS failed ({frame.error})", say=None)
        elif self._said_this_turn:
            return  # one apology per caller turn, however many errors it caused
        elif self.fallbacks >= MAX_FALLBACKS:
            await self._end(f"{self.fallbacks} provider failures", say=GOODBYE_LINE)
        else:
            self.fallbacks += 1
            self._said_this_turn = True
            logger.info(f"{self}: {service} failed ({frame.error}); saying the fallback line")
            await self.push_frame(TTSSpeakFrame(FALLBACK_LINE, append_to_context=True))

    async def _end(self, why: str, say: str | None) -> None:
        self.gave_up = why
        logger.warning(f"{self}: ending the call: {why}")
        if say:
            await self.push_frame(TTSSpeakFrame(say, append_to_context=True))
        # Downstream, behind the goodbye: the worker ends once it has been said.
        await self.push_frame(EndWorkerFrame(reason=why))


def failed_service(frame: ErrorFrame) -> FaultService | None:
    """Which provider an error comes from, or ``None`` when it is not a provider's."""
    processor = frame.processor
    service = getattr(processor, "service", None)
    if isinstance(processor, ProviderFault | FirstTokenGuard) and service is not None:
        return service
    return service_kind(processor)


def service_kind(processor: object) -> FaultService | None:
    """``stt``, ``llm`` or ``tts`` for a pipecat service of that kind, else ``None``."""
    if isinstance(processor, STTService):
        return "stt"
    if isinstance(processor, LLMService):
        return "llm"
    if isinstance(processor, TTSService):
        return "tts"
    return None


class CallGuards:
    """The fault processors, LLM guard and fallback speaker of one call.

    Args:
        settings: ``faults``, ``fault_delay``, ``fault_times`` and ``llm_timeout``.
    """

    def __init__(self, settings: Settings) -> None:
        self.fallback = FallbackSpeaker()
        self._faults: dict[FaultService, ProviderFault] = {
            service: ProviderFault(
                service, kind, delay=settings.fault_delay, times=settings.fault_times
            )
            for service, kind in settings.faults.items()
        }
        self._llm_guard = FirstTokenGuard(settings.llm_timeout)

    def after(self, service: FaultService) -> list[FrameProcessor]:
        """The processors that go right after ``service`` in the pipeline."""
        chain: list[FrameProcessor] = [self._faults[service]] if service in self._faults else []
        if service == "llm":
            chain.append(self._llm_guard)
        return chain

    @property
    def gave_up(self) -> str | None:
        """Why the bot ended the call itself after provider failures, if it did."""
        return self.fallback.gave_up
