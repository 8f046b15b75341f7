"""The events table: one row per line of ``events.jsonl``, data fields as typed columns.

The event data fields that become columns are declared once below (null where an event
lacks them); each is a field of the record contract (``recording.contract.EVENT_DATA``)
with the same type, and every scalar field of the contract is a column or named in
:data:`KEPT_IN_EXTRA` (``tests/unit/recording/test_record_contract.py`` checks both). Anything else
an event carries, including a known field with an unexpected type, is kept as JSON in
``extra``, so nothing a newer writer adds is lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from voicelab.analysis._files import ParsedCall

__all__ = [
    "DATA_FIELDS",
    "EVENTS_SCHEMA",
    "KEPT_IN_EXTRA",
    "build_events",
    "events_table",
    "scatter",
    "split_data",
]

_STR, _F64, _I64, _BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()

# data field -> (column type, the Python types accepted for it). Exact type checks: a
# bool is not a turn number.
DATA_FIELDS: dict[str, tuple[pa.DataType, tuple[type, ...]]] = {
    "turn": (_I64, (int,)),
    "text": (_STR, (str,)),
    "final": (_BOOL, (bool,)),
    "service": (_STR, (str,)),
    "ttft_s": (_F64, (float, int)),
    "ttfa_s": (_F64, (float, int)),
    "ttfb_s": (_F64, (float, int)),
    "v2v_s": (_F64, (float, int)),
    "measured_from": (_STR, (str,)),
    "reason": (_STR, (str,)),
    "message": (_STR, (str,)),
    "fatal": (_BOOL, (bool,)),
    "digit": (_STR, (str,)),
    "name": (_STR, (str,)),
    "status": (_STR, (str,)),
    "stop_secs": (_F64, (float, int)),
    "cut_off": (_BOOL, (bool,)),
    "sequence": (_I64, (int,)),
    "duration": (_STR, (str,)),
    "call_id": (_STR, (str,)),
    "result": (_STR, (str,)),
    "error": (_STR, (str,)),
    "duration_s": (_F64, (float, int)),
    "mocked": (_BOOL, (bool,)),
    "prompt_tokens": (_I64, (int,)),
    "completion_tokens": (_I64, (int,)),
    "total_tokens": (_I64, (int,)),
    "characters": (_I64, (int,)),
    # What the agent did, as the carrier and the callee saw it.
    "by": (_STR, (str,)),
    "answered_by": (_STR, (str,)),
}

# Contract fields that stay in ``extra``: call.started's parties are the calls table's
# (a transfer's ``to`` too), the details of a hang-up, a transfer, a detection or a key,
# and a judge's verdict.
KEPT_IN_EXTRA = frozenset(
    {"call_sid", "stream_sid", "direction", "from", "to", "how", "ring_s", "detection_s", "node"}
    # A judge's verdict: the judgments table's (analysis/_judgments.py); its reason is a column.
    | {"kind", "criterion", "metric", "passed", "verdict", "confidence", "score", "min_score"}
    | {"judge", "key"}
)

_DICT = pa.dictionary(pa.int32(), pa.string())
EVENTS_SCHEMA = pa.schema(
    [
        ("call_sid", _DICT),
        ("t", _F64),
        ("wall", pa.timestamp("us", tz="UTC")),
        ("source", _DICT),
        ("type", _DICT),
        *((name, typ) for name, (typ, _) in DATA_FIELDS.items()),
        ("extra", _STR),
    ]
)


def scatter(n: int, rows: list[int], values: list[Any], typ: pa.DataType) -> pa.Array:
    """A length-``n`` array holding ``values`` at ``rows`` and nulls elsewhere."""
    if typ == _STR:
        full: list[Any] = [None] * n
        for row, value in zip(rows, values, strict=True):
            full[row] = value
        return pa.array(full, typ)
    dtype = {_F64: np.float64, _I64: np.int64, _BOOL: np.bool_}[typ]
    data: np.ndarray = np.zeros(n, dtype)
    mask = np.ones(n, np.bool_)
    if rows:
        index = np.asarray(rows)
        data[index] = values
        mask[index] = False
    return pa.array(data, typ, mask=mask)


def _timestamps(strings: pa.Array) -> pa.Array:
    try:
        return strings.cast(pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:  # a malformed wall stamp: that value alone becomes null
        walls = pd.Series(strings.to_pylist(), dtype=object)
        parsed = pd.to_datetime(walls, utc=True, format="ISO8601", errors="coerce")
        return pa.array(parsed.dt.as_unit("us"), pa.timestamp("us", tz="UTC"))


def split_data(data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """An event's ``data`` as its column values and its ``extra`` JSON (``None``: nothing)."""
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        spec = DATA_FIELDS.get(key)
        if spec is not None and type(value) in spec[1]:
            known[key] = value
        elif value is not None:
            extra[key] = value
    return known, json.dumps(extra, ensure_ascii=False, default=str) if extra else None


def events_table(
    counts: Sequence[int],
    sids: Sequence[str],
    columns: dict[str, pa.Array],
) -> pa.Table:
    """The table of events whose other columns are ``columns``: the first ``counts[0]``
    rows are call ``sids[0]``'s, and so on (``t``, ``wall``, ``source``, ``type`` given as
    numbers and strings)."""
    call_index = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    arrays = {
        "call_sid": pa.DictionaryArray.from_arrays(call_index, pa.array(sids, _STR)),
        "t": columns["t"],
        "wall": _timestamps(columns["wall"]),
        "source": columns["source"].dictionary_encode(),
        "type": columns["type"].dictionary_encode(),
    }
    return pa.Table.from_arrays(
        [arrays.get(name, columns.get(name)) for name in EVENTS_SCHEMA.names],
        schema=EVENTS_SCHEMA,
    )


def build_events(calls: Sequence[ParsedCall]) -> pa.Table:
    """The events of ``calls`` as one table with :data:`EVENTS_SCHEMA`."""
    t: list[float] = []
    walls: list[str] = []
    sources: list[str] = []
    types: list[str] = []
    sparse: dict[str, tuple[list[int], list[Any]]] = {k: ([], []) for k in DATA_FIELDS}
    extra_rows: list[int] = []
    extra_values: list[str] = []
    row = 0
    for call in calls:
        for event in call.events:
            t.append(event["t"])
            walls.append(event["wall"])
            sources.append(event["source"])
            types.append(event["type"])
            known, extra = split_data(event["data"])
            for key, value in known.items():
                rows, values = sparse[key]
                rows.append(row)
                values.append(value)
            if extra is not None:
                extra_rows.append(row)
                extra_values.append(extra)
            row += 1
    columns = {
        "t": pa.array(t, _F64),
        "wall": pa.array(walls, _STR),
        "source": pa.array(sources, _STR),
        "type": pa.array(types, _STR),
        **{k: scatter(row, *sparse[k], typ) for k, (typ, _) in DATA_FIELDS.items()},
        "extra": scatter(row, extra_rows, extra_values, _STR),
    }
    counts = [len(call.events) for call in calls]
    return events_table(counts, [c.call_sid for c in calls], columns)
