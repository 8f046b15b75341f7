"""The calls table: one row per call, from its manifest and a summary of its events.

Manifest fields are declared once below with the paths they may be found at (the first
present wins), so a writer that nests ``persona`` or flattens it loads the same. Top-level
scalar manifest fields not declared here become extra string columns, so a tag a user put
in the manifest (a prompt variant, an experiment name) can be grouped by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from voicelab.analysis._files import CALLER_WAV, ParsedCall

__all__ = ["CALLS_SCHEMA", "MANIFEST_COLUMNS", "SWEEP_COLUMNS", "build_calls", "manifest_value"]

_STR, _I64, _F64, _BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_TS = pa.timestamp("us", tz="UTC")

# column -> (type, manifest paths tried in order; "a.b" is manifest["a"]["b"])
MANIFEST_COLUMNS: dict[str, tuple[pa.DataType, tuple[str, ...]]] = {
    "direction": (_STR, ("direction",)),
    "from": (_STR, ("from",)),
    "to": (_STR, ("to",)),
    "stream_sid": (_STR, ("stream_sid",)),
    "known_at": (_TS, ("known_at",)),
    "started_at": (_TS, ("started_at",)),
    "ended_at": (_TS, ("ended_at",)),
    "end_reason": (_STR, ("end_reason",)),
    "status": (_STR, ("status",)),
    "scenario_id": (_STR, ("scenario.id", "scenario_id", "scenario")),
    "providers": (_STR, ("providers.name",)),
    **{
        f"{part}_{attr}": (_STR, (f"providers.{part}.{attr}", *alias))
        for part in ("stt", "llm", "tts", "vad")
        for attr, alias in (
            ("service", (f"providers.{part}.name", f"providers.{part}")),
            ("model", ()),
        )
    },
    "persona_id": (_STR, ("persona.id", "persona_id")),
    "persona_hash": (_STR, ("persona.text_hash", "persona.hash", "persona_hash")),
    "persona_version": (_I64, ("persona.version", "persona_version")),
    "voicelab_version": (_STR, ("versions.voicelab", "voicelab_version")),
    "pipecat_version": (_STR, ("versions.pipecat", "pipecat_version")),
    "settings_hash": (_STR, ("settings_hash",)),
    "server_port": (_I64, ("server_port",)),
    # What answered: agent.kind is "black-box" for an agent known only by its URL.
    "agent": (_STR, ("agent.kind", "agent")),
    "agent_url": (_STR, ("agent.url",)),
    # A sweep's cell (voicelab.sweeps): copied onto every turn too (SWEEP_COLUMNS).
    "sweep": (_STR, ("sweep.name",)),
    "variant": (_STR, ("sweep.variant", "variant")),  # or a user's own top-level tag
    "repeat": (_I64, ("sweep.repeat",)),
    "runner_host": (_STR, ("runner.host",)),
    "runner_node": (_STR, ("runner.node_id",)),
    # voicelab replay: the call whose caller this call played again.
    "replay_of": (_STR, ("replay.of",)),
    # What the agent did, as Twilio saw it.
    "ended_by": (_STR, ("ended_by",)),
    "answered_by": (_STR, ("answered_by",)),
    "transferred_to": (_STR, ("transferred_to",)),
    "transfer_status": (_STR, ("transfer_status",)),
    "voicemail_text": (_STR, ("voicemail.text",)),
    "dtmf_received": (_STR, ("dtmf_received",)),
}
# The event types counted per call.
_COUNTED = (
    "user.speech_stopped",
    "interruption",
    "error",
    "caller.utterance_ended",
    "function_call.started",
)
# Usage events and the fields summed per call.
_USAGE = {"llm.usage": ("prompt_tokens", "completion_tokens"), "tts.usage": ("characters",)}
# Call columns every turn row carries, so compare(turns, by="variant") needs no merge.
SWEEP_COLUMNS = ("sweep", "variant", "repeat")
_CONSUMED = {"call_sid", "status_history", "recording", "account_sid", "expectations"} | {
    path.split(".")[0] for _, paths in MANIFEST_COLUMNS.values() for path in paths
}

CALLS_SCHEMA = pa.schema(
    [
        ("call_sid", _STR),
        *((name, typ) for name, (typ, _) in MANIFEST_COLUMNS.items()),
        ("duration_s", _F64),
        ("simulated", _BOOL),
        ("n_events", _I64),
        ("n_turns", _I64),
        ("n_interruptions", _I64),
        ("n_errors", _I64),
        ("n_tool_calls", _I64),
        ("llm_prompt_tokens", _I64),
        ("llm_completion_tokens", _I64),
        ("tts_characters", _I64),
        ("fatal_error", _BOOL),
        ("call_dir", _STR),
        ("server_wav", _STR),
        ("caller_wav", _STR),
    ]
)


# The declared paths split once: a cold load looks up every column of every manifest.
_PATHS = {
    name: (typ, [path.split(".") for path in paths])
    for name, (typ, paths) in MANIFEST_COLUMNS.items()
}

# The same, flat for call_row: (column, type, a string column?, [(first key, the rest)]).
_COLUMNS = [
    (name, typ, typ == _STR, [(parts[0], tuple(parts[1:])) for parts in paths])
    for name, (typ, paths) in _PATHS.items()
]


def _lookup(manifest: dict[str, Any], parts: list[str]) -> Any:
    value: Any = manifest
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _coerce(value: Any, typ: pa.DataType) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return None
    if typ == _TS:
        try:
            stamp = datetime.fromisoformat(str(value))
        except ValueError:
            return None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    if typ == _I64:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return str(value)


def manifest_value(manifest: dict[str, Any], column: str) -> Any:
    """The value of a declared manifest column (the first of its paths present), coerced."""
    typ, paths = _PATHS[column]
    for parts in paths:
        value = _coerce(_lookup(manifest, parts), typ)
        if value is not None:
            return value
    return None


@dataclass(slots=True)
class _Facts:
    """What a call's row takes from its events."""

    counts: dict[str, int]  # events of each _COUNTED type
    usage: dict[str, int]  # _USAGE fields summed (absent: no integer value written)
    fatal: bool  # an error event with ``fatal: true``
    has_caller: bool
    has_server: bool
    started: dict[str, Any]  # the data of the server's first call.started with any
    ended: dict[str, Any] | None  # the server's last call.ended event


def _facts(calls: Sequence[ParsedCall], events: pa.Table) -> list[_Facts]:
    """The facts of each call, counted on the columns of their events table (a cold load
    summarises a million events: one Python pass over them cost a second)."""
    n = len(calls)
    owner = _codes(events["call_sid"])[0]
    kinds, kind_names = _codes(events["type"])
    sources, source_names = _codes(events["source"])

    def rows(column: np.ndarray, names: list[str], value: str) -> np.ndarray:
        return column == names.index(value) if value in names else np.zeros(len(column), bool)

    def per_call(mask: np.ndarray) -> list[int]:
        return np.bincount(owner[mask], minlength=n).tolist()

    counted = {kind: per_call(rows(kinds, kind_names, kind)) for kind in _COUNTED}
    fatal = rows(kinds, kind_names, "error") & _true(events["fatal"])
    fatal_calls = per_call(fatal)
    usage: list[dict[str, int]] = [{} for _ in range(n)]
    for kind, fields in _USAGE.items():
        of_kind = rows(kinds, kind_names, kind)
        for name in fields:
            column = events[name].combine_chunks()
            mask = of_kind & column.is_valid().to_numpy(zero_copy_only=False)
            sums = np.zeros(n, np.int64)
            np.add.at(sums, owner[mask], column.fill_null(0).to_numpy()[mask])
            for i in np.flatnonzero(np.bincount(owner[mask], minlength=n)).tolist():
                usage[i][name] = int(sums[i])
    callers = per_call(rows(sources, source_names, "caller"))
    server = rows(sources, source_names, "server")
    servers = per_call(server)
    starts = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=n)))).tolist()
    started: list[dict[str, Any]] = [{} for _ in range(n)]
    for row in np.flatnonzero(server & rows(kinds, kind_names, "call.started")).tolist():
        i = int(owner[row])
        started[i] = started[i] or calls[i].events[row - starts[i]]["data"]
    ended: list[dict[str, Any] | None] = [None] * n
    for row in np.flatnonzero(server & rows(kinds, kind_names, "call.ended")).tolist():
        i = int(owner[row])
        ended[i] = calls[i].events[row - starts[i]]
    return [
        _Facts(
            {kind: counted[kind][i] for kind in _COUNTED},
            usage[i],
            fatal_calls[i] > 0,
            callers[i] > 0,
            servers[i] > 0,
            started[i],
            ended[i],
        )
        for i in range(n)
    ]


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """A dictionary column's codes and the values they stand for."""
    array = column.combine_chunks()
    return array.indices.to_numpy(zero_copy_only=False), array.dictionary.to_pylist()


def _true(column: pa.ChunkedArray) -> np.ndarray:
    return column.combine_chunks().fill_null(False).to_numpy(zero_copy_only=False)


def call_row(call: ParsedCall, facts: _Facts) -> dict[str, Any]:
    """The calls-table row of one call (``call_dir`` and WAVs as names, made paths on load)."""
    manifest, events = call.manifest, call.events
    row: dict[str, Any] = {"call_sid": call.call_sid}
    for name, typ, is_str, paths in _COLUMNS:  # manifest_value, inlined: ~40 columns a call
        value = None
        for first, rest in paths:
            found = manifest.get(first)
            for part in rest:
                found = found.get(part) if isinstance(found, dict) else None
            if found is None:
                continue
            # A string column's string needs no coercion (most values of most manifests).
            value = found if is_str and type(found) is str else _coerce(found, typ)
            if value is not None:
                break
        row[name] = value
    counts, usage, started, ended = facts.counts, facts.usage, facts.started, facts.ended
    has_caller, has_server = facts.has_caller, facts.has_server
    for name in ("direction", "from", "to", "stream_sid"):  # older manifests lack them
        row[name] = row[name] or _coerce(started.get(name), _STR)
    if row["started_at"] is None and events:
        row["started_at"] = _coerce(min(e["wall"] for e in events), _TS)
    if ended is not None:
        row["ended_at"] = row["ended_at"] or _coerce(ended["wall"], _TS)
        row["end_reason"] = row["end_reason"] or _coerce(ended["data"].get("reason"), _STR)
    if row["started_at"] and row["ended_at"]:
        row["duration_s"] = (row["ended_at"] - row["started_at"]).total_seconds()
    caller_wav = CALLER_WAV in call.dir.stats
    recording = manifest.get("recording")
    server_wavs = call.dir.server_wavs
    row |= {
        "simulated": caller_wav or has_caller or row["scenario_id"] is not None,
        "n_events": len(events),
        # A black-box agent's call has no server events: its turns are the caller's.
        "n_turns": counts["user.speech_stopped" if has_server else "caller.utterance_ended"],
        "n_interruptions": counts["interruption"] if has_server else None,
        "n_errors": counts["error"],
        "n_tool_calls": counts["function_call.started"] if has_server else None,
        "llm_prompt_tokens": usage.get("prompt_tokens"),
        "llm_completion_tokens": usage.get("completion_tokens"),
        "tts_characters": usage.get("characters"),
        "fatal_error": facts.fatal,
        "call_dir": call.dir.name,
        "server_wav": recording if recording in server_wavs else next(reversed(server_wavs), None),
        "caller_wav": CALLER_WAV if caller_wav else None,
    }
    for key, value in manifest.items():
        if key not in _CONSUMED and key not in row and isinstance(value, (str, int, float)):
            row[key] = str(value)
    return row


def build_calls(calls: Sequence[ParsedCall], events: pa.Table) -> pa.Table:
    """The rows of ``calls`` as one table: :data:`CALLS_SCHEMA` plus extra manifest fields.

    ``events`` is their events table (``_events``), which the summary of each call's events
    is counted on.
    """
    rows = [call_row(call, facts) for call, facts in zip(calls, _facts(calls, events), strict=True)]
    extras = sorted({k for row in rows for k in row} - set(CALLS_SCHEMA.names))
    schema = CALLS_SCHEMA
    for name in extras:
        schema = schema.append(pa.field(name, _STR))
    return pa.Table.from_pydict({n: [r.get(n) for r in rows] for n in schema.names}, schema=schema)
