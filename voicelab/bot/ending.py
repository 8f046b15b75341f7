"""Ending a call from outside its pipeline, and knowing who ended it.

pipecat's Twilio serializer ignores Media Streams' ``stop``, so a peer that sent it and
kept the socket open held the call (and its slot under ``VOICELAB_MAX_CALLS``) until
``VOICELAB_MAX_CALL_SECONDS``. A call whose record can no longer be written (a full disk,
its directory removed) breaks the promise of a record per call: it ends, with an ``error``
event where one can still be written, rather than going on unrecorded. A scenario's strict
tool mocks end the call the same way when the agent calls a function they do not answer.

An agent hangs up the pipecat way: an ``EndWorkerFrame`` (``EndTaskFrame``) behind its last
words; :class:`HangUpWatch` sees it (end reason ``bot_hangup``). Who ended the call
(``call.json`` ``ended_by``): the bot when its hang-up came before the caller's ``stop`` or
the socket's close, the caller when theirs came first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import WebSocket, status
from loguru import logger
from pipecat.frames.frames import EndFrame, EndWorkerFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.worker import PipelineWorker

from voicelab.recording.contract import EndReason
from voicelab.recording.store import CallRecord

__all__ = ["CallEnder", "HangUpWatch"]

# How long a call whose record failed may take to end by itself (its queued speech, a
# hang-up through Twilio) before its socket is closed.
_GRACE_S = 5.0


class CallEnder:
    """Ends one call from outside its pipeline, and remembers why.

    Args:
        websocket: The call's media websocket.
        record: The call's record (its write failures end the call).
    """

    def __init__(self, websocket: WebSocket, record: CallRecord) -> None:
        self.websocket = websocket
        self.record = record
        self.reason: EndReason | None = None
        self.worker: PipelineWorker | None = None
        self.caller_left_at: float | None = None  # monotonic: Twilio's stop or the close
        self._loop = asyncio.get_running_loop()
        self._ending: asyncio.Task[None] | None = None
        record.on_write_error(self._write_failed)

    def caller_left(self) -> None:
        """The far end went away (Twilio's ``stop``, or the socket closed)."""
        if self.caller_left_at is None:
            self.caller_left_at = time.monotonic()

    async def stop_received(self) -> None:
        """Twilio's ``stop``: the call is over at Twilio's end; end it here like a hang-up."""
        self.caller_left()
        if self.reason is None:
            self.reason = "stop"
        await self._close(status.WS_1000_NORMAL_CLOSURE, "stream stopped")

    async def unmocked(self, function: str) -> None:
        """A strict scenario met a function call it has no mock for: the call fails."""
        self.fail(f"strict tools: the agent called {function}, which the scenario does not mock")

    def fail(self, message: str) -> None:
        """End the call with an ``error`` event saying ``message`` (end reason ``error``)."""
        if self.reason is not None:
            return
        self.reason = "error"
        logger.error(f"{self.record.directory.name}: {message}; ending the call")
        self.record.emit("error", message=message, fatal=True)
        self._ending = self._loop.create_task(self._end_politely())

    def _write_failed(self, exc: Exception) -> None:
        # On the record writer thread: hand over to the call's loop.
        with contextlib.suppress(RuntimeError):  # the loop is gone: the call ended already
            self._loop.call_soon_threadsafe(self.fail, f"call record write failed: {exc}")

    def done(self) -> None:
        """The call is over: nothing more to end."""
        if self._ending is not None:
            self._ending.cancel()

    async def _end_politely(self) -> None:
        # EndFrame: what the bot is saying finishes and, with Twilio credentials, the
        # serializer hangs up through Twilio; the socket is closed if that takes too long.
        if self.worker is not None:
            await self.worker.queue_frame(EndFrame())
            await asyncio.sleep(_GRACE_S)
        await self._close(status.WS_1011_INTERNAL_ERROR, "the call failed")

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError):  # already closed
            await self.websocket.close(code=code, reason=reason)


class HangUpWatch(BaseObserver):
    """Notices the agent ending the call itself (an ``EndWorkerFrame`` pushed in the pipeline).

    Attributes:
        reason: The frame's reason (``""`` when it gave none); ``None`` while nobody has.
        at: When it was seen (monotonic seconds), to tell who ended the call first.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(observe_every_push=False, **kwargs)
        self.reason: str | None = None
        self.at: float | None = None  # monotonic: when the agent asked to end

    async def on_push_frame(self, data: FramePushed) -> None:
        if isinstance(data.frame, EndWorkerFrame) and self.reason is None:
            self.reason, self.at = data.frame.reason or "", time.monotonic()
            logger.info(f"the agent is ending the call: {self.reason or 'no reason given'}")
