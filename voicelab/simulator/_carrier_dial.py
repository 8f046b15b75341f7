"""``<Dial>``: the carrier rings another number and bridges the call to whoever answers.

Who answers is the party's own scenario (``parties``, through its line's
:meth:`~voicelab.simulator._carrier_line.Line.dial_target`), else a number scripted with
``Carrier.script_destination`` (a silent party), else nobody: a number no one scripted
rings until the ``<Dial timeout>`` and ends ``no-answer``, as an unanswered phone does.
While it rings the caller hears nothing from the agent; once answered the two parties hear
each other until one hangs up (or ``timeLimit``). The dialled leg's final status is
Twilio's ``DialCallStatus``: ``completed`` (answered), ``busy``, ``no-answer``,
``failed``, or ``canceled`` (the call ended while it rang). Either way the carrier records
a ``call.transferred`` event and ``transferred_to`` / ``transfer_status`` in ``call.json``,
and the parent call's TwiML goes on (the ``action`` URL, or the next verb), as Twilio's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicelab.simulator._carrier_line import DialTarget, Line
from voicelab.simulator._carrier_record import CarrierRecords
from voicelab.simulator._carrier_twilio import CarrierCall, new_sid
from voicelab.simulator._carrier_twiml import Dial

__all__ = ["DialResult", "dial"]

Scripted = Callable[[str], DialTarget | None]


@dataclass(frozen=True)
class DialResult:
    """How a ``<Dial>`` ended: what its ``action`` request is told.

    Attributes:
        sid: The dialled leg's CallSid (``DialCallSid``).
        status: ``DialCallStatus``.
        ring_s: How long it rang.
        duration_s: How long the parties were connected (``DialCallDuration``).
    """

    sid: str
    status: str
    ring_s: float = 0.0
    duration_s: float = 0.0

    def action_params(self) -> dict[str, str]:
        """The fields Twilio adds to the ``<Dial action>`` request."""
        return {
            "DialCallSid": self.sid,
            "DialCallStatus": self.status,
            "DialCallDuration": str(round(self.duration_s)),
            "DialBridged": "true" if self.status == "completed" else "false",
        }


async def dial(
    verb: Dial,
    call: CarrierCall,
    line: Line | None,
    scripted: Scripted,
    records: CarrierRecords,
) -> DialResult:
    """Ring ``verb.number``, bridge if it answers; record the transfer however it ends.

    Cancelling it (the call was hung up or redirected) ends the dialled leg too.
    """
    assert verb.number is not None  # the runner reports a <Dial> that names no number
    number = verb.number
    target = (line.dial_target(number) if line is not None else None) or scripted(number)
    if target is None:
        target = DialTarget(outcome="no-answer", ring_s=verb.timeout_s)
    sid = new_sid("CA")
    started = time.monotonic()
    status, ring_s, answered_at = "canceled", 0.0, None
    try:
        await asyncio.sleep(min(target.ring_s, verb.timeout_s))
        ring_s = time.monotonic() - started
        if target.outcome in ("busy", "failed"):
            status = target.outcome
        elif target.outcome == "no-answer" or target.ring_s >= verb.timeout_s:
            status = "no-answer"
        else:
            status, answered_at = "completed", time.monotonic()
            # <Dial timeLimit>: the dialled leg is hung up, and the call goes on.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_bridge(line, target), verb.time_limit_s)
    finally:
        ring_s = ring_s or time.monotonic() - started
        talked = time.monotonic() - answered_at if answered_at is not None else 0.0
        result = DialResult(sid, status, round(ring_s, 3), round(talked, 3))
        _record(call, number, result, records)
    return result


async def _bridge(line: Line | None, target: DialTarget) -> None:
    if line is not None and target.party is not None:
        await line.bridge(target)
    else:
        # Someone answered who says nothing: the bridge holds until a hang-up ends it.
        await asyncio.Event().wait()


def _record(call: CarrierCall, number: str, result: DialResult, records: CarrierRecords) -> None:
    call.transferred_to, call.transfer_status = number, result.status
    records.emit(
        call,
        "call.transferred",
        to=number,
        status=result.status,
        ring_s=result.ring_s,
        duration_s=result.duration_s,
    )
    records.manifest(call, transferred_to=number, transfer_status=result.status)
