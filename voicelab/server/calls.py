"""The server's view of calls: one record per call for its whole life, and Twilio's statuses.

The server learns of a call when it first has reason to believe Twilio placed it:
its TwiML webhook, ``POST /outbound`` creating it, or its media stream starting.
From then on every write about the call goes through the same
:class:`~voicelab.recording.store.CallRecord`, so ``twilio.status`` events are
stamped on the same clock as the rest of the call. A status callback for a call
the server never learned of creates nothing: it is held for a few seconds (Twilio
may report ``initiated`` before ``POST /outbound`` has the call's SID back), then
dropped with a log line. A call is forgotten some time after it ended and its final
status arrived (or, when no final status comes, after a long idle time): memory stays
bounded however long the server runs.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from voicelab.recording.store import CallRecord
from voicelab.telephony.ids import FINAL_CALL_STATUSES, is_call_sid

__all__ = ["CallRegistry", "StatusEvent"]

# Fields of Twilio's status callback kept in the call record (the rest is noise).
STATUS_FIELDS = (
    "CallStatus",
    "SequenceNumber",
    "CallDuration",
    "Timestamp",
    "Direction",
    "From",
    "To",
    "SipResponseCode",
    "ErrorCode",
)


@dataclass(frozen=True)
class StatusEvent:
    """One Twilio call-progress event."""

    call_sid: str
    status: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    """What the registry keeps of one known call."""

    record: CallRecord
    touched: float
    task: asyncio.Task[object] | None = None  # the live media session, if any
    final: bool = False  # a final status arrived


class CallRegistry:
    """Known calls (with their records), live media sessions, and status callbacks.

    Used from the server's event loop only: nothing here blocks (record writes go
    to the record writer thread).

    Args:
        recordings_dir: Root of the call directories.
        forget_after_s: How long a call that ended and got its final status stays
            known (late or repeated callbacks still land in its record).
        idle_forget_s: How long a call that is not live stays known without news
            (calls whose final status never comes, e.g. inbound calls with no
            status callback configured).
        hold_unknown_s: How long a status for an unknown call waits for the call
            to become known before it is dropped.
        clock: Monotonic clock (tests pass a fake one).
    """

    MAX_HELD = 256  # unknown-call statuses held at once; the oldest go first

    def __init__(
        self,
        recordings_dir: Path,
        *,
        forget_after_s: float = 60.0,
        idle_forget_s: float = 600.0,
        hold_unknown_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recordings_dir = recordings_dir
        self.forget_after_s = forget_after_s
        self.idle_forget_s = idle_forget_s
        self.hold_unknown_s = hold_unknown_s
        self._clock = clock
        self._calls: dict[str, _Call] = {}
        self._held: OrderedDict[int, tuple[float, StatusEvent]] = OrderedDict()
        self._held_ids = itertools.count()

    @property
    def active_count(self) -> int:
        """Live media sessions."""
        return sum(1 for call in self._calls.values() if call.task is not None)

    @property
    def known_count(self) -> int:
        """Calls the registry keeps a record of (live or recently ended)."""
        return len(self._calls)

    def record_of(self, call_sid: str) -> CallRecord | None:
        """The record of a known call, else ``None`` (nothing is created)."""
        call = self._calls.get(call_sid)
        return call.record if call else None

    def open_record(self, call_sid: str) -> CallRecord:
        """The call's record (source ``server``); the call becomes known if it was not.

        Statuses held for the call are written into the new record, on its clock
        (which then starts at the first of them).

        Raises:
            CallRecordError: ``call_sid`` cannot name a call directory.
        """
        now = self._clock()
        self._sweep(now)
        call = self._calls.get(call_sid)
        if call is None:
            held = [item for item in self._held.items() if item[1][1].call_sid == call_sid]
            # The record's clock starts when the server first heard of the call.
            age = max((now - arrived for _, (arrived, _) in held), default=0.0)
            record = CallRecord.open(
                self.recordings_dir, call_sid, "server", t0=time.monotonic() - age
            )
            call = self._calls[call_sid] = _Call(record, touched=now)
            for key, (arrived, event) in held:
                del self._held[key]
                self._write_status(call, event, record.now() - (now - arrived))
        call.touched = now
        return call.record

    def learn(self, call_sid: str) -> None:
        """Note a call Twilio is placing (TwiML webhook, ``POST /outbound``); ignores bad SIDs."""
        if is_call_sid(call_sid):
            self.open_record(call_sid)

    def started(self, call_sid: str, task: asyncio.Task[object]) -> None:
        """A media session runs for the call (whose record :meth:`open_record` made)."""
        call = self._calls.get(call_sid)
        if call is None:
            self.open_record(call_sid)
            call = self._calls[call_sid]
        call.task, call.touched = task, self._clock()

    def ended(self, call_sid: str) -> None:
        """The call's media session is over (its record is complete)."""
        call = self._calls.get(call_sid)
        if call is not None:
            call.task, call.touched = None, self._clock()
        self._sweep(self._clock())

    def record_status(self, event: StatusEvent) -> CallRecord | None:
        """File Twilio's status into the call's events and status history.

        Returns:
            The call's record, or ``None`` when the call is unknown: then nothing
            is written, and the status waits :attr:`hold_unknown_s` for the call.
        """
        now = self._clock()
        self._sweep(now)
        call = self._calls.get(event.call_sid)
        if call is None:
            logger.info(
                f"status {event.status!r} for unknown call {event.call_sid}: held "
                f"{self.hold_unknown_s:g} s in case the call is being placed, then ignored"
            )
            self._held[next(self._held_ids)] = (now, event)
            while len(self._held) > self.MAX_HELD:
                self._drop_held(next(iter(self._held)))
            return None
        self._write_status(call, event, call.record.now())
        call.touched = now
        return call.record

    async def wait_idle(self, timeout: float) -> None:
        """Wait for live calls to finish (graceful shutdown)."""
        tasks = [call.task for call in self._calls.values() if call.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def end_all(self, reason: str, timeout: float) -> None:
        """End every live call (server shutdown) and wait for their records.

        Each call's task is cancelled with ``reason`` as the message: the call pipeline
        ends the call with that reason, finishes its record and returns normally.
        """
        tasks = [call.task for call in self._calls.values() if call.task is not None]
        for task in tasks:
            task.cancel(reason)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def _write_status(self, call: _Call, event: StatusEvent, t: float) -> None:
        data = {k: v for k, v in event.fields.items() if k in STATUS_FIELDS and v}
        call.record.emit(
            "twilio.status",
            t=t,
            status=event.status,
            sequence=data.get("SequenceNumber"),
            duration=data.get("CallDuration"),
        )
        call.record.update_manifest(
            call_sid=event.call_sid,
            status=event.status,
            status_history=[{"status": event.status, "at": datetime.now(UTC).isoformat(), **data}],
        )
        call.final = call.final or event.status in FINAL_CALL_STATUSES

    def _sweep(self, now: float) -> None:
        """Forget what has been over long enough: ended calls, statuses no call claimed."""
        for sid in [sid for sid, call in self._calls.items() if self._forgettable(call, now)]:
            del self._calls[sid]
        for key in [
            k for k, (arrived, _) in self._held.items() if now - arrived > self.hold_unknown_s
        ]:
            self._drop_held(key)

    def _forgettable(self, call: _Call, now: float) -> bool:
        if call.task is not None:
            return False
        idle = now - call.touched
        return idle > (self.forget_after_s if call.final else self.idle_forget_s)

    def _drop_held(self, key: int) -> None:
        _, event = self._held.pop(key)
        logger.warning(
            f"status callback {event.status!r} for unknown call {event.call_sid} ignored"
        )
