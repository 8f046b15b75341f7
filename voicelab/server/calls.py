"""The server's calls: a record from the first moment, one slot under the cap, one session.

The server learns of a call when it first has reason to believe Twilio placed it: its
TwiML webhook (:meth:`CallRegistry.admit`) or ``POST /outbound`` creating it
(:meth:`CallRegistry.placed`). From then on:

* **a record**: the call's directory and ``call.json`` exist, and every write about the
  call goes through the same :class:`~voicelab.recording.store.CallRecord`, so
  ``twilio.status`` events are stamped on the same clock as the rest of the call. A call
  that never streams still ends with an ``end_reason`` (:data:`UNCONNECTED_END_REASONS`):
  refused at the cap, busy, unanswered, its stream token expired.
* **a slot**: the call holds one of ``VOICELAB_MAX_CALLS`` from the moment it is admitted
  (``/outbound`` reserves one before Twilio is even asked), so over the cap a caller hears
  busy instead of being answered and then dropped. The slot is freed when the call ends:
  its session ends, Twilio reports a final status first, or its window passes unused.
* **one session**: a media stream may start only for a call waiting for its stream
  (:meth:`CallRegistry.claim`); a second ``start`` for the same CallSid (a replayed
  webhook and upgrade) is refused, as is any stream of a call whose directory already
  holds an ended call.

Twilio's status callbacks are filed by ``SequenceNumber`` (Twilio does not promise their
order): duplicates are ignored, and ``call.json``'s ``status`` only ever moves forward.
A status for a call the server never learned of creates nothing: it is held for a few
seconds (Twilio may report ``initiated`` before ``POST /outbound`` has the call's SID
back), then dropped with a log line. A call is forgotten some time after it ended and its
final status arrived (or after a long idle time): memory stays bounded.

Used from the server's event loop only: nothing here blocks on more than opening a call's
directory (one small index file, :mod:`voicelab.recording.store`); record writes go to the
record writer thread.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from loguru import logger

from voicelab.errors import CallRecordError
from voicelab.recording.contract import EndReason
from voicelab.recording.store import CallRecord, find_call_dir
from voicelab.server.record_health import RecordHealth
from voicelab.telephony.ids import CALL_STATUS_ORDER, FINAL_CALL_STATUSES, is_call_sid

__all__ = ["Admission", "CallRegistry", "Reservation", "StatusEvent"]

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
    "AnsweredBy",
)

Phase = Literal["waiting", "live", "ended"]


class Admission(enum.Enum):
    """What a call's TwiML webhook is answered with."""

    STREAM = "stream"
    """Stream TwiML (the same one-time token for every webhook of the call)."""
    AT_CAPACITY = "at_capacity"
    """``<Reject reason="busy">``: ``VOICELAB_MAX_CALLS`` calls hold every slot."""
    ALREADY_STREAMED = "already_streamed"
    """``<Reject>``: the call's session ran already (a replayed webhook)."""
    UNRECORDABLE = "unrecordable"
    """``<Reject>``: the call's record cannot be written (see ``/health``)."""


@dataclass(frozen=True)
class StatusEvent:
    """One Twilio call-progress event."""

    call_sid: str
    status: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def sequence(self) -> int | None:
        """Twilio's ``SequenceNumber`` (``None`` when absent or not a number)."""
        value = self.fields.get("SequenceNumber", "")
        return int(value) if value.isdigit() and len(value) < 10 else None

    @property
    def order(self) -> tuple[int, int]:
        """Sort key: the sequence when sent, else how far along the status is."""
        rank = CALL_STATUS_ORDER.get(self.status, 0)
        return (self.sequence, rank) if self.sequence is not None else (-1, rank)

    @property
    def key(self) -> tuple[str, str]:
        """Equal keys are one event delivered twice."""
        seq = self.sequence
        return ("seq", str(seq)) if seq is not None else ("status", self.status)


@dataclass(eq=False)
class Reservation:
    """A slot held for a call ``POST /outbound`` is placing, before Twilio names it."""

    expires_at: float


@dataclass(eq=False)
class _Call:
    """What the registry keeps of one known call."""

    record: CallRecord
    touched: float
    phase: Phase = "waiting"
    deadline: float | None = None  # waiting: when the call ends unconnected
    missed: EndReason = "token_expired"  # ... and with which reason
    twiml_served: bool = False
    task: asyncio.Task[object] | None = None  # the live media session
    final: bool = False  # a final status arrived
    statuses: dict[tuple[str, str], StatusEvent] = field(default_factory=dict)
    newest: tuple[int, int] | None = None

    @property
    def holds_slot(self) -> bool:
        return self.phase != "ended"


class CallRegistry:
    """Known calls (with their records), the cap's slots, media sessions and statuses.

    Args:
        recordings_dir: Root of the call directories.
        max_calls: ``VOICELAB_MAX_CALLS``: calls holding a slot at once.
        stream_window_s: How long a call whose TwiML was served waits for its stream
            (``VOICELAB_STREAM_TOKEN_TTL``: the token expires then too).
        placing_window_s: How long a call ``/outbound`` placed waits for its TwiML
            webhook or a final status (Twilio rings for 60 s by default).
        forget_after_s: How long a call that ended and got its final status stays
            known (late or repeated callbacks still land in its record).
        idle_forget_s: How long an ended call stays known without news (calls whose
            final status never comes, e.g. inbound calls without status callbacks).
        hold_unknown_s: How long a status for an unknown call waits for the call
            to become known before it is dropped.
        health: Where failed record writes are reported (``/health``).
        clock: Monotonic clock (tests pass a fake one).
    """

    MAX_HELD = 256  # unknown-call statuses held at once; the oldest go first
    RESERVATION_S = 30.0  # a reservation /outbound did not turn into a call is freed then

    def __init__(
        self,
        recordings_dir: Path,
        *,
        max_calls: int = 20,
        stream_window_s: float = 30.0,
        placing_window_s: float = 120.0,
        forget_after_s: float = 60.0,
        idle_forget_s: float = 600.0,
        hold_unknown_s: float = 10.0,
        health: RecordHealth | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recordings_dir = recordings_dir
        self.max_calls = max_calls
        self.stream_window_s = stream_window_s
        self.placing_window_s = placing_window_s
        self.forget_after_s = forget_after_s
        self.idle_forget_s = idle_forget_s
        self.hold_unknown_s = hold_unknown_s
        self.health = health or RecordHealth()
        self._clock = clock
        self._calls: dict[str, _Call] = {}
        self._reservations: list[Reservation] = []
        self._held: OrderedDict[int, tuple[float, StatusEvent]] = OrderedDict()
        self._held_ids = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    # --- counts ---------------------------------------------------------------------------

    @property
    def active_count(self) -> int:
        """Live media sessions."""
        return sum(1 for call in self._calls.values() if call.task is not None)

    @property
    def reserved_count(self) -> int:
        """Slots held: calls waiting for their stream or live, and ``/outbound`` placements."""
        self._sweep(self._clock())
        held = sum(1 for call in self._calls.values() if call.holds_slot)
        return held + len(self._reservations)

    @property
    def known_count(self) -> int:
        """Calls the registry keeps a record of (waiting, live or recently ended)."""
        return len(self._calls)

    def at_capacity(self) -> bool:
        """Whether every one of ``max_calls`` slots is held."""
        return self.reserved_count >= self.max_calls

    def record_of(self, call_sid: str) -> CallRecord | None:
        """The record of a known call, else ``None`` (nothing is created)."""
        call = self._calls.get(call_sid)
        return call.record if call else None

    # --- a call becomes known ---------------------------------------------------------------

    def admit(self, call_sid: str, direction: str, from_number: str, to_number: str) -> Admission:
        """A TwiML webhook for ``call_sid``: may the call stream, and hold a slot?

        The first webhook of a call opens its record and takes a slot (over the cap the
        call is refused, and recorded as such); later ones for a call still waiting get
        the same answer, and any for a call whose session ran are refused.
        """
        now = self._clock()
        self._sweep(now)
        call = self._calls.get(call_sid)
        if call is not None:
            if call.phase != "waiting":
                logger.warning(f"webhook for {call_sid}, which is live or has ended: refused")
                return Admission.ALREADY_STREAMED
            if not call.twiml_served:  # an outbound call answered: its stream is next
                self._wait(call, now + self.stream_window_s, "token_expired")
                call.twiml_served = True
            return Admission.STREAM
        if self._ended_on_disk(call_sid):
            return Admission.ALREADY_STREAMED
        full = self.at_capacity()
        call = self._open(call_sid, now, direction, from_number, to_number)
        if call is None:
            return Admission.UNRECORDABLE
        if full:
            logger.warning(
                f"{self.reserved_count} calls hold every slot (VOICELAB_MAX_CALLS="
                f"{self.max_calls}): call {call_sid} hears busy"
            )
            self._end(call, "capacity")
            return Admission.AT_CAPACITY
        call.twiml_served = True
        self._wait(call, now + self.stream_window_s, "token_expired")
        return Admission.STREAM

    def reserve(self) -> Reservation | None:
        """A slot for a call about to be placed (``POST /outbound``); ``None`` at the cap.

        Hand it to :meth:`placed` once Twilio names the call, or :meth:`release` it.
        """
        if self.at_capacity():
            return None
        reservation = Reservation(self._clock() + self.RESERVATION_S)
        self._reservations.append(reservation)
        return reservation

    def release(self, reservation: Reservation) -> None:
        """Give back a slot that no call took (Twilio refused the call)."""
        if reservation in self._reservations:
            self._reservations.remove(reservation)

    def placed(
        self, call_sid: str, reservation: Reservation, from_number: str, to_number: str
    ) -> None:
        """Twilio created the outbound call ``call_sid``: its record opens, it keeps the slot."""
        self.release(reservation)
        if not is_call_sid(call_sid) or call_sid in self._calls:
            return  # its webhook beat us here: the call holds a slot of its own already
        now = self._clock()
        call = self._open(call_sid, now, "outbound", from_number, to_number)
        if call is not None:
            self._wait(call, now + self.placing_window_s, "no_stream")

    # --- the media session ------------------------------------------------------------------

    def claim(self, call_sid: str) -> CallRecord | str:
        """The record of a call whose stream may start now, or why it may not.

        The call must be waiting for its stream: a second stream of one call is refused.
        """
        now = self._clock()
        self._sweep(now)
        call = self._calls.get(call_sid)
        if call is None:
            return "the server knows no such call"
        if call.phase == "live":
            return "the call's media session is live already"
        if call.phase == "ended":
            return "the call has ended"
        call.phase, call.deadline, call.touched = "live", None, now
        return call.record

    def started(self, call_sid: str, task: asyncio.Task[object]) -> None:
        """The media session of a call :meth:`claim` handed over runs in ``task``."""
        call = self._calls.get(call_sid)
        if call is not None:
            call.task, call.touched = task, self._clock()

    def ended(self, call_sid: str) -> None:
        """The call's media session is over (its record is complete); its slot is free."""
        call = self._calls.get(call_sid)
        if call is not None and call.phase == "live":
            call.task, call.phase, call.touched = None, "ended", self._clock()
        self._sweep(self._clock())

    # --- Twilio's statuses ------------------------------------------------------------------

    def record_status(self, event: StatusEvent) -> CallRecord | None:
        """File Twilio's status into the call's events and, if it is news, ``call.json``.

        Returns:
            The call's record, or ``None`` when nothing was written: a duplicate, or
            an unknown call (then the status waits :attr:`hold_unknown_s` for it).
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
        if not self._file_status(call, event, call.record.now()):
            return None
        call.touched = now
        return call.record

    # --- shutdown ---------------------------------------------------------------------------

    async def wait_idle(self, timeout: float) -> None:
        """Wait for live calls to finish (graceful shutdown)."""
        tasks = [call.task for call in self._calls.values() if call.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def end_all(self, reason: str, timeout: float) -> None:
        """End every call (server shutdown) and wait for the live ones' records.

        Each live call's task is cancelled with ``reason`` as the message: the call
        pipeline ends the call with that reason, finishes its record and returns
        normally. Calls still waiting for their stream end with ``shutdown``.
        """
        for call in self._calls.values():
            if call.phase == "waiting":
                self._end(call, "shutdown")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = [call.task for call in self._calls.values() if call.task is not None]
        for task in tasks:
            task.cancel(reason)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    # --- internals --------------------------------------------------------------------------

    def _open(
        self, call_sid: str, now: float, direction: str, from_number: str, to_number: str
    ) -> _Call | None:
        """Open the record of a call the server just heard of (``None``: unwritable)."""
        held = [item for item in self._held.items() if item[1][1].call_sid == call_sid]
        # The record's clock starts when the server first heard of the call.
        age = max((now - arrived for _, (arrived, _) in held), default=0.0)
        try:
            record = CallRecord.open(
                self.recordings_dir, call_sid, "server", t0=time.monotonic() - age
            )
        except (OSError, CallRecordError) as exc:
            logger.error(f"call {call_sid}: cannot open its record, refusing it: {exc}")
            self.health.failed(f"cannot create a call directory in {self.recordings_dir}: {exc}")
            return None
        record.on_write_error(self.health.write_failed)
        call = self._calls[call_sid] = _Call(record, touched=now)
        record.update_manifest(
            call_sid=call_sid,
            direction=direction,
            **{"from": from_number, "to": to_number},
            known_at=datetime.now(UTC).isoformat(),
        )
        for key, (arrived, event) in sorted(held, key=lambda item: item[1][1].order):
            del self._held[key]
            self._file_status(call, event, record.now() - (now - arrived))
        return call

    def _ended_on_disk(self, call_sid: str) -> bool:
        """Whether ``call_sid``'s directory holds a call that ended (the registry forgot it)."""
        if not is_call_sid(call_sid):
            return False
        directory = find_call_dir(self.recordings_dir, call_sid)
        if directory is None:
            return False
        try:
            manifest = CallRecord(directory, "server").read_manifest(wait=False)
        except CallRecordError:
            manifest = {"end_reason": "unreadable"}  # something was there: not a fresh call
        ended = bool(manifest.get("end_reason"))
        if ended:
            logger.warning(f"webhook for {call_sid}, whose call has ended: a replay? refused")
        return ended

    def _wait(self, call: _Call, deadline: float, missed: EndReason) -> None:
        """The call waits for its stream until ``deadline``, then ends as ``missed``."""
        call.deadline, call.missed = deadline, missed
        self._arm_timer(deadline)

    def _arm_timer(self, deadline: float) -> None:
        # A timer as well as the sweep on every request: a call whose stream never comes
        # gets its end reason even when no other request arrives.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used outside a loop (tests): the sweeps alone do it
            return
        delay = max(0.0, deadline - self._clock()) + 0.01
        if self._timer is None or self._timer.when() > loop.time() + delay:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._sweep(self._clock())
        deadlines = [c.deadline for c in self._calls.values() if c.deadline is not None]
        if deadlines:
            self._arm_timer(min(deadlines))

    def _end(self, call: _Call, reason: EndReason, at: float | None = None) -> None:
        """End a call that never had a media session (at ``at``: default now)."""
        call.phase, call.deadline = "ended", None
        call.touched = self._clock() if at is None else at
        call.record.update_manifest(ended_at=datetime.now(UTC).isoformat(), end_reason=reason)
        call.record.emit("call.ended", reason=reason)

    def _file_status(self, call: _Call, event: StatusEvent, t: float) -> bool:
        """Write ``event`` unless it is a duplicate; ``call.json`` gets it if it is the newest."""
        if event.key in call.statuses:
            return False
        call.statuses[event.key] = event
        data = {k: v for k, v in event.fields.items() if k in STATUS_FIELDS and v}
        call.record.emit(
            "twilio.status",
            t=t,
            status=event.status,
            sequence=event.sequence,
            duration=data.get("CallDuration"),
        )
        newest = call.newest is None or event.order > call.newest
        history = [
            {"status": e.status, **{k: v for k, v in e.fields.items() if k in STATUS_FIELDS and v}}
            for e in sorted(call.statuses.values(), key=lambda e: e.order)
        ]
        fields: dict[str, Any] = {"status_history": history}
        if newest:
            call.newest = event.order
            fields["status"] = event.status
        # Rewritten only for news (a handful per call), never for a replayed callback.
        call.record.set_manifest(**fields)
        if event.status in FINAL_CALL_STATUSES:
            call.final = True
            if call.phase == "waiting":
                # Twilio ended the call before its stream started (busy, unanswered...).
                reason = "no_stream" if event.status == "completed" else event.status
                self._end(call, reason)  # type: ignore[arg-type]
        return True

    def _sweep(self, now: float) -> None:
        """End calls whose window passed; forget what has been over long enough."""
        for call in self._calls.values():
            if call.phase == "waiting" and call.deadline is not None and call.deadline <= now:
                logger.info(f"call {call.record.directory.name}: no media stream ({call.missed})")
                self._end(call, call.missed, at=call.deadline)
        self._reservations = [r for r in self._reservations if r.expires_at > now]
        for sid in [sid for sid, call in self._calls.items() if self._forgettable(call, now)]:
            del self._calls[sid]
        for key in [
            k for k, (arrived, _) in self._held.items() if now - arrived > self.hold_unknown_s
        ]:
            self._drop_held(key)

    def _forgettable(self, call: _Call, now: float) -> bool:
        if call.phase != "ended" or call.task is not None:
            return False
        idle = now - call.touched
        return idle > (self.forget_after_s if call.final else self.idle_forget_s)

    def _drop_held(self, key: int) -> None:
        _, event = self._held.pop(key)
        logger.warning(
            f"status callback {event.status!r} for unknown call {event.call_sid} ignored"
        )
