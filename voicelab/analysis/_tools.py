"""The tool-calls table: one row per function call the agent made, from its events.

A call's moments (``function_call.started`` and the one that settled it: ``completed``,
``failed``, ``timed_out`` or ``cancelled``; DESIGN.md section 3.1) are joined by
``call_id`` into one row: what was called with what, what came back, how long the
application's code ran, and whether a scenario's mock answered instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from voicelab.analysis._files import ParsedCall
from voicelab.recording.contract import FUNCTION_CALL_EVENTS

__all__ = ["TOOL_CALLS_SCHEMA", "build_tool_calls"]

_DICT = pa.dictionary(pa.int32(), pa.string())
TOOL_CALLS_SCHEMA = pa.schema(
    [
        ("call_sid", _DICT),
        ("turn", pa.int64()),
        ("call_id", pa.string()),
        ("name", _DICT),
        ("arguments", pa.string()),
        ("status", _DICT),
        ("result", pa.string()),
        ("error", pa.string()),
        ("mocked", pa.bool_()),
        ("duration_s", pa.float64()),
        ("started_t", pa.float64()),
        ("started_at", pa.timestamp("us", tz="UTC")),
    ]
)
# function_call.completed -> completed ...
_STATUS = {kind: kind.removeprefix("function_call.") for kind in FUNCTION_CALL_EVENTS[1:]}


def _rows(call: ParsedCall) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for event in call.events:
        kind, data = event["type"], event["data"]
        if event["source"] != "server" or not kind.startswith("function_call."):
            continue
        call_id = data.get("call_id")
        if not isinstance(call_id, str):
            continue
        row = rows.setdefault(
            call_id, {"call_sid": call.call_sid, "call_id": call_id, "status": "started"}
        )
        row.setdefault("name", data.get("name"))
        if type(data.get("turn")) is int:
            row.setdefault("turn", data["turn"])
        if kind == "function_call.started":
            arguments = data.get("arguments")
            row["arguments"] = None if arguments is None else json.dumps(arguments)
            row["started_t"], row["started_at"] = event["t"], event["wall"]
        elif kind in _STATUS:
            row["status"] = _STATUS[kind]
            for field in ("result", "error", "mocked", "duration_s"):
                row[field] = data.get(field)
    return list(rows.values())


def build_tool_calls(calls: Sequence[ParsedCall]) -> pa.Table:
    """The function calls of ``calls`` as one table with :data:`TOOL_CALLS_SCHEMA`."""
    rows = [row for call in calls for row in _rows(call)]
    columns: dict[str, list[Any]] = {name: [] for name in TOOL_CALLS_SCHEMA.names}
    for row in rows:
        for name in columns:
            columns[name].append(row.get(name))
    table = pa.Table.from_pydict(
        {k: v for k, v in columns.items() if k != "started_at"},
        schema=TOOL_CALLS_SCHEMA.remove(TOOL_CALLS_SCHEMA.get_field_index("started_at")),
    )
    walls = pa.array(columns["started_at"], pa.string()).cast(pa.timestamp("us", tz="UTC"))
    return table.append_column(TOOL_CALLS_SCHEMA.field("started_at"), walls)
