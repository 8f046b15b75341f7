"""pipecat eval expectations and metrics as voicelab's :class:`~voicelab.expectations.Expectation`.

A pipecat ``expect:`` item names an event the eval harness sees inside the bot (its RTVI
messages). On a phone line voicelab sees what the caller hears, plus what a voicelab server
records of the agent's actions; each event is mapped onto the check that observes the same
thing there, or refused with the reason (:class:`CheckRefused`). ``docs/DESIGN.md`` ("pipecat eval
files") has the table.
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from pipecat.evals.scenario import EvalExpectation, EvalFunctionCall, EvalSimulationMetric
from pipecat.evals.script import FUNCTION_CALL_EVENTS, JUDGEABLE_EVENTS

from voicelab.errors import CheckRefused
from voicelab.expectations import Expectation, ToolCallSpec
from voicelab.simulator._scenario_models import JudgedMetric

__all__ = ["NEVER_ON_A_PHONE", "SERVER_INTERNAL", "CheckRefused", "metric_checks", "turn_checks"]

NEVER_ON_A_PHONE = frozenset({"image", "llm_marker", "bot_backchannel", "user_backchannel"})
"""Events no phone call carries: video, the LLM's sideband markers, backchannel messages."""

SERVER_INTERNAL = frozenset(
    {
        "user_started_speaking",
        "user_stopped_speaking",
        "vad_user_started_speaking",
        "vad_user_stopped_speaking",
        "user_transcription",
        "llm_started",
        "bot_interrupted",
    }
)
"""The bot's own decisions (its VAD, turn detection, STT, LLM): a phone line carries only audio,
so a black-box agent shows none of them, and voicelab's expectations check what is heard."""

_LATENCY_CAP_S = 60.0  # Expectation.max_latency_s's upper bound
_SAYS_SOMETHING = r"\S"  # "the bot replied": the reply has words (any turn, the greeting too)


def turn_checks(exp: EvalExpectation, turn: int) -> Expectation:
    """The voicelab check of one pipecat expectation on voicelab turn ``turn``.

    Raises:
        CheckRefused: The event cannot be observed over a phone line, or voicelab has no check
            with its meaning (the message says which and why).
    """
    event = exp.event
    if event in NEVER_ON_A_PHONE:
        raise CheckRefused(f"event {event!r} cannot be observed over a phone line")
    if event in SERVER_INTERNAL:
        raise CheckRefused(
            f"event {event!r} is the bot's internal state, which a phone line does not carry"
            " (voicelab checks what the caller hears, and the agent's function calls)"
        )
    if exp.absent:
        why = (
            "voicelab's must_not_call needs the functions' names"
            if event in FUNCTION_CALL_EVENTS
            else "voicelab checks the replies that came, not one that must not"
        )
        raise CheckRefused(f"event {event!r} with absent: true has no phone-line check ({why})")
    if event in JUDGEABLE_EVENTS:
        return _reply_check(exp, turn)
    if event == FUNCTION_CALL_EVENTS[0]:
        return _call_check(exp, turn)
    if event == "bot_started_speaking":
        # Heard by the caller: the reply starts within the budget (caller-side latency).
        latency = _latency(exp.within_ms, turn)
        if latency is None:
            return Expectation(turn=turn, regex=_SAYS_SOMETHING)
        return Expectation(turn=turn, max_latency_s=latency)
    if event == "bot_stopped_speaking":
        if exp.within_ms:
            raise CheckRefused(
                "event 'bot_stopped_speaking' with within_ms: voicelab bounds when a reply"
                " starts (max_latency_s), not when it ends"
            )
        return Expectation(turn=turn, regex=_SAYS_SOMETHING)
    if event in FUNCTION_CALL_EVENTS:
        raise CheckRefused(
            f"event {event!r} (a call's result or cancellation) has no phone-line check;"
            " expect 'function_call' instead"
        )
    raise CheckRefused(f"unknown event {event!r}")


def _reply_check(exp: EvalExpectation, turn: int) -> Expectation:
    fields: dict[str, Any] = {
        "contains": [exp.text_contains] if exp.text_contains else None,
        "must_not_say": [exp.text_excludes] if exp.text_excludes else None,
        "eval": exp.eval,
        "max_latency_s": _latency(exp.within_ms, turn),
    }
    if all(value is None for value in fields.values()):
        fields["regex"] = _SAYS_SOMETHING  # a bare "the bot replies"
    return Expectation(turn=turn, **fields)


def _call_check(exp: EvalExpectation, turn: int) -> Expectation:
    if exp.eval:
        raise CheckRefused(
            "event 'function_call' with eval: voicelab judges the bot's replies, not its calls"
        )
    return Expectation(turn=turn, calls=_specs(exp.calls or [EvalFunctionCall()]))


def _specs(calls: list[EvalFunctionCall]) -> list[ToolCallSpec]:
    if not calls:
        raise CheckRefused("'calls: []' (no function calls at all) has no phone-line check")
    if any(call.name is None for call in calls):
        raise CheckRefused("a function call without a name (any call) has no phone-line check")
    return [ToolCallSpec(name=str(call.name), args=call.args) for call in calls]


def _latency(within_ms: int | None, turn: int) -> float | None:
    """``within_ms`` as the reply's caller-side voice-to-voice bound (``None``: unset)."""
    if not within_ms:
        return None
    if turn == 0:
        # The greeting answers no line of the caller's, so it has no voice-to-voice latency.
        logger.info(f"within_ms {within_ms} on the greeting is not checked on a phone line")
        return None
    seconds = within_ms / 1000
    if seconds > _LATENCY_CAP_S:
        raise CheckRefused(f"within_ms {within_ms} is over voicelab's {_LATENCY_CAP_S:.0f} s bound")
    return seconds


def metric_checks(metric: EvalSimulationMetric) -> JudgedMetric | Expectation:
    """A simulation's metric: judged (a :class:`JudgedMetric`) or a call-wide check.

    Raises:
        CheckRefused: A measure voicelab has no check for (``turns``, ``duration``, ``words``,
            a lower latency bound, ``function_calls: []``).
    """
    if metric.criterion is not None:
        return JudgedMetric(
            name=metric.name, criterion=metric.criterion, min_score=metric.min_score
        )
    if metric.measure == "latency":
        if metric.min_value is not None or metric.max_value is None:
            raise CheckRefused("measure 'latency' takes only max_value on a phone line")
        if metric.max_value > _LATENCY_CAP_S:
            raise CheckRefused(f"latency max_value {metric.max_value} is over 60 s")
        return Expectation(max_latency_s=float(metric.max_value))
    if metric.measure == "function_calls":
        return Expectation(calls=_specs(metric.calls or []))
    raise CheckRefused(f"measure {metric.measure!r} has no phone-line check")
