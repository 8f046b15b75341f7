"""A tree's events read in one ``pyarrow.json`` parse: the cold load's fast path.

Parsing a million lines one ``json.loads`` at a time and then moving every field into
columns in Python was most of a cold load. Here every call's ``events.jsonl`` bytes are
joined and parsed by Arrow in one go (each file's line count maps rows back to calls);
the events table's columns come from Arrow's, and only the few lines Arrow's columns cannot
speak for exactly are parsed again in Python with the same rules as the per-call reader:

- lines with a data field that is no column (kept in ``extra``), or a column's field whose
  values Arrow typed otherwise than the column (a ``turn`` that is once ``1.5``);
- lines holding ``null`` anywhere (a field written as ``null`` and one not written read the
  same in a column, not in the builders' ``data.get(key, default)``).

The builders of the other tables (turns, calls, tool calls, judgments) get each event as
a dict like the per-call reader's: those lines' own dicts, the others' made from the
columns. A file's torn last line is dropped (with the same warning) or kept before the
join, exactly as ``_files`` would. Anything else Arrow refuses or reads differently (a bad
line, a blank line made of spaces, a missing ``t``) returns ``None``: the caller then reads
the tree call by call, which finds and names the culprit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from voicelab.analysis._events import DATA_FIELDS, EVENTS_SCHEMA, events_table, scatter, split_data
from voicelab.analysis._files import (
    EVENTS,
    CallDir,
    MalformedCall,
    ParsedCall,
    read_events_bytes,
    read_manifest,
    valid_event,
)

__all__ = ["BulkRead", "read_bulk"]

_TOP = pa.schema(
    [(name, EVENTS_SCHEMA.field(name).type) for name in ("t",)]
    + [(name, pa.string()) for name in ("wall", "source", "type")]
)
_PARSE = pj.ParseOptions(explicit_schema=_TOP, unexpected_field_behavior="infer")
_READ = pj.ReadOptions(block_size=1 << 23)  # a line longer than this fails: the slow path
# Arrow types that hold a column's values exactly (null: the field was never set).
_FITS = {
    pa.int64(): (pa.int64(), pa.null()),
    pa.float64(): (pa.float64(), pa.int64(), pa.null()),
    pa.bool_(): (pa.bool_(), pa.null()),
    pa.string(): (pa.string(), pa.null()),
}


@dataclass(slots=True)
class BulkRead:
    """Every call directory read, and the events of those that could be.

    Attributes:
        calls: Per directory, in order: the call (events as the builders' dicts) or why
            it cannot be read.
        columns: The events table's columns (but ``call_sid``) for the rows of the read
            calls, in order.
    """

    calls: list[ParsedCall | MalformedCall]
    columns: dict[str, pa.Array]

    def table(self, kept: list[ParsedCall]) -> pa.Table:
        """The events table of ``kept`` (read calls, in order; others' rows dropped)."""
        read = [c for c in self.calls if isinstance(c, ParsedCall)]
        counts = [len(c.events) for c in read]
        columns = self.columns
        if len(kept) != len(read):
            wanted = {id(c) for c in kept}
            mask = np.repeat([id(c) in wanted for c in read], counts)
            columns = {k: v.filter(pa.array(mask)) for k, v in columns.items()}
            counts = [len(c.events) for c in kept]
        return events_table(counts, [c.call_sid for c in kept], columns)


def _events_bytes(path: str, warnings: list[str]) -> bytes:
    """A file's lines as Arrow should read them: no blank line, the torn last one gone."""
    raw = read_events_bytes(path)
    if b"\n\n" in raw or raw[:1] == b"\n":  # blank lines: skipped by the per-call reader too
        *lines, tail = raw.split(b"\n")  # (an unterminated last line stays one)
        raw = b"".join(line + b"\n" for line in lines if line.strip()) + tail
    if raw and raw[-1:] != b"\n":
        head, _, tail = raw.rpartition(b"\n")
        try:
            kept = valid_event(json.loads(tail))
        except ValueError:
            kept = False
        if kept or not tail.strip():
            return raw + b"\n" if kept else head + b"\n" if head else b""
        number = sum(1 for line in raw.split(b"\n") if line.strip())
        warnings.append(f"{path}: dropped a truncated last line ({number})")
        raw = head + b"\n" if head else b""
    return raw


def _parse(data: bytes, rows: int) -> pa.Table | None:
    """Arrow's reading of the joined lines, if it is one typed row per line."""
    if not rows:  # (Arrow reads no table from no bytes)
        return None
    try:
        table = pj.read_json(pa.BufferReader(data), read_options=_READ, parse_options=_PARSE)
    except pa.ArrowInvalid:
        return None
    if table.num_rows != rows or any(table[name].null_count for name in _TOP.names):
        return None
    data_type = table.schema.field("data").type if "data" in table.column_names else pa.null()
    if not (pa.types.is_struct(data_type) or pa.types.is_null(data_type)):
        return None
    return table.combine_chunks()


def _again(
    data: bytes, ends: np.ndarray, table: pa.Table
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The rows to parse again in Python, and the data fields Arrow typed as the columns
    (``ends``: where each row's line ends in ``data``)."""
    n = table.num_rows
    again = np.zeros(n, np.bool_)
    fits: dict[str, pa.Array] = {}
    if "data" in table.column_names and pa.types.is_struct(table.schema.field("data").type):
        struct = table["data"].chunk(0)
        for field, child in zip(struct.type, struct.flatten(), strict=True):
            spec = DATA_FIELDS.get(field.name)
            if spec is not None and child.type in _FITS[spec[0]]:
                fits[field.name] = child
            elif child.null_count < n:
                again |= child.is_valid().to_numpy(zero_copy_only=False)
    position = data.find(b"null")
    while position >= 0:  # (a "null" inside a string too: parsed again all the same)
        row = int(np.searchsorted(ends, position))
        again[row] = True
        position = data.find(b"null", int(ends[row]) + 1)
    return again, fits


def _line_ends(data: bytes) -> np.ndarray:
    """Where each line of ``data`` ends, found a few MB at a time (a comparison of the whole
    buffer at once makes a mask as large as it, and costs several times more)."""
    buffer = np.frombuffer(data, np.uint8)
    step = 1 << 22
    found = [np.flatnonzero(buffer[i : i + step] == 10) + i for i in range(0, len(buffer), step)]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def read_bulk(dirs: list[CallDir]) -> BulkRead | None:
    """Read ``dirs``' manifests and events; ``None`` when Arrow cannot read the events."""
    calls: list[ParsedCall | MalformedCall] = []
    pieces: list[bytes] = []
    for directory in dirs:
        try:
            manifest = read_manifest(directory.location)
            warnings: list[str] = []
            raw = _events_bytes(os.path.join(directory.location, EVENTS), warnings)
        except MalformedCall as exc:
            calls.append(exc)
            continue
        pieces.append(raw)
        calls.append(ParsedCall(directory, manifest, [], warnings))
    counts = [piece.count(b"\n") for piece in pieces]
    data = b"".join(pieces)
    del pieces
    table = _parse(data, sum(counts))
    if table is None:
        return None
    ends = _line_ends(data)
    again, fits = _again(data, ends, table)
    events, columns = _events(data, ends, table, again, fits)
    start = 0
    read = (call for call in calls if isinstance(call, ParsedCall))
    for call, count in zip(read, counts, strict=True):
        call.events = events[start : start + count]
        start += count
    return BulkRead(calls, columns)


def _events(
    data: bytes, ends: np.ndarray, table: pa.Table, again: np.ndarray, fits: dict[str, pa.Array]
) -> tuple[list[dict], dict[str, pa.Array]]:
    """The builders' event dicts and the events table's columns."""
    n = table.num_rows
    t, wall, source, kind = (table[name].chunk(0) for name in _TOP.names)
    datas: list[dict] = [{} for _ in range(n)]
    for name, child in fits.items():
        if child.null_count == n:
            continue
        valid = child.is_valid()
        rows = np.flatnonzero(valid.to_numpy(zero_copy_only=False)).tolist()
        holders = itemgetter(*rows)(datas) if len(rows) > 1 else [datas[rows[0]]]
        for holder, value in zip(holders, child.filter(valid).to_pylist(), strict=True):
            holder[name] = value
    events = [
        {"t": a, "wall": b, "source": c, "type": d, "data": e}
        for a, b, c, d, e in zip(
            t.to_pylist(),
            wall.to_pylist(),
            source.to_pylist(),
            kind.to_pylist(),
            datas,
            strict=True,
        )
    ]
    del datas
    # The lines Arrow's columns do not speak for: their own dicts, and their own fields.
    starts = np.concatenate(([0], ends[:-1] + 1))
    sparse: dict[str, tuple[list[int], list]] = {k: ([], []) for k in DATA_FIELDS if k not in fits}
    extra_rows: list[int] = []
    extra_values: list[str] = []
    for row in np.flatnonzero(again).tolist():
        event = json.loads(data[int(starts[row]) : int(ends[row])])
        if event.get("data") is None:
            event["data"] = {}
        events[row] = event
        known, extra = split_data(event["data"])
        for key, value in known.items():
            if key in sparse:
                sparse[key][0].append(row)
                sparse[key][1].append(value)
        if extra is not None:
            extra_rows.append(row)
            extra_values.append(extra)
    columns: dict[str, pa.Array] = {"t": t, "wall": wall, "source": source, "type": kind}
    for name, (typ, _) in DATA_FIELDS.items():
        child = fits.get(name)
        columns[name] = child.cast(typ) if child is not None else scatter(n, *sparse[name], typ)
    columns["extra"] = scatter(n, extra_rows, extra_values, pa.string())
    return events, columns
