"""The carrier's switchboard: every call it knows, scripted destinations, running calls.

The REST API and the public :class:`~voicelab.simulator.carrier.Carrier` both act through a
:class:`Switchboard`; it owns the :class:`CallRunner` tasks and their shutdown.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from voicelab.errors import NotFoundError, TelephonyError
from voicelab.simulator._carrier_answerer import Answerer
from voicelab.simulator._carrier_flow import CallRunner
from voicelab.simulator._carrier_line import DialTarget
from voicelab.simulator._carrier_record import CarrierRecords
from voicelab.simulator._carrier_twilio import TERMINAL_STATUSES, CarrierCall
from voicelab.simulator._carrier_webhooks import WebhookClient

__all__ = ["Destination", "Switchboard"]


@dataclass(frozen=True)
class Destination:
    """How a dialed number behaves.

    Attributes:
        outcome: ``answer``, ``busy``, ``no-answer`` or ``failed``.
        scenario: Opaque object passed to the answerer of calls to this number.
        ring_s: Ringing time before the outcome (None: the carrier's default).
    """

    outcome: str = "answer"
    scenario: Any = None
    ring_s: float | None = None


class Switchboard:
    """Calls, destinations and the tasks that run calls.

    Args:
        webhooks: Signed HTTP client shared by all calls.
        answerer: Plays the far end of media streams.
        recordings_root: Where ``error`` events go (None: log only).
        ring_s: Default ringing time.
        answerer_grace_s: How long a hung-up answerer may take to return.
    """

    def __init__(
        self,
        webhooks: WebhookClient,
        answerer: Answerer,
        recordings_root: Path | None = None,
        ring_s: float = 0.0,
        answerer_grace_s: float = 2.0,
    ) -> None:
        self.calls: dict[str, CarrierCall] = {}
        self._webhooks = webhooks
        self._answerer = answerer
        self._recordings_root = recordings_root
        self._ring_s = ring_s
        self._grace_s = answerer_grace_s
        self._destinations: dict[str, Destination] = {}
        self._hints: defaultdict[str, deque[Any]] = defaultdict(deque)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.records = CarrierRecords(recordings_root)

    def script_destination(self, number: str, destination: Destination) -> None:
        self._destinations[number] = destination

    def place_hint(self, number: str, scenario: Any) -> None:
        self._hints[number].append(scenario)

    def start(self, call: CarrierCall) -> None:
        """Register ``call`` and start running it in the background."""
        destination = Destination()
        if call.direction != "inbound":
            destination = self._destinations.get(call.to, destination)
            hints = self._hints.get(call.to)
            if hints:
                call.scenario = hints.popleft()
            elif call.scenario is None:
                call.scenario = destination.scenario
        runner = CallRunner(
            call,
            webhooks=self._webhooks,
            answerer=self._answerer,
            report=self.report_error,
            records=self.records,
            scripted=self.dial_target,
            outcome=destination.outcome,
            ring_s=self._ring_s if destination.ring_s is None else destination.ring_s,
            answerer_grace_s=self._grace_s,
        )
        self.calls[call.sid] = call
        if call.direction != "inbound":
            call.mark_progress(call.status)  # queued; an inbound call's runner reports ringing
        task = asyncio.create_task(runner.run(), name=f"carrier-call-{call.sid}")
        self._tasks[call.sid] = task
        task.add_done_callback(lambda _: self._tasks.pop(call.sid, None))

    def dial_target(self, number: str) -> DialTarget | None:
        """Who answers ``number`` when a ``<Dial>`` rings it, if it was scripted."""
        destination = self._destinations.get(number)
        if destination is None:
            return None
        ring_s = self._ring_s if destination.ring_s is None else destination.ring_s
        return DialTarget(outcome=destination.outcome, ring_s=ring_s)

    def hang_up(self, call: CarrierCall, status: str, *, by: str = "bot") -> None:
        """Apply a REST ``Status=completed|canceled`` update, as Twilio does.

        ``canceled`` only ends calls that are not answered yet; ``completed`` ends any call.
        The resource becomes final at once; the runner then tears the call down.
        """
        if call.ended or (status == "canceled" and call.status == "in-progress"):
            return
        call.end_by(by, "rest" if by == "bot" else "shutdown")
        final = "completed" if call.status == "in-progress" else "canceled"
        call.hangup_status = final
        call.end(final)
        call.interrupt.set()

    def redirect(self, call: CarrierCall, url: str | None, method: str, twiml: str | None) -> None:
        """Apply a REST ``Url``/``Twiml`` update: stop the current TwiML, run the new one."""
        call.redirect = (url, method, twiml)
        call.touch()
        call.interrupt.set()

    async def wait_for_status(
        self, call_sid: str, statuses: Collection[str], timeout: float
    ) -> str:
        call = self.calls.get(call_sid)
        if call is None:
            raise NotFoundError(f"unknown call {call_sid!r}")
        wanted = set(statuses)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Take the event before checking, so a change in between cannot be missed.
            changed = call.changed
            reached = [status for status in call.status_history if status in wanted]
            if reached:
                return reached[-1]
            if call.status_history and call.status_history[-1] in TERMINAL_STATUSES:
                raise TelephonyError(
                    f"call {call_sid} ended {call.status} without reaching {sorted(wanted)} "
                    f"(history {call.status_history})"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"call {call_sid} did not reach {sorted(wanted)} within {timeout:g} s "
                    f"(status {call.status}, history {call.status_history})"
                )
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue

    def report_error(self, call: CarrierCall, message: str, fatal: bool) -> None:
        """Log a failure, keep it on the call and write an ``error`` event if recording."""
        call.errors.append(message)
        logger.log("ERROR" if fatal else "WARNING", "carrier: call {}: {}", call.sid, message)
        self.records.emit(call, "error", message=message, fatal=fatal)

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Hang up every live call, give them ``grace_s`` to finish, then cancel the rest."""
        for call in self.calls.values():
            self.hang_up(call, "completed", by="carrier")
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
