"""A scenario's tool mocks, answering the agent's own registered functions during its call.

The agent registers its functions with pipecat (``llm.register_function(name, handler)``);
for a simulated call whose scenario has a ``tools:`` block (:mod:`voicelab.mocks`), each
handler is wrapped: a call that a mock answers returns the mock's result (or fails with its
error) and never reaches the agent's code; any other call runs the agent's function, or,
with ``strict_tools``, fails the call. Functions registered later in the call are wrapped
as they are registered. Every mocked call is marked in the record (``mocked: true`` on its
``function_call.*`` event).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pipecat.adapters.llm.schemas.direct_function import DirectFunctionWrapper
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.llm_service import FunctionCallParams, LLMService

from voicelab.errors import ToolMockError
from voicelab.mocks import ToolMocks, mock_for

__all__ = ["MockedTools"]


class MockedTools:
    """Applies one call's :class:`~voicelab.mocks.ToolMocks` to the agent's LLM services.

    Args:
        mocks: The scenario's mocks.
        on_unmocked: Awaited with the function's name when ``strict`` mocks meet a call
            they do not answer (the call pipeline ends the call with an error).
    """

    def __init__(
        self,
        mocks: ToolMocks,
        on_unmocked: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.mocks = mocks
        self.mocked: set[str] = set()  # tool_call_ids a mock answered
        self._on_unmocked = on_unmocked

    def was_mocked(self, tool_call_id: str) -> bool:
        """Whether a mock answered the call ``tool_call_id``."""
        return tool_call_id in self.mocked

    def apply(self, processors: Iterable[FrameProcessor] | Pipeline) -> int:
        """Wrap the functions of every LLM service among ``processors``; how many services."""
        services = [p for p in _flatten(processors) if isinstance(p, LLMService)]
        for llm in services:
            for name, item in list(llm._functions.items()):
                if name is not None:
                    item.handler = self._handler(name, item.handler)
            register = llm.register_function

            def register_mocked(
                function_name: str | None,
                handler: Any,
                *args: Any,
                _register: Any = register,
                **kwargs: Any,
            ) -> None:
                if function_name is not None:
                    handler = self._handler(function_name, handler)
                _register(function_name, handler, *args, **kwargs)

            llm.register_function = register_mocked  # type: ignore[method-assign]
        return len(services)

    def _handler(self, name: str, real: Any) -> Callable[[FunctionCallParams], Awaitable[None]]:
        async def handler(params: FunctionCallParams) -> None:
            mock = mock_for(self.mocks, name, params.arguments)
            if mock is not None:
                self.mocked.add(params.tool_call_id)
                if mock.error is not None:
                    raise ToolMockError(mock.error)
                await params.result_callback(mock.returns)
                return
            if self.mocks.strict:
                message = f"{name} has no mock for arguments {dict(params.arguments or {})}"
                await params.result_callback({"error": message})
                if self._on_unmocked is not None:
                    await self._on_unmocked(name)
                return
            if isinstance(real, DirectFunctionWrapper):
                await real.invoke(args=params.arguments, params=params)
            else:
                await real(params)

        return handler


def _flatten(processors: Iterable[FrameProcessor] | Pipeline) -> list[FrameProcessor]:
    """The processors of a list or a (nested) pipeline."""
    items = processors.processors if isinstance(processors, Pipeline) else processors
    found: list[FrameProcessor] = []
    for item in items:
        found.extend(_flatten(item) if isinstance(item, Pipeline) else [item])
    return found
