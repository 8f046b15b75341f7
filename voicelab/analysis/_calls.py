"""The calls table: one row per call, from its manifest and a summary of its events.

Manifest fields are declared once below with the paths they may be found at (the first
present wins), so a writer that nests ``persona`` or flattens it loads the same. Top-level
scalar manifest fields not declared here become extra string columns, so a tag a user put
in the manifest (a prompt variant, an experiment name) can be grouped by.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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


def call_row(call: ParsedCall) -> dict[str, Any]:
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
    started: dict[str, Any] = {}
    ended: dict[str, Any] | None = None
    counts = dict.fromkeys(
        (
            "user.speech_stopped",
            "interruption",
            "error",
            "caller.utterance_ended",
            "function_call.started",
        ),
        0,
    )
    usage: dict[str, int] = {}
    fatal = has_caller = has_server = False
    for event in events:  # one pass: this runs for every call of a cold load
        kind, source = event["type"], event["source"]
        if kind in counts:
            counts[kind] += 1
            fatal = fatal or (kind == "error" and event["data"].get("fatal") is True)
        elif kind in _USAGE:
            for field in _USAGE[kind]:
                value = event["data"].get(field)
                if type(value) is int:
                    usage[field] = usage.get(field, 0) + value
        if source == "caller":
            has_caller = True
        elif source == "server":
            has_server = True
            if kind == "call.started" and not started:
                started = event["data"]
            elif kind == "call.ended":
                ended = event
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
        "fatal_error": fatal,
        "call_dir": call.dir.name,
        "server_wav": recording if recording in server_wavs else next(reversed(server_wavs), None),
        "caller_wav": CALLER_WAV if caller_wav else None,
    }
    for key, value in manifest.items():
        if key not in _CONSUMED and key not in row and isinstance(value, (str, int, float)):
            row[key] = str(value)
    return row


def build_calls(calls: Sequence[ParsedCall]) -> pa.Table:
    """The rows of ``calls`` as one table: :data:`CALLS_SCHEMA` plus extra manifest fields."""
    rows = [call_row(call) for call in calls]
    extras = sorted({k for row in rows for k in row} - set(CALLS_SCHEMA.names))
    schema = CALLS_SCHEMA
    for name in extras:
        schema = schema.append(pa.field(name, _STR))
    return pa.Table.from_pydict({n: [r.get(n) for r in rows] for n in schema.names}, schema=schema)
