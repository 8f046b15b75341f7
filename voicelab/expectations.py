"""What a scenario expects of the bot's replies and actions: one model for the simulator,
analysis and the pytest plugin.

A scenario file lists expectations under ``expect:``; the simulator validates them when it
loads the file (:mod:`voicelab.simulator.scenario`), writes them into the call's manifest,
and :func:`voicelab.analysis.check_expectations` (so the plugin's ``assert_expectations``)
checks each against the recorded turns. Only pydantic and ``regex``: every layer may import it.

An expectation's ``regex`` is evaluated in one place, :func:`regex_search`, with a time
budget: a scenario comes from anyone, and a pattern such as ``^(a|aa)+$`` backtracks
exponentially on a reply of a few dozen characters (Python's ``re`` has no timeout,
so one such check would hang a report or a test run for ever).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

# The ``regex`` package, not ``re``: its search takes a timeout, and its default VERSION0
# syntax is re's, so the patterns mean what users were told (``re.search``). Google's RE2
# would be linear but refuses backreferences and lookaround, which patterns may use.
import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voicelab.errors import ScenarioError

__all__ = ["ACTION_CHECKS", "REGEX_BUDGET_S", "Expectation", "ToolCallSpec", "regex_search"]

REGEX_BUDGET_S = 0.1
"""Seconds one expectation pattern may take on one reply; a sane one takes microseconds."""

_Phrase = Annotated[str, Field(min_length=1)]
_E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]  # telephony.ids' rule, ASCII

ACTION_CHECKS = (
    "calls",
    "must_not_call",
    "transferred_to",
    "ended_by",
    "voicemail_left",
    "dtmf_sent",
)
"""The expectations on what the agent does (beside what it says)."""


class ToolCallSpec(BaseModel):
    """A function call an expectation wants (pipecat eval's ``function_call`` shape).

    Attributes:
        name: The function.
        args: Arguments the call must have had (a subset: other arguments may be there too).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    args: dict[str, Any] | None = None

    def matches(self, name: str, arguments: Mapping[str, Any] | None) -> bool:
        """Whether a call of ``name`` with ``arguments`` is this one."""
        given = arguments or {}
        wanted = self.args or {}
        return name == self.name and all(k in given and given[k] == v for k, v in wanted.items())

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in (self.args or {}).items())
        return f"{self.name}({args})"


class Expectation(BaseModel):
    """What one bot reply (``turn``), or every reply (no ``turn``), must do.

    Turn numbers are the scenario's: ``N`` is the answer to the caller's ``N``-th scripted
    utterance, 0 the greeting. Each field set gives one row in the scores. Without a turn,
    the checks are call-wide: ``contains`` in some reply, ``must_not_say`` in none,
    ``max_latency_s`` for every turn.

    Attributes:
        turn: 0 is the greeting, N the reply to the caller's N-th spoken line; ``None``
            means any reply of the call.
        contains: Phrases of which at least one must appear (case-insensitive).
        regex: A pattern the reply must match (``re.search``, case-insensitive; see
            :func:`regex_search`: a search over :data:`REGEX_BUDGET_S` fails the check).
        must_not_say: Phrases none of which may appear (case-insensitive).
        max_latency_s: Longest acceptable voice-to-voice latency, in seconds (the turn's
            first figure in :data:`voicelab.analysis.latency.V2V_PREFERENCE`).
        calls: Function calls the agent must make (each with ``args`` a subset of the
            call's), in the turn or anywhere in the call.
        must_not_call: Functions the agent must not call (in the turn, or at all).
        transferred_to: The call must be transferred to this number (``true``: anywhere;
            ``false``: never).
        ended_by: Who must end the call: ``bot`` (the agent hung up) or ``caller``.
        voicemail_left: The agent must (``true``) or must not leave a voicemail message.
        dtmf_sent: The keys the agent must press, in order (e.g. ``"1"``, ``"12#"``).
        eval: A criterion in plain words, judged by an LLM judge (pipecat's ``EvalJudge``):
            on the turn's reply, or on the whole conversation when there is no ``turn``
            (pipecat eval's ``success:``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    turn: int | None = Field(default=None, strict=True, ge=0)
    contains: list[_Phrase] | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)
    must_not_say: list[_Phrase] | None = Field(default=None, min_length=1)
    max_latency_s: float | None = Field(default=None, strict=True, gt=0, le=60)
    calls: list[ToolCallSpec] | None = Field(default=None, min_length=1)
    must_not_call: list[_Phrase] | None = Field(default=None, min_length=1)
    transferred_to: _E164 | bool | None = None
    ended_by: Literal["bot", "caller"] | None = None
    voicemail_left: bool | None = None
    dtmf_sent: str | None = Field(default=None, pattern=r"^[0-9*#wW]+$")
    eval: str | None = Field(default=None, min_length=1, max_length=2000)

    @field_validator("contains", "must_not_say", "must_not_call", mode="before")
    @classmethod
    def _phrases(cls, value: Any) -> Any:
        # One phrase is a list of one; anything else is left for pydantic to reject.
        return [value] if isinstance(value, str) else value

    @field_validator("calls", mode="before")
    @classmethod
    def _calls(cls, value: Any) -> Any:
        # `calls: log_feedback` and `calls: {name: ...}` are lists of one.
        if isinstance(value, str):
            return [{"name": value}]
        return [value] if isinstance(value, Mapping) else value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                regex.compile(value, regex.IGNORECASE)  # the engine regex_search runs
            except regex.error as exc:
                raise ValueError(f"the pattern does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _checks_something(self) -> Expectation:
        says = (self.contains, self.regex, self.must_not_say, self.max_latency_s, self.eval)
        does = tuple(getattr(self, name) for name in ACTION_CHECKS)
        if all(check is None for check in (*says, *does)):
            raise ValueError(
                "an expectation needs contains, regex, must_not_say, max_latency_s, eval or one of "
                + ", ".join(ACTION_CHECKS)
            )
        whole_call = [
            n
            for n in ("ended_by", "voicemail_left", "dtmf_sent", "transferred_to")
            if getattr(self, n) is not None
        ]
        if self.turn is not None and whole_call:
            raise ValueError(f"{whole_call[0]} is about the whole call: leave turn out")
        return self

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Expectation:
        """Validate one expectation read back from a manifest or written by hand.

        Raises:
            ScenarioError: An unknown key or an invalid value (the message names it).
        """
        unknown = set(raw) - set(cls.model_fields)
        if unknown:
            raise ScenarioError(f"expectation has unknown keys {sorted(unknown)}: {dict(raw)}")
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "expectation"
            raise ScenarioError(
                f"invalid expectation {dict(raw)}: {where}: {first['msg']}"
            ) from None

    def manifest(self) -> dict[str, Any]:
        """The expectation as a manifest writes it (set fields only, JSON types)."""
        return self.model_dump(mode="json", exclude_none=True)


def regex_search(pattern: str, text: str, *, budget_s: float = REGEX_BUDGET_S) -> bool | None:
    """Whether ``pattern`` occurs in ``text``: the rule of :attr:`Expectation.regex`.

    ``re.search`` semantics, case-insensitive, within ``budget_s`` seconds.

    Returns:
        ``True`` or ``False``; ``None`` when the search ran out of time (catastrophic
        backtracking), which a check reports as a failure, never as a hang.

    Raises:
        ScenarioError: ``pattern`` does not compile (an expectation validates it first).
    """
    try:
        return regex.search(pattern, text, regex.IGNORECASE, timeout=budget_s) is not None
    except TimeoutError:
        return None
    except regex.error as exc:
        raise ScenarioError(f"the pattern {pattern!r} does not compile: {exc}") from None
