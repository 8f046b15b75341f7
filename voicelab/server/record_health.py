"""Whether the server can keep its promise of a record per call: checked at start, watched after.

A server that cannot write its recordings directory answers every call with a 500 and
keeps telling ``/health`` it is ready. So the directory is tried before the server starts
(:func:`check_recordings_dir`: :class:`~voicelab.errors.ConfigError`, exit 2 from
``voicelab serve``), and every failed record write after that (a full disk, a directory
removed under a running server) is reported to :class:`RecordHealth`, which ``/health``
reads: ``degraded``, with the reason, until a while passes without another failure.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from voicelab.errors import ConfigError
from voicelab.recording.store import prepare_root

__all__ = ["RecordHealth", "check_recordings_dir"]


def check_recordings_dir(root: Path) -> None:
    """Make sure call records can be written under ``root`` (created if missing).

    Also indexes a root written by an older voicelab, once, before any call needs it.

    Raises:
        ConfigError: The directory cannot be created or written (the message names
            ``VOICELAB_RECORDINGS_DIR``).
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".write-check.")
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
        prepare_root(root)
    except OSError as exc:
        raise ConfigError(
            f"cannot write call records in {root} (VOICELAB_RECORDINGS_DIR): {exc.strerror or exc}"
        ) from None


class RecordHealth:
    """The last failed record write, for ``/health``. Thread-safe: the record writer
    thread reports here.

    Args:
        window_s: How long after the last failure the server still reports degraded.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failure: tuple[float, str] | None = None

    def failed(self, reason: str) -> None:
        """Note a failure to write a record (``reason`` is shown by ``/health``)."""
        with self._lock:
            self._failure = (self._clock(), reason)

    def write_failed(self, exc: Exception) -> None:
        """:meth:`failed` for a write's exception (a record's write-error listener)."""
        self.failed(f"a call record write failed: {exc}")

    @property
    def problem(self) -> str | None:
        """Why records are at risk, while a failure is recent; else ``None``."""
        with self._lock:
            if self._failure is None:
                return None
            at, reason = self._failure
            return reason if self._clock() - at <= self.window_s else None
