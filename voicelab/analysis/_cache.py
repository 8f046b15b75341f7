"""An incremental columnar cache of per-call tables, kept next to the recordings.

Parsing a million JSON lines takes seconds; reading the same rows back from parquet takes
a fraction of one. A cached table set ``<name>`` lives in ``<root>/.voicelab_cache/``::

    <name>.json                      the index: format version, the token of the current
                                     files, and per call directory the signature of its
                                     files (size + mtime), its key (call_sid) and warnings
    <name>-<token>.<table>.parquet   one file per table, rows of every call

A load stats every call directory, rebuilds only the directories whose signature changed
(or that are new), keeps the cached rows of the others and writes a new set. Files are
written under a fresh token and the index is replaced last (atomic rename), so a concurrent
reader sees the old set or the new one; if its files vanish under it, it rebuilds.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from voicelab.analysis._files import CallDir, CallRecordWarning

__all__ = ["CACHE_DIR", "Built", "Entry", "load"]

CACHE_DIR = ".voicelab_cache"
_logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Entry:
    """What the index remembers of one call directory."""

    sig: list[Any] = field(default_factory=list)
    key: str | None = None  # call_sid of its rows; None when the call was skipped
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Built:
    """The result of building some call directories: tables, and an entry per directory."""

    tables: dict[str, pa.Table]
    entries: dict[str, Entry]


Builder = Callable[[Sequence[CallDir]], Built]


def load(
    root: Path,
    dirs: Sequence[CallDir],
    *,
    name: str,
    version: int,
    signature: Callable[[CallDir], list[Any]],
    build: Builder,
    tables: Sequence[str],
    use_cache: bool = True,
) -> dict[str, pa.Table]:
    """The tables ``tables`` of every call in ``dirs``, from the cache where still valid.

    Every table the builder returns must have a ``call_sid`` column. Warnings recorded
    for a directory are re-emitted on every load, cached or not, so a skipped call is
    never skipped silently.

    Args:
        root: Where ``.voicelab_cache`` goes.
        dirs: The call directories, in output order.
        name: The table set's name (file prefix).
        version: Bump when the builder's output changes: older caches are then ignored.
        signature: What must stay equal for a directory's cached rows to be reused.
        build: Builds the tables of the given directories.
        tables: Which tables to return.
        use_cache: ``False`` builds everything and neither reads nor writes the cache.
    """
    sigs = {d.name: signature(d) for d in dirs}
    index = _read_index(root, name, version) if use_cache else None
    old = {k: Entry(*v) for k, v in index["entries"].items()} if index else {}
    same = {k for k, sig in sigs.items() if k in old and old[k].sig == sig}
    result: dict[str, pa.Table] | None = None
    if index and len(same) == len(sigs) == len(old):
        result = _read_tables(root, index, tables)
        entries = old
    if result is None:
        keep = same if index else set()
        cached = _read_tables(root, index, index["tables"]) if index and keep else {}
        if cached is None:  # the files vanished (a concurrent rewrite): rebuild everything
            keep, cached = set(), {}
        built = build([d for d in dirs if d.name not in keep])
        entries = {k: old[k] for k in keep} | built.entries
        _drop_duplicate_keys(entries, [d.name for d in dirs], keep)
        merged = _merge(cached, built.tables, entries, [d.name for d in dirs], keep)
        if use_cache:
            _write(root, name, version, merged, entries, sigs, index)
        result = {t: merged[t] for t in tables}
    for directory in sorted(entries):
        for message in entries[directory].warnings:
            warnings.warn(message, CallRecordWarning, stacklevel=4)
    return result


def _read_index(root: Path, name: str, version: int) -> dict[str, Any] | None:
    try:
        index = json.loads((root / CACHE_DIR / f"{name}.json").read_bytes())
    except (OSError, ValueError):
        return None
    ok = isinstance(index, dict) and index.get("version") == version
    return index if ok else None


def _read_tables(
    root: Path, index: dict[str, Any] | None, tables: Sequence[str]
) -> dict[str, pa.Table] | None:
    if index is None:
        return None
    base = root / CACHE_DIR / f"{index['name']}-{index['token']}"
    try:
        return {t: pq.read_table(f"{base}.{t}.parquet") for t in tables}
    except (OSError, pa.ArrowException):
        return None


def _drop_duplicate_keys(entries: dict[str, Entry], order: list[str], keep: set[str]) -> None:
    # call_sid is the key of every table: a second directory claiming it is skipped
    # (reused directories first, so a cached call never flips to a new copy).
    owner: dict[str, str] = {}
    position = {n: i for i, n in enumerate(order)}
    for name in sorted(order, key=lambda n: (n not in keep, position[n])):
        entry = entries[name]
        if entry.key is None:
            continue
        if entry.key in owner:
            entry.warnings.append(
                f"{name}: call_sid {entry.key} already loaded from {owner[entry.key]}; skipped"
            )
            entry.key = None
        else:
            owner[entry.key] = name


def _key_strings(table: pa.Table) -> pa.ChunkedArray:
    column = table["call_sid"]
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def _merge(
    cached: Mapping[str, pa.Table],
    built: Mapping[str, pa.Table],
    entries: Mapping[str, Entry],
    order: list[str],
    keep: set[str],
) -> dict[str, pa.Table]:
    keys = [entries[n].key for n in order if entries[n].key is not None]
    valid = pa.array(keys, pa.string())
    out = {}
    for table_name, new in built.items():
        parts = [new]
        if table_name in cached:
            old = cached[table_name]
            parts.insert(0, old.filter(pc.is_in(_key_strings(old), value_set=valid)))
        merged = pa.concat_tables(parts, promote_options="permissive")
        # Rows of skipped duplicates go, and calls come back in directory order (stable).
        position = pc.index_in(_key_strings(merged), value_set=valid)
        merged = merged.filter(pc.is_valid(position))
        if keep and len(built[table_name]):
            merged = merged.take(pc.sort_indices(pc.index_in(_key_strings(merged), valid)))
        out[table_name] = merged
    return out


def _write(
    root: Path,
    name: str,
    version: int,
    tables: Mapping[str, pa.Table],
    entries: Mapping[str, Entry],
    sigs: Mapping[str, list[Any]],
    previous: dict[str, Any] | None,
) -> None:
    cache = root / CACHE_DIR
    token = secrets.token_hex(6)
    index = {
        "name": name,
        "version": version,
        "token": token,
        "tables": sorted(tables),
        "entries": {k: [sigs[k], e.key, e.warnings] for k, e in entries.items()},
    }
    try:
        cache.mkdir(exist_ok=True)
        for table_name, table in tables.items():
            pq.write_table(table, cache / f"{name}-{token}.{table_name}.parquet")
        tmp = cache / f".{name}.{token}.json"
        tmp.write_text(json.dumps(index))
        os.replace(tmp, cache / f"{name}.json")
    except OSError as exc:  # a read-only recordings dir still loads, only slower
        _logger.debug("cannot write the analysis cache in %s: %s", cache, exc)
        return
    if previous and previous.get("token") != token:
        for table_name in previous.get("tables", []):
            path = cache / f"{name}-{previous['token']}.{table_name}.parquet"
            path.unlink(missing_ok=True)
