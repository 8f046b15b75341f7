"""Faults on purpose: a processor that spoils a provider's answers, for drills and tests.

:class:`ProviderFault` stands right after a service (wired by
:class:`voicelab.bot.faults.CallGuards`) and spoils its answers the way ``settings.faults``
says (``error``, ``timeout``, ``slow_first_byte``), so any provider can misbehave without
touching the provider. One state machine over the three kinds, not a class per kind: each
kind changes one or two transitions of the same answer (open, content, close), and the
transitions share the held-back frames and pending tasks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicelab.config import FaultKind, FaultService

__all__ = ["ProviderFault"]

# What each service answers with: the frames that open, carry and close one answer.
# STT answers are single transcripts (no open/close).
_ANSWER_FRAMES: dict[
    FaultService, tuple[type[Frame] | None, tuple[type[Frame], ...], type[Frame] | None]
] = {
    "stt": (None, (TranscriptionFrame, InterimTranscriptionFrame), None),
    "llm": (LLMFullResponseStartFrame, (LLMTextFrame,), LLMFullResponseEndFrame),
    "tts": (TTSStartedFrame, (TTSAudioRawFrame, TTSTextFrame), TTSStoppedFrame),
}


class ProviderFault(FrameProcessor):
    """Spoils the answers of the service it follows, on purpose.

    ``error``: the answer is dropped and an ``ErrorFrame`` is pushed, as a provider
    that fails would. ``timeout``: the answer is dropped and the error comes only
    ``delay`` seconds later (a provider that hangs until its client times out).
    ``slow_first_byte``: the answer comes ``delay`` seconds late.

    Args:
        service: Which service this follows (``stt``, ``llm`` or ``tts``).
        kind: The fault.
        delay: Seconds a ``timeout`` / ``slow_first_byte`` holds the answer back.
        times: Answers to spoil; 0 spoils every one.
    """

    def __init__(
        self, service: FaultService, kind: FaultKind, *, delay: float, times: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(name=f"{service.upper()}Fault#{kind}", **kwargs)
        self.service: FaultService = service
        self.kind: FaultKind = kind
        self.delay = delay
        self.times = times
        self.spoiled = 0
        self._opens, self._content, self._closes = _ANSWER_FRAMES[service]
        self._spoiling = False  # inside an answer being spoiled
        self._held_first = False  # slow_first_byte: the answer's first piece was held back
        self._closing: Frame | None = None  # timeout: the answer's end, held back
        self._pending: set[asyncio.Task[None]] = set()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, EndFrame | CancelFrame) or (
            # A bot interruption drops a late LLM/TTS answer; a late transcript is the
            # caller's words and still comes.
            isinstance(frame, InterruptionFrame) and self.service != "stt"
        ):
            await self._cancel_pending()
            self._spoiling, self._closing = False, None
        if direction is not FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
        elif self._opens is not None and isinstance(frame, self._opens):
            self._spoiling, self._held_first = self._take_one(), False
            await self.push_frame(frame, direction)
            if self._spoiling and self.kind != "slow_first_byte":
                await self._fail()
        elif self._closes is not None and isinstance(frame, self._closes):
            if self._spoiling and self.kind == "timeout":
                self._closing = frame  # a hung provider does not finish: see _fail_late
                return
            self._spoiling = False
            await self.push_frame(frame, direction)
        elif isinstance(frame, self._content):
            await self._content_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _content_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if self._opens is None:  # STT: every final transcript is an answer of its own
            if isinstance(frame, TranscriptionFrame):
                self._spoiling = self._take_one()
                if self._spoiling and self.kind == "slow_first_byte":
                    # Later, in a task: the caller's audio keeps flowing to the VAD meanwhile.
                    self._later(self._push_late(frame, direction))
                    return
                if self._spoiling:
                    await self._fail()
            if not self._spoiling:
                await self.push_frame(frame, direction)
            return
        if self._spoiling and self.kind == "slow_first_byte":
            if not self._held_first:
                self._held_first = True
                # Holding this processor's queue holds the rest of the answer behind it;
                # an interruption cancels the wait, as it would a real request.
                await asyncio.sleep(self.delay)
            await self.push_frame(frame, direction)
        elif not self._spoiling:
            await self.push_frame(frame, direction)

    def _take_one(self) -> bool:
        if self.times and self.spoiled >= self.times:
            return False
        self.spoiled += 1
        return True

    async def _fail(self) -> None:
        if self.kind == "error":
            await self.push_error(f"injected {self.service} fault: error")
        else:
            self._later(self._fail_late())

    async def _fail_late(self) -> None:
        await asyncio.sleep(self.delay)
        await self.push_error(f"injected {self.service} fault: no answer within {self.delay:g} s")
        closing, self._closing = self._closing, None
        if closing is not None:
            self._spoiling = False
            await self.push_frame(closing)

    async def _push_late(self, frame: Frame, direction: FrameDirection) -> None:
        await asyncio.sleep(self.delay)
        await self.push_frame(frame, direction)

    def _later(self, coroutine: Any) -> None:
        task = self.create_task(coroutine, name=f"{self}::late")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _cancel_pending(self) -> None:
        for task in list(self._pending):
            await self.cancel_task(task)
        self._pending.clear()

    async def cleanup(self) -> None:
        await self._cancel_pending()
        await super().cleanup()
