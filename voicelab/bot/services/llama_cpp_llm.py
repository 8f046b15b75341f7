"""SmolLM2 (or any GGUF chat model) in-process through llama-cpp-python."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import FunctionCallFromLLM, StartFrame
from pipecat.processors.aggregators.llm_context import LLMContext

from voicelab.bot.services.clauses import count_sentences, split_at_last_clause
from voicelab.bot.services.llama_leases import LlamaLeases
from voicelab.bot.services.llama_tools import LlamaToolChooser, tool_notes
from voicelab.bot.services.local_llm import LocalLLMService

__all__ = ["LlamaCppLLMService"]


class LlamaCppLLMService(LocalLLMService):
    """Streams chat completions from shared ``llama_cpp.Llama`` contexts.

    The contexts are shared by every call in the process (each keeps the KV cache of the
    last prompt it read, so a repeated system prompt costs almost nothing), lent to one
    reply at a time (:class:`~voicelab.bot.services.llama_leases.LlamaLeases`); a call
    goes back to the context it used last when it is free. Given the call's opening messages
    (:meth:`prime_with`), the service evaluates them when the call starts, while the
    greeting plays, so the first reply does not pay for the system prompt.

    Args:
        llama: A loaded ``llama_cpp.Llama`` (one context; or ``leases``).
        lock: Guards ``llama`` across calls.
        leases: Several contexts to borrow from, instead of ``llama`` and ``lock``.
        max_tokens: Token budget of a reply. A reply that reaches it is cut after its last
            whole clause, never mid-word.
        max_sentences: The reply ends after this many sentences (phone replies are short).
        temperature: Sampling temperature.
        repeat_penalty: llama.cpp's penalty on repeated tokens; 1.15 all but ends SmolLM2's
            "I'm sorry, I'm sorry." loops (bench/RESULTS.md, persona A/B).
        tool_calls: Call the functions the context offers (at most one per caller turn,
            :mod:`~voicelab.bot.services.llama_tools`). Off by default: SmolLM2-135M cannot
            use them usefully (bench/RESULTS.md, VOICELAB_OFFLINE_TOOLS).
    """

    def __init__(
        self,
        *,
        llama: Any = None,
        lock: threading.Lock | None = None,
        leases: LlamaLeases | None = None,
        model_name: str = "SmolLM2-135M-Instruct-Q4_1",
        max_tokens: int = 80,
        max_sentences: int = 2,
        temperature: float = 0.3,
        repeat_penalty: float = 1.15,
        tool_calls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(model_name=model_name, **kwargs)
        if leases is None:
            if llama is None or lock is None:
                raise ValueError("LlamaCppLLMService needs llama and lock, or leases")
            leases = LlamaLeases([(llama, lock)])
        self._leases = leases
        self._context: int | None = None  # the context this call used last
        self._max_tokens = max_tokens
        self._max_sentences = max_sentences
        self._temperature = temperature
        self._repeat_penalty = repeat_penalty
        self._prime: list[dict[str, str]] = []
        self._tool_calls = tool_calls

    def prime_with(self, messages: list[dict[str, str]]) -> None:
        """Evaluate ``messages`` (the system prompt, say) into the KV cache at the call's start."""
        self._prime = list(messages)

    async def start(self, frame: StartFrame) -> None:
        """Start the service, and the priming in a worker thread."""
        await super().start(frame)
        if self._prime:
            self.create_task(asyncio.to_thread(self._evaluate, self._prime), "llm-prime")

    def _evaluate(self, messages: list[dict[str, str]]) -> None:
        with self._leases.lease(self._context) as (self._context, llama):
            # One token, consumed: llama.cpp keeps the prompt's state (and, with the
            # pool's RAM cache, saves it for every later call opening the same way).
            llama.create_chat_completion(messages=messages, max_tokens=1)

    async def respond(self, context: LLMContext) -> None:
        """Words, or (with ``tool_calls``, after a caller's turn) one function call."""
        tools = context.tools
        if not self._tool_calls or not isinstance(tools, ToolsSchema):
            await super().respond(context)
            return
        raw = list(context.get_messages())
        messages = tool_notes(raw)  # a result is a system note: the model's only way to see it
        last = raw[-1] if raw else None
        if isinstance(last, Mapping) and last.get("role") == "user":
            specs = [
                {"type": "function", "function": tool.to_default_dict()}
                for tool in tools.standard_tools
                if isinstance(tool, FunctionSchema)
            ]
            choice = await asyncio.to_thread(self._choose, messages, specs)
            if choice is not None:
                await self.stop_ttfb_metrics()
                name, arguments = choice
                call_id = f"llama_{uuid.uuid4().hex[:12]}"
                await self.run_function_calls(
                    [FunctionCallFromLLM(name, call_id, arguments, context)]
                )
                return
        await self._generate(messages)

    def _choose(
        self, messages: Sequence[Mapping[str, str]], specs: Sequence[Mapping[str, Any]]
    ) -> tuple[str, dict[str, Any]] | None:
        with self._leases.lease(self._context) as (self._context, llama):
            chooser = LlamaToolChooser(llama, temperature=self._temperature)
            return chooser.choose(messages, specs)

    def stream_reply(self, messages: list[dict[str, str]], stop: threading.Event) -> Iterator[str]:
        """Yield the reply a clause at a time, ending on a boundary."""
        held, sentences, finish = "", 0, None
        with self._leases.lease(self._context) as (self._context, llama):
            chunks = llama.create_chat_completion(
                messages=messages,
                max_tokens=self._max_tokens,
                temperature=self._temperature,
                repeat_penalty=self._repeat_penalty,
                stream=True,
            )
            for chunk in chunks:
                if stop.is_set():
                    return
                choice = chunk["choices"][0]
                finish = choice.get("finish_reason") or finish
                ready, held = split_at_last_clause(held + (choice["delta"].get("content") or ""))
                if ready:
                    yield ready
                    sentences += count_sentences(ready)
                    if sentences >= self._max_sentences:
                        return  # long enough for a phone turn: stop generating
        if finish != "length" and held.strip():
            yield held  # the model ended the reply itself: its last words are whole
