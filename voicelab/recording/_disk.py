"""The one thread that does a process's call-record I/O, in the order it was asked for.

Event lines, manifest rewrites (with their fsync) and recording chunks are all
blocking writes; a call's event loop only stamps what happened and hands the
write over. A single worker keeps every write in submission order, so a
barrier (:meth:`DiskWorker.flush`) queued after a write finishes after it: that
is how a call's end path makes sure ``call.json`` is final before ``call.ended``
is read, and how an in-process reader sees complete files.

A failed write is logged, reported to the job's ``on_error`` (a call's record ends the
call and ``/health`` says degraded), and does not stop the writes after it. Jobs still queued
when the interpreter exits are finished first (``ThreadPoolExecutor`` joins its
thread at exit); a killed process loses only what was still queued.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from loguru import logger

__all__ = ["DISK", "DiskWorker"]


class DiskWorker:
    """Runs blocking record writes on one background thread, first in, first out.

    Args:
        name: Name of the worker thread (shows in thread dumps and logs).
    """

    def __init__(self, name: str = "voicelab-records") -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._thread_ident: int | None = None

    def submit(
        self,
        job: Callable[..., Any],
        *args: Any,
        on_error: Callable[[Exception], None] | None = None,
    ) -> Future[None]:
        """Queue ``job(*args)``; returns at once with a future of its completion.

        ``on_error`` is called (on the writer thread) with what a failed job raised.
        Once the interpreter is shutting down no thread takes new work, so the
        job runs on the calling thread instead: late writes are slow, not lost.
        """
        try:
            return self._pool().submit(self._run, job, args, on_error)
        except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
            done: Future[None] = Future()
            self._run(job, args, on_error)
            done.set_result(None)
            return done

    def flush(self, timeout: float | None = None) -> None:
        """Block until every job submitted before this call has finished.

        A no-op on the worker thread itself (a job cannot wait for the queue it is in).

        Raises:
            TimeoutError: The writes did not finish within ``timeout`` seconds.
        """
        if threading.get_ident() == self._thread_ident:
            return
        self.submit(_noop).result(timeout)

    async def aflush(self) -> None:
        """Wait, without blocking the event loop, until every job submitted so far is done."""
        await asyncio.wrap_future(self.submit(_noop))

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=self._name, initializer=self._started
                )
            return self._executor

    def _started(self) -> None:
        self._thread_ident = threading.get_ident()

    def _run(
        self,
        job: Callable[..., Any],
        args: tuple[Any, ...],
        on_error: Callable[[Exception], None] | None,
    ) -> None:
        try:
            job(*args)
        except Exception as exc:
            # One unwritable file must not stop every other call's record.
            what = getattr(job, "__qualname__", job)
            if isinstance(exc, OSError):  # a full disk, a removed directory: no traceback
                logger.error(f"call record write failed ({what}): {exc}")
            else:
                logger.exception(f"call record write failed ({what})")
            if on_error is not None:
                try:
                    on_error(exc)
                except Exception:
                    logger.exception("a record write's error handler failed")


def _noop() -> None:
    """A barrier: it finishes only after everything queued before it."""


DISK = DiskWorker()
