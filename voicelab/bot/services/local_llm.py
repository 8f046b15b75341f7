"""Base for in-process LLMs: runs a blocking token stream in a thread, pushes pipecat frames."""

from __future__ import annotations

import asyncio
import threading
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from pipecat.frames.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings
from pipecat.utils.tracing.service_decorators import traced_llm

__all__ = ["LocalLLMService", "chat_messages", "local_llm_settings"]


def local_llm_settings(model_name: str) -> LLMSettings:
    """Settings with every knob a local model does not expose set to ``None``."""
    unsupported: dict[str, Any] = {
        f.name: None for f in fields(LLMSettings) if f.name not in ("model", "extra")
    }
    return LLMSettings(model=model_name, **unsupported)


def chat_messages(raw: list[Any]) -> list[dict[str, str]]:
    """OpenAI-style ``{"role", "content"}`` messages with text-only content."""
    messages: list[dict[str, str]] = []
    for message in raw:
        if not isinstance(message, dict) or "role" not in message:
            continue  # provider-specific messages mean nothing to a local model
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        role = "system" if message["role"] == "developer" else str(message["role"])
        if role in ("system", "user", "assistant") and content:
            messages.append({"role": role, "content": str(content)})
    return messages


class LocalLLMService(LLMService):
    """An LLM that runs in this process, one blocking token iterator per reply.

    Subclasses implement :meth:`stream_reply`; this class runs it in a worker
    thread, turns its tokens into ``LLMTextFrame``\\ s, reports TTFB/processing
    metrics, and stops the thread when the reply is interrupted. A subclass that reads
    more of the context than its text (tool results) overrides :meth:`respond`.
    """

    def __init__(self, *, model_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("settings", local_llm_settings(model_name))
        super().__init__(**kwargs)

    def can_generate_metrics(self) -> bool:
        return True

    @abstractmethod
    def stream_reply(self, messages: list[dict[str, str]], stop: threading.Event) -> Iterator[str]:
        """Yield the reply's text pieces; runs in a worker thread.

        Args:
            messages: The conversation, system prompt first.
            stop: Set when the reply is no longer wanted (interruption, hang-up).
        """

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        await self._process_context(frame.context)

    # pipecat's `llm` span per reply when the call is traced (VOICELAB_OTLP_ENDPOINT), as
    # its own LLM services have: messages, output, TTFB.
    @traced_llm
    async def _process_context(self, context: LLMContext) -> None:
        await self.push_frame(LLMFullResponseStartFrame())
        await self.start_processing_metrics()
        await self.start_ttfb_metrics()
        try:
            await self.respond(context)
        except Exception as exc:  # a failed reply must not end the call
            await self.push_error(error_msg=f"Error during completion: {exc}", exception=exc)
        finally:
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())

    async def respond(self, context: LLMContext) -> None:
        """Answer ``context`` with frames, between the response's start and end frames.

        The default streams :meth:`stream_reply` over the context's text messages. A
        function call is made the way pipecat's cloud services make one, after the text:
        ``await self.run_function_calls([...])``.
        """
        await self._generate(chat_messages(list(context.get_messages())))

    async def _generate(self, messages: list[dict[str, str]]) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for piece in self.stream_reply(messages, stop):
                    if stop.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as exc:  # handed to the event loop to raise there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = asyncio.create_task(asyncio.to_thread(produce))
        try:
            while (piece := await queue.get()) is not None:
                if isinstance(piece, BaseException):
                    raise piece
                if piece:
                    await self.stop_ttfb_metrics()
                    await self._push_llm_text(piece)
        finally:
            stop.set()  # on interruption the task is cancelled: release the model early
            await asyncio.shield(worker)
