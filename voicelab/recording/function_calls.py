"""Function calls into the call record, through pipecat's ``FunctionCallObserver``.

A function call is what the agent *does* (log a complaint, transfer a caller): pipecat's
observer reports each call's moments (started, in progress, and one of completed, failed,
timed out or cancelled), and each becomes a ``function_call.*`` event of the record, on
the call's turn, with the arguments, a bounded result or the error, and how long the
application's own code ran (``duration_s``: from in progress to settled).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pipecat.observers.function_call_observer import (
    FunctionCallEvent,
    FunctionCallEventKind,
    FunctionCallObserver,
)

from voicelab.recording.contract import RESULT_CHARS
from voicelab.recording.store import CallRecord

__all__ = ["function_call_observer"]

_EVENT = {
    FunctionCallEventKind.STARTED: "function_call.started",
    FunctionCallEventKind.COMPLETED: "function_call.completed",
    FunctionCallEventKind.FAILED: "function_call.failed",
    FunctionCallEventKind.TIMED_OUT: "function_call.timed_out",
    FunctionCallEventKind.CANCELLED: "function_call.cancelled",
}


def function_call_observer(
    record: CallRecord,
    turn: Callable[[], int],
    mocked: Callable[[str], bool] = lambda _: False,
) -> FunctionCallObserver:
    """pipecat's observer, writing each function call's moments into ``record``.

    Args:
        record: The call's record.
        turn: The caller's turn as the server counts it now (the calls belong to it).
        mocked: Whether a call (by its ``tool_call_id``) was answered by a scenario's mock.
    """
    observer = FunctionCallObserver(include_arguments=True, include_results=True)

    @observer.event_handler("on_function_call_event")
    async def _on_event(_: Any, event: FunctionCallEvent) -> None:
        kind = _EVENT.get(event.kind)
        if kind is None:  # in progress: its time is the settle's duration_s
            return
        data: dict[str, Any] = {"turn": turn(), "name": event.function_name}
        data["call_id"] = event.tool_call_id
        if event.kind is FunctionCallEventKind.STARTED:
            arguments = event.arguments
            data["arguments"] = dict(arguments) if isinstance(arguments, dict) else None
        else:
            if event.in_progress_at is not None:
                data["duration_s"] = round(max(0.0, event.timestamp - event.in_progress_at), 4)
            if event.result is not None:
                data["result"] = _bounded_json(event.result)
            if event.error is not None:
                data["error"] = str(event.error)
            data["mocked"] = mocked(event.tool_call_id)
        record.emit(kind, **data)

    return observer


def _bounded_json(value: Any) -> str:
    """``value`` as JSON text, cut at :data:`RESULT_CHARS` (a result may be anything)."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = json.dumps(str(value))
    return text if len(text) <= RESULT_CHARS else text[: RESULT_CHARS - 1] + "…"
