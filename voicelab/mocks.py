"""Canned results for an agent's functions: a scenario's ``tools:`` block, one model for all.

A scenario file says what the agent's functions return during its call, so a test of a
phone agent does not need the systems behind them (an order database, a ticketing API)::

    tools:
      log_feedback:
        returns: {ticket: T-1}
      lookup_site:
        - when_args: {name: London office}
          returns: {address: 1 Canada Square}
        - error: no such site          # any other arguments: the function fails
    strict_tools: true                 # a function with no mock fails the call

The simulator validates it when the scenario loads and writes it into the call's manifest
before the call's stream starts; the server reads it there and answers the agent's own
registered functions (``llm.register_function``) with it (``voicelab.bot.mocking``). Only
pydantic here: every layer may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ToolMock", "ToolMocks", "mock_for"]

_Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]


class ToolMock(BaseModel):
    """One canned answer of a function: ``returns`` a result, or fails with ``error``.

    Attributes:
        when_args: Answer only calls whose arguments include these (a subset, compared
            with ``==``); ``None`` answers any call.
        returns: The function's result (any JSON value), as its handler would return it.
        error: Fail the call with this message instead (the agent's function raised).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    when_args: dict[str, Any] | None = None
    returns: Any = None
    error: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_answer(self) -> ToolMock:
        if self.error is not None and "returns" in self.model_fields_set:
            raise ValueError("a mock either returns a result or fails with an error, not both")
        if self.error is None and "returns" not in self.model_fields_set:
            raise ValueError("a mock needs returns: (the result) or error: (a failure)")
        return self

    def matches(self, arguments: Mapping[str, Any] | None) -> bool:
        """Whether this mock answers a call with ``arguments``."""
        given = arguments or {}
        return self.when_args is None or all(
            key in given and given[key] == value for key, value in self.when_args.items()
        )


class ToolMocks(BaseModel):
    """A scenario's mocks, by function name (each a mock, or a list tried in order).

    Attributes:
        tools: The mocks of each function.
        strict: A call of a function without a matching mock fails the call (else the
            agent's own function runs).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: dict[_Name, list[ToolMock]] = Field(default_factory=dict)
    strict: bool = False

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        # One mock is a list of one.
        if isinstance(value, Mapping) and isinstance(value.get("tools"), Mapping):
            tools = {
                name: mock if isinstance(mock, list | tuple) else [mock]
                for name, mock in value["tools"].items()
            }
            return {**value, "tools": tools}
        return value

    def manifest(self) -> dict[str, Any]:
        """The mocks as a manifest keeps them (the server reads them back)."""
        return self.model_dump(mode="json", exclude_defaults=True)


def mock_for(mocks: ToolMocks, name: str, arguments: Mapping[str, Any] | None) -> ToolMock | None:
    """The first of ``name``'s mocks that answers ``arguments``, if any."""
    return next((m for m in mocks.tools.get(name, []) if m.matches(arguments)), None)
