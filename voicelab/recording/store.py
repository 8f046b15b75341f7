"""Call directories: where a call's manifest, events and audio are written.

One directory per call, ``<root>/<YYYYmmdd-HHMMSS>_<CallSid>/`` (DESIGN.md section 3).
The server and the simulator both write into it, each through its own
:class:`CallRecord`, so every write is safe against the other:

* events are appended one line at a time and flushed, so a crash loses at most
  the line being written (``O_APPEND`` keeps concurrent lines whole);
* the manifest is merged under an advisory lock and replaced atomically
  (temporary file + rename), so a reader never sees half a ``call.json``.

Writes never block the caller (a call's event loop): :meth:`CallRecord.emit`
stamps ``t`` and ``wall`` at once and hands the line to the process's one record
writer thread (:mod:`voicelab.recording._disk`), which keeps submission order.
:meth:`CallRecord.flush` / :meth:`CallRecord.aflush` wait for the writes queued
so far: a call's end path uses them before it calls the record complete.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from voicelab._files import atomic_write_text
from voicelab.errors import CallRecordError
from voicelab.recording._disk import DISK
from voicelab.recording.contract import EVENT_DATA, CallManifest, EventSource
from voicelab.recording.events import CallEvent

__all__ = ["EVENTS", "INDEX_DIR", "MANIFEST", "CallRecord", "find_call_dir", "prepare_root"]

MANIFEST = "call.json"
EVENTS = "events.jsonl"
# <root>/.by-sid/<CallSid> holds the name of the call's directory. The directory's name
# starts with a timestamp, so without it finding a call meant globbing the whole root:
# 50 ms at 60,000 calls, under the root's lock, whenever a call started. A dot directory:
# the loaders skip it.
INDEX_DIR = ".by-sid"
# Any agent's call id may name a directory (not only Twilio's CA...: telephony.ids has
# those), so long as it is a safe name part. \A...\Z: "$" would let a trailing newline in.
_SAFE_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
_STAMP = re.compile(r"\A[0-9]{8}-[0-9]{6}\Z")


def find_call_dir(root: Path, call_sid: str) -> Path | None:
    """Return the existing directory of ``call_sid`` under ``root``, if any.

    One small file read (the root's index); a root written before the index existed is
    searched by name instead.
    """
    if not _SAFE_ID.match(call_sid) or not root.is_dir():
        return None
    try:
        name = (root / INDEX_DIR / call_sid).read_text(encoding="utf-8")
    except FileNotFoundError:
        if (root / INDEX_DIR).is_dir():
            return None  # an indexed root: every call directory has its entry
        return _search(root, call_sid)
    except (OSError, UnicodeDecodeError):
        return None
    # The entry only ever names a sibling "<stamp>_<sid>": a planted entry cannot point
    # a writer anywhere else.
    stamp, _, sid = name.partition("_")
    if sid != call_sid or not _STAMP.match(stamp) or not (root / name).is_dir():
        return None
    return root / name


def _search(root: Path, call_sid: str) -> Path | None:
    matches = sorted(root.glob(f"*_{call_sid}"))
    return next((m for m in matches if m.is_dir()), None)


def _build_index(root: Path) -> None:
    """Index the call directories of a root written before the index existed (once)."""
    index = root / INDEX_DIR
    if index.is_dir():
        return
    building = Path(tempfile.mkdtemp(dir=root, prefix=f"{INDEX_DIR}."))
    with os.scandir(root) as entries:
        for entry in entries:
            stamp, _, sid = entry.name.partition("_")
            if _STAMP.match(stamp) and _SAFE_ID.match(sid) and entry.is_dir():
                (building / sid).write_text(entry.name, encoding="utf-8")
    os.replace(building, index)


def prepare_root(root: Path) -> None:
    """Create ``root`` and its index (indexing a root an older voicelab wrote, once).

    A server calls it before its first call, so no call waits for the indexing.

    Raises:
        OSError: ``root`` cannot be created or written.
    """
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        _build_index(root)


def _index(root: Path, directory: Path, call_sid: str) -> None:
    atomic_write_text(root / INDEX_DIR / call_sid, directory.name)


class CallRecord:
    """Writer for one call directory.

    Args:
        directory: The call directory (created if missing).
        source: Who writes through this object (``server``, ``caller``, ``carrier``).
        t0: Monotonic time taken as ``t = 0`` for this writer's events.
    """

    def __init__(self, directory: Path, source: EventSource, t0: float | None = None) -> None:
        self.directory = directory
        self.source: EventSource = source
        self.t0 = time.monotonic() if t0 is None else t0
        self.write_error: Exception | None = None
        self._lock = threading.Lock()
        self._error_listeners: list[Callable[[Exception], None]] = []
        directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def open(
        cls, root: Path, call_sid: str, source: EventSource, t0: float | None = None
    ) -> CallRecord:
        """Open the directory of ``call_sid`` under ``root``, creating it if needed.

        ``t0`` (monotonic; default: now) is ``t = 0`` of this writer's events.

        Raises:
            CallRecordError: ``call_sid`` is not a safe directory name part.
        """
        if not _SAFE_ID.match(call_sid):
            raise CallRecordError(f"invalid call sid for a call directory: {call_sid!r}")
        root.mkdir(parents=True, exist_ok=True)
        # The lock makes "find or create" atomic across the server and the simulator.
        with _locked(root / ".lock"):
            _build_index(root)
            directory = find_call_dir(root, call_sid)
            if directory is None:
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                directory = root / f"{stamp}_{call_sid}"
                directory.mkdir(exist_ok=True)  # exists: an index entry lost, same call
                _index(root, directory, call_sid)
        return cls(directory, source, t0)

    @property
    def events_path(self) -> Path:
        return self.directory / EVENTS

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def on_write_error(self, listener: Callable[[Exception], None]) -> None:
        """Call ``listener`` (on the record writer thread) whenever a write of this record fails.

        A full disk or a removed directory must not pass silently: the server ends the
        call (``error`` event) and ``/health`` says degraded.
        """
        self._error_listeners.append(listener)

    def write_failed(self, exc: Exception) -> None:
        """Report a failed write of this call's record (its own, or its WAV's)."""
        self.write_error = exc
        for listener in list(self._error_listeners):
            listener(exc)

    def now(self) -> float:
        """Seconds since this writer's ``t0``."""
        return time.monotonic() - self.t0

    def emit(self, type: str, t: float | None = None, **data: Any) -> CallEvent:
        """Stamp one event now and queue its line for ``events.jsonl``.

        ``t`` and ``wall`` are taken here, on the caller's thread; the append (and
        its flush to the OS) happens on the record writer thread, in emit order.
        """
        event = CallEvent(
            t=self.now() if t is None else t,
            wall=datetime.now(UTC),
            source=self.source,
            type=type,
            data=_checked_data(type, data),
        )
        line = (event.to_json() + "\n").encode()
        DISK.submit(self._append, line, on_error=self.write_failed)
        return event

    def update_manifest(self, **fields: Any) -> None:
        """Queue a merge of ``fields`` into ``call.json`` (atomic replace, off the caller's thread).

        List-valued keys ending in ``_history`` are appended to rather than replaced.
        The merge happens when the writer reaches it, after every write queued before.
        """
        self._queue_merge(fields, append_history=True)

    def set_manifest(self, **fields: Any) -> None:
        """Queue a merge of ``fields`` into ``call.json`` that replaces every key it names,
        ``_history`` lists included (a writer that keeps the whole list itself)."""
        self._queue_merge(fields, append_history=False)

    def _queue_merge(self, fields: dict[str, Any], append_history: bool) -> None:
        _check_manifest(fields)
        # A deep copy taken now: the caller may go on changing what it passed.
        copy = json.loads(json.dumps(fields, default=str))
        DISK.submit(self._merge_manifest, copy, append_history, on_error=self.write_failed)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every write queued so far (by any record of this process) is on disk.

        Raises:
            TimeoutError: The writes did not finish within ``timeout`` seconds.
        """
        DISK.flush(timeout)

    async def aflush(self) -> None:
        """Wait, without blocking the event loop, for every write queued so far."""
        await DISK.aflush()

    def read_manifest(self, *, wait: bool = True) -> dict[str, Any]:
        """The current manifest, or ``{}`` before any.

        Args:
            wait: Wait for the writes queued so far first (a blocking wait: pass
                ``False`` on an event loop, to read what is on disk now).
        """
        if wait:
            self.flush()
        return self._read_manifest()

    def _append(self, line: bytes) -> None:
        with self._lock:
            fd = os.open(self.events_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def _read_manifest(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.manifest_path.read_text()))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CallRecordError(f"unreadable manifest {self.manifest_path}: {exc}") from exc

    def _merge_manifest(self, fields: dict[str, Any], append_history: bool = True) -> None:
        with self._lock, _locked(self.directory / ".manifest.lock"):
            manifest = self._read_manifest()
            for key, value in fields.items():
                if append_history and key.endswith("_history") and isinstance(value, list):
                    manifest.setdefault(key, []).extend(value)
                else:
                    manifest[key] = value
            atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2))


def _checked_data(type: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the contract declares it for ``type`` (fields given, by their JSON names).

    Raises:
        CallRecordError: A field the type does not declare, or of the wrong type.
    """
    model = EVENT_DATA.get(type)
    if model is None:
        raise CallRecordError(f"unknown call event type {type!r}")
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        raise CallRecordError(f"{type} event: {_first_problem(exc)}") from None
    return checked.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _check_manifest(fields: dict[str, Any]) -> None:
    """Raise if ``fields`` break ``call.json``'s contract (other fields are tags, kept).

    Raises:
        CallRecordError: A declared field of the wrong type or shape.
    """
    try:
        CallManifest.model_validate(fields)
    except ValidationError as exc:
        raise CallRecordError(f"call.json: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{where}: {error['msg']}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
