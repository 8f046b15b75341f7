"""An incremental columnar cache of per-call tables, kept next to the recordings.

Parsing a million JSON lines takes seconds; reading the same rows back from parquet takes
a fraction of one. A cached table set ``<name>`` lives in ``<root>/.voicelab_cache/``::

    <name>.json                      the index: format versions, the token of the current
                                     files, and per call directory (in row order) the
                                     signature of its files (size + mtime), its key
                                     (call_sid), its warnings and its row count per table
    <name>-<token>.<table>.parquet   one file per table, the rows of every call

A load stats every call directory, rebuilds only the directories whose signature changed
(or that are new), and splices the new rows between slices of the cached ones (the row
counts say where each call's rows are, so nothing is searched or sorted). Files are written
under a fresh token and the index is replaced last (atomic rename): a concurrent reader
sees the old set or the new one, and if its files vanish under it, it rebuilds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from voicelab.analysis._files import CallDir, CallRecordWarning

__all__ = ["CACHE_DIR", "Built", "Entry", "load"]

CACHE_DIR = ".voicelab_cache"
_FORMAT = 2  # of the index and the splicing; the builder's own version is checked too
_STALE_S = 600  # files of a lost race are removed once no reader can still be opening them
_logger = logging.getLogger(__name__)

# In-process memos for the warm path (a notebook reloading the same tree): an index as
# parsed, by its file's identity (it is only ever replaced, by rename), and the tables of
# the current files, by path (a file is named by a fresh token and never rewritten). The
# tables are held until a newer set of the same name replaces them.
_INDEXES: dict[Path, tuple[tuple[int, int, int], dict[str, Any], dict[str, Entry]]] = {}
_TABLES: dict[Path, pa.Table] = {}
# The last check that found every directory's signature equal to the index's, by table set:
# the scan and the index it compared (the very objects: the scan's memo returns the same
# list while no file changed) and the warnings to re-emit. The same pair again needs no
# 22,000 signatures compared.
_CHECKED: dict[tuple[Path, str], tuple[Sequence[CallDir], dict[str, Any], list[str]]] = {}


@dataclass(slots=True)
class Entry:
    """What the index remembers of one call directory."""

    sig: list[Any] = field(default_factory=list)
    key: str | None = None  # call_sid of its rows; None when the call was skipped
    warnings: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # table -> its rows of this call


@dataclass(slots=True)
class Built:
    """The result of building some call directories: tables, and an entry per directory.

    Each table holds the rows of the directories in the order they were given, grouped by
    call, with the call's ``call_sid`` in a ``call_sid`` column.
    """

    tables: dict[str, pa.Table]
    entries: dict[str, Entry]


# Builds the given directories. The set holds the call_sids of the rows kept from the cache:
# a directory claiming one of them (or one already built) is a duplicate to skip with a
# warning, since call_sid is the key of every table.
Builder = Callable[[Sequence[CallDir], set[str]], Built]


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

    Warnings recorded for a directory are re-emitted on every load, cached or not, so a
    skipped call is never skipped silently.

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
    index, old = _read_index(root, name, version) if use_cache else (None, {})
    checked = _CHECKED.pop((root, name), None)
    if index is not None and checked is not None and checked[0] is dirs and checked[1] is index:
        result = _read_tables(root, index, tables)
        if result is not None:
            _CHECKED[root, name] = checked
            _warn(checked[2])
            return result
    order = [d.name for d in dirs]
    sigs = {d.name: signature(d) for d in dirs}
    keep = {k for k, sig in sigs.items() if k in old and old[k].sig == sig}
    if index is not None and len(keep) == len(sigs) == len(old) and list(old) == order:
        result = _read_tables(root, index, tables)
        if result is not None:
            _CHECKED[root, name] = (dirs, index, _warnings(old))
            _warn(_CHECKED[root, name][2])
            return result
    cached = _read_tables(root, index, index["tables"]) if index and keep else {}
    if cached is None:  # the files vanished (a concurrent rewrite): rebuild everything
        keep, cached = set(), {}
    taken = {key for k in keep if (key := old[k].key) is not None}
    built = build([d for d in dirs if d.name not in keep], taken)
    _count_rows(built)
    entries = {n: old[n] if n in keep else built.entries[n] for n in order}
    merged = _splice(cached, old, built, entries, keep)
    if merged is None:  # the cache disagreed with its index: start over
        built = build(dirs, set())
        _count_rows(built)
        entries, merged = built.entries, built.tables
    messages = _warnings(entries)
    if use_cache:
        written = _write(root, name, version, merged, entries, sigs, index)
        if written is not None:  # the next load of this scan needs no signature compared
            _CHECKED[root, name] = (dirs, written, messages)
    _warn(messages)
    return {t: merged[t] for t in tables}


def _warnings(entries: Mapping[str, Entry]) -> list[str]:
    return [m for directory in sorted(entries) for m in entries[directory].warnings]


def _warn(messages: list[str]) -> None:
    for message in messages:
        warnings.warn(message, CallRecordWarning, stacklevel=4)


def _read_index(
    root: Path, name: str, version: int
) -> tuple[dict[str, Any] | None, dict[str, Entry]]:
    """The index and its entries in row order; ``(None, {})`` when absent, stale or damaged."""
    path = root / CACHE_DIR / f"{name}.json"
    try:
        st = path.stat()
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        memo = _INDEXES.get(path)
        if memo is not None and memo[0] == identity:
            index, entries = memo[1], memo[2]
        else:
            index = json.loads(path.read_bytes())
            entries = {
                name: Entry(list(sig), key, list(warns), dict(rows))
                for name, (sig, key, warns, rows) in index["entries"].items()
            }
            _INDEXES[path] = (identity, index, entries)
        if (index["format"], index["version"]) != (_FORMAT, version):
            return None, {}
        return index, entries
    except (OSError, ValueError, TypeError, KeyError):
        return None, {}


def _read_tables(
    root: Path, index: dict[str, Any] | None, tables: Sequence[str]
) -> dict[str, pa.Table] | None:
    if index is None:
        return None
    cache, prefix = root / CACHE_DIR, f"{index['name']}-{index['token']}"
    try:
        out = {}
        for t in tables:
            path = cache / f"{prefix}.{t}.parquet"
            if not path.exists():  # removed under us (a concurrent rewrite): no memo either
                raise FileNotFoundError(path)
            out[t] = _TABLES.get(path)
            if out[t] is None:
                out[t] = _remember(path, pq.read_table(path))
        return out
    except (OSError, pa.ArrowException):
        return None


def _remember(path: Path, table: pa.Table) -> pa.Table:
    """Hold ``table`` as the content of ``path``, dropping tables of older sets of its name."""
    prefix = path.name.split("-", 1)[0] + "-"
    token = path.name[len(prefix) :].split(".", 1)[0]
    for old in [p for p in _TABLES if p.parent == path.parent and p.name.startswith(prefix)]:
        if not old.name.startswith(f"{prefix}{token}."):
            del _TABLES[old]
    _TABLES[path] = table
    return table


def _count_rows(built: Built) -> None:
    """Fill each built entry's row counts from the tables' ``call_sid`` columns."""
    for table_name, table in built.tables.items():
        keys = table["call_sid"].combine_chunks()
        per_key: dict[str, int] = {}
        if pa.types.is_dictionary(keys.type) and not keys.null_count:
            # Count the codes: no million-row cast to strings (the events table, cold).
            counts = np.bincount(keys.indices.to_numpy(), minlength=len(keys.dictionary))
            for key, count in zip(keys.dictionary.to_pylist(), counts.tolist(), strict=True):
                per_key[key] = per_key.get(key, 0) + count
        elif len(table):
            if pa.types.is_dictionary(keys.type):
                keys = keys.cast(pa.string())
            per_key = {c["values"]: c["counts"] for c in pc.value_counts(keys).to_pylist()}
        for entry in built.entries.values():
            entry.rows[table_name] = per_key.get(entry.key, 0) if entry.key else 0


def _splice(
    cached: Mapping[str, pa.Table],
    old: Mapping[str, Entry],
    built: Built,
    entries: Mapping[str, Entry],
    keep: set[str],
) -> dict[str, pa.Table] | None:
    """Kept calls' rows sliced out of the cache, new ones out of ``built``, in ``entries`` order.

    Returns ``None`` when the row counts do not add up (a damaged cache).
    """
    out = {}
    for table_name, new in built.tables.items():
        if not keep:
            out[table_name] = new
            continue
        table = cached.get(table_name)
        offsets = {"old": _offsets(old, table_name), "new": _offsets(built.entries, table_name)}
        if table is None or offsets["old"][1] != len(table) or offsets["new"][1] != len(new):
            return None
        runs: list[list[Any]] = []  # [source, start, length], consecutive ranges merged
        for name, entry in entries.items():
            count = entry.rows.get(table_name, 0)
            if not count:
                continue
            source = "old" if name in keep else "new"
            start = offsets[source][0][name]
            if runs and runs[-1][0] == source and runs[-1][1] + runs[-1][2] == start:
                runs[-1][2] += count
            else:
                runs.append([source, start, count])
        sources = {"old": table, "new": new}
        pieces = [sources[s].slice(start, n) for s, start, n in runs] or [new]
        out[table_name] = pa.concat_tables(pieces, promote_options="permissive")
    return out


def _offsets(entries: Mapping[str, Entry], table: str) -> tuple[dict[str, int], int]:
    """Where each directory's rows start in a table holding them in ``entries`` order."""
    starts, position = {}, 0
    for name, entry in entries.items():
        starts[name] = position
        position += entry.rows.get(table, 0)
    return starts, position


def _write(
    root: Path,
    name: str,
    version: int,
    tables: Mapping[str, pa.Table],
    entries: Mapping[str, Entry],
    sigs: Mapping[str, list[Any]],
    previous: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Write the set under a fresh token; the index written (and memoised), or ``None``."""
    cache = root / CACHE_DIR
    token = secrets.token_hex(6)
    index = {
        "name": name,
        "format": _FORMAT,
        "version": version,
        "token": token,
        "tables": sorted(tables),
        "entries": {k: [sigs[k], e.key, e.warnings, e.rows] for k, e in entries.items()},
    }
    if cache.is_symlink():
        # Records come from CI artifacts and colleagues: a planted link would have the index
        # replaced and old parquet files deleted wherever it points. Read, never written.
        _logger.warning("not writing the analysis cache through the symlink %s", cache)
        return None
    try:
        cache.mkdir(exist_ok=True)
        for table_name, table in tables.items():
            path = cache / f"{name}-{token}.{table_name}.parquet"
            pq.write_table(table, path)
            _remember(path, table)
        tmp = cache / f".{name}.{token}.json"
        tmp.write_text(json.dumps(index))
        st = tmp.stat()  # a rename keeps inode, size and mtime: the identity _read_index sees
        os.replace(tmp, cache / f"{name}.json")
    except OSError as exc:  # a read-only recordings dir still loads, only slower
        _logger.debug("cannot write the analysis cache in %s: %s", cache, exc)
        return None
    memo = {k: Entry(sigs[k], e.key, e.warnings, e.rows) for k, e in entries.items()}
    _INDEXES[cache / f"{name}.json"] = ((st.st_ino, st.st_size, st.st_mtime_ns), index, memo)
    # The previous set goes now; files of writers that lost a race (or died) once they are
    # old enough that no reader can still be opening them.
    retired = f"{name}-{previous['token']}." if previous else None
    for path in cache.glob(f"{name}-*.parquet"):
        if path.name.startswith(f"{name}-{token}."):
            continue
        with contextlib.suppress(OSError):
            if (retired and path.name.startswith(retired)) or (
                path.stat().st_mtime < time.time() - _STALE_S
            ):
                path.unlink()
    return index
