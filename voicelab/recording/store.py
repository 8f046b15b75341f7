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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicelab._files import atomic_write_text
from voicelab.errors import CallRecordError
from voicelab.recording._disk import DISK
from voicelab.recording.events import CallEvent, EventSource

__all__ = ["EVENTS", "MANIFEST", "CallRecord", "find_call_dir"]

MANIFEST = "call.json"
EVENTS = "events.jsonl"
# Any agent's call id may name a directory (not only Twilio's CA...: telephony.ids has
# those), so long as it is a safe name part. \A...\Z: "$" would let a trailing newline in.
_SAFE_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")


def find_call_dir(root: Path, call_sid: str) -> Path | None:
    """Return the existing directory of ``call_sid`` under ``root``, if any."""
    matches = sorted(root.glob(f"*_{call_sid}")) if root.is_dir() else []
    return matches[0] if matches else None


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
        self._lock = threading.Lock()
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
            directory = find_call_dir(root, call_sid)
            if directory is None:
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                directory = root / f"{stamp}_{call_sid}"
                directory.mkdir()
        return cls(directory, source, t0)

    @property
    def events_path(self) -> Path:
        return self.directory / EVENTS

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

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
            data=data,
        )
        DISK.submit(self._append, (event.to_json() + "\n").encode())
        return event

    def update_manifest(self, **fields: Any) -> None:
        """Queue a merge of ``fields`` into ``call.json`` (atomic replace, off the caller's thread).

        List-valued keys ending in ``_history`` are appended to rather than replaced.
        The merge happens when the writer reaches it, after every write queued before.
        """
        # A deep copy taken now: the caller may go on changing what it passed.
        DISK.submit(self._merge_manifest, json.loads(json.dumps(fields, default=str)))

    def flush(self, timeout: float | None = None) -> None:
        """Block until every write queued so far (by any record of this process) is on disk.

        Raises:
            TimeoutError: The writes did not finish within ``timeout`` seconds.
        """
        DISK.flush(timeout)

    async def aflush(self) -> None:
        """Wait, without blocking the event loop, for every write queued so far."""
        await DISK.aflush()

    def read_manifest(self) -> dict[str, Any]:
        """The current manifest (after the writes queued so far), or ``{}`` before any."""
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

    def _merge_manifest(self, fields: dict[str, Any]) -> None:
        with self._lock, _locked(self.directory / ".manifest.lock"):
            manifest = self._read_manifest()
            for key, value in fields.items():
                if key.endswith("_history") and isinstance(value, list):
                    manifest.setdefault(key, []).extend(value)
                else:
                    manifest[key] = value
            atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
