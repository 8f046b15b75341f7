"""The judgments table: one row per ``judge.verdict`` event, what the judge decided and why.

The judge (:mod:`voicelab.judging`) writes each verdict of pipecat's ``EvalJudge`` into the
call's ``events.jsonl`` after the call (DESIGN.md section 3.1); this table reads them back,
so the verdicts stay with the record and load like any other column, with no LLM at hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from voicelab.analysis._files import ParsedCall
from voicelab.recording.contract import JUDGE_VERDICT

__all__ = ["JUDGMENTS_SCHEMA", "build_judgments"]

_DICT = pa.dictionary(pa.int32(), pa.string())
_STR, _F64 = pa.string(), pa.float64()
JUDGMENTS_SCHEMA = pa.schema(
    [
        ("call_sid", _DICT),
        ("kind", _DICT),
        ("criterion", _STR),
        ("metric", _DICT),
        ("turn", pa.int64()),
        ("passed", pa.bool_()),
        ("verdict", _DICT),
        ("confidence", _F64),
        ("score", _F64),
        ("min_score", _F64),
        ("reason", _STR),
        ("judge", _DICT),
        ("key", _STR),
        ("judged_at", pa.timestamp("us", tz="UTC")),
    ]
)
# The Python types each data field must have to be read (a bool is not a turn number).
_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "criterion": (str,),
    "metric": (str,),
    "turn": (int,),
    "passed": (bool,),
    "verdict": (str,),
    "confidence": (float, int),
    "score": (float, int),
    "min_score": (float, int),
    "reason": (str,),
    "judge": (str,),
    "key": (str,),
}


def _rows(call: ParsedCall) -> list[dict[str, Any]]:
    rows = []
    for event in call.events:
        if event["type"] != JUDGE_VERDICT:
            continue
        data = event["data"]
        row: dict[str, Any] = {"call_sid": call.call_sid, "judged_at": event["wall"]}
        for name, types in _TYPES.items():
            value = data.get(name)
            row[name] = value if type(value) in types else None
        for name in ("confidence", "score", "min_score"):
            if row[name] is not None:
                row[name] = float(row[name])
        rows.append(row)
    return rows


def build_judgments(calls: Sequence[ParsedCall]) -> pa.Table:
    """The judge's verdicts on ``calls`` as one table with :data:`JUDGMENTS_SCHEMA`."""
    rows = [row for call in calls for row in _rows(call)]
    columns = {name: [row.get(name) for row in rows] for name in JUDGMENTS_SCHEMA.names}
    plain = JUDGMENTS_SCHEMA.remove(JUDGMENTS_SCHEMA.get_field_index("judged_at"))
    table = pa.Table.from_pydict({k: columns[k] for k in plain.names}, schema=plain)
    walls = pa.array(columns["judged_at"], _STR).cast(pa.timestamp("us", tz="UTC"))
    return table.append_column(JUDGMENTS_SCHEMA.field("judged_at"), walls)
