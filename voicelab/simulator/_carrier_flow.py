"""What Twilio does with one call, from dialing to its final status.

:class:`CallRunner` plays the network side of a single call: status callbacks, answering
(and, with an answerer that stays on the line, the party's :class:`Line`), answering
machine detection, the signed TwiML fetch and its execution
(:class:`~voicelab.simulator._carrier_exec.TwimlExecution`), and the end: who hung up
(``call.hangup``), the party's line closed, the final callback. Anything that must cut a
call short (REST hang-up, REST redirect, time limit, the party hanging up) sets
``CarrierCall.interrupt``; every wait races against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from voicelab.simulator._carrier_amd import detect
from voicelab.simulator._carrier_answerer import Answerer
from voicelab.simulator._carrier_dial import Scripted
from voicelab.simulator._carrier_exec import ErrorReporter, TwimlExecution, _CallEnded, _Interrupted
from voicelab.simulator._carrier_line import Line, LineAnswerer, PickUp
from voicelab.simulator._carrier_record import CarrierRecords
from voicelab.simulator._carrier_twilio import CarrierCall, rfc2822
from voicelab.simulator._carrier_webhooks import WebhookClient, WebhookError

__all__ = ["CallRunner", "ErrorReporter"]

_LINE_CLOSE_S = 120.0  # a party's record may need its Whisper (a voicemail, black-box turns)
_SHUTDOWN_CLOSE_S = 2.0


class CallRunner(TwimlExecution):
    """Drives one call as Twilio would, until its final status callback.

    Args:
        call: The call to run (queued outbound, or ringing inbound).
        webhooks: Signed HTTP client.
        answerer: Plays the far end (and, with ``pick_up``, stays on the line).
        report: Error sink (log + ``error`` event).
        records: The carrier's writer of call records.
        scripted: Who answers a number a ``<Dial>`` rings, by ``Carrier.script_destination``.
        outcome: Scripted result of dialing: ``answer``, ``busy``, ``no-answer`` or ``failed``.
        ring_s: How long the destination rings before the outcome.
        answerer_grace_s: How long a hung-up answerer may take to return before it is cancelled.
    """

    def __init__(
        self,
        call: CarrierCall,
        *,
        webhooks: WebhookClient,
        answerer: Answerer,
        report: ErrorReporter,
        records: CarrierRecords | None = None,
        scripted: Scripted = lambda number: None,
        outcome: str = "answer",
        ring_s: float = 0.0,
        answerer_grace_s: float = 2.0,
    ) -> None:
        self.call = call
        self.line: Line | None = None
        self._webhooks = webhooks
        self._answerer = answerer
        self._report = report
        self._records = records if records is not None else CarrierRecords(None)
        self._scripted = scripted
        self._outcome = outcome
        self._ring_s = ring_s
        self._grace_s = answerer_grace_s
        self._sequence = 0
        self._time_limit: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Run the call to its end; never raises except on cancellation."""
        call = self.call
        try:
            try:
                if call.direction == "inbound":
                    await self._run_inbound()
                else:
                    await self._run_outbound()
                status = "completed"
                call.end_by("bot", "twiml_ended")  # its TwiML ran out: Twilio hangs up
            except _Interrupted:
                status = call.hangup_status or "completed"
            except _CallEnded as ended:
                status = ended.status
                if ended.reason:
                    self._report(call, ended.reason, True)
                    call.end_by("carrier", "failed")
            await self._end_line()
            await self._finish(status)
        except asyncio.CancelledError:
            # The carrier is shutting down: settle the resource without callbacks, and hang
            # up on the party (briefly: its clock must not outlive the carrier).
            call.end("completed" if call.answered_at is not None else "canceled")
            call.mark_progress(call.status)
            if self.line is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.line.close(), _SHUTDOWN_CLOSE_S)
            raise
        except Exception as exc:  # a bug here must not leave a call hanging forever
            logger.exception("carrier: call {} crashed", call.sid)
            self._report(call, f"carrier error: {exc!r}", True)
            call.end("failed")
            call.mark_progress(call.status)
        finally:
            if self._time_limit is not None:
                self._time_limit.cancel()
            for task in self._background:
                task.cancel()
            self._records.forget(call)

    async def _run_outbound(self) -> None:
        call = self.call
        call.start_time = datetime.now(UTC)
        await self._progress("initiated", "initiated")
        self._check()
        if self._outcome in ("busy", "failed"):
            raise _CallEnded(self._outcome)
        call.status = "ringing"
        call.touch()
        await self._progress("ringing", "ringing")
        await self._interruptible(asyncio.sleep(min(self._ring_s, call.timeout_s)))
        self._check()
        if self._outcome == "no-answer" or self._ring_s >= call.timeout_s:
            raise _CallEnded("no-answer")
        await self._answer()
        extra: dict[str, str] = {}
        if call.amd is not None and call.amd.async_amd:
            self._spawn(self._async_amd())
        elif call.amd is not None:
            # Synchronous AMD holds the TwiML until it has decided, then tells the request.
            answered_by, seconds = await self._interruptible(detect(call.amd, self.line))
            self._amd_decided(answered_by, seconds)
            extra["MachineDetectionDuration"] = str(round(seconds * 1000))
        await self._execute(call.twiml, call.url, call.method, extra)

    async def _run_inbound(self) -> None:
        call = self.call
        call.start_time = datetime.now(UTC)
        await self._progress("ringing", "ringing")
        assert call.url is not None
        document, url = await self._fetch(call.url, call.method, "ringing")
        await self._answer()
        await self._execute(document, url)

    async def _answer(self) -> None:
        call = self.call
        self._check()
        call.status = "in-progress"
        call.answered_at = time.monotonic()
        call.touch()
        loop = asyncio.get_running_loop()
        self._time_limit = loop.call_later(call.time_limit_s, self._time_up)
        await self._progress("in-progress", "answered")
        await self._pick_up()

    async def _pick_up(self) -> None:
        """An answerer that stays on the line gets the party's line now."""
        if not isinstance(self._answerer, LineAnswerer):
            return
        call = self.call
        pick_up = PickUp(
            call.sid, call.account_sid, call.from_, call.to, call.direction, call.scenario
        )
        try:
            self.line = await self._answerer.pick_up(pick_up)
        except Exception as exc:  # the far end failing to pick up is the call's problem
            self._report(call, f"answerer failed to pick up: {exc!r}", True)
            return
        if self.line is not None:
            self._spawn(self._watch_line(self.line))

    async def _watch_line(self, line: Line) -> None:
        await line.hung_up.wait()
        self._party_hung_up()

    def _time_up(self) -> None:
        self.call.end_by("carrier", "time_limit")
        if self.call.hangup_status is None:
            self.call.hangup_status = "completed"
        self.call.interrupt.set()

    async def _async_amd(self) -> None:
        call = self.call
        assert call.amd is not None
        answered_by, seconds = await detect(call.amd, self.line)
        if call.ended:
            return
        self._amd_decided(answered_by, seconds)
        if call.amd.callback is None:
            return  # Twilio's warning 21262: the result is on the Call resource only
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "AnsweredBy": answered_by,
            "MachineDetectionDuration": str(round(seconds * 1000)),
        }
        try:
            await self._webhooks.send(call.amd.callback, call.amd.callback_method, params)
        except WebhookError as exc:
            self._report(call, f"AsyncAmdStatusCallback failed: {exc}", False)

    def _amd_decided(self, answered_by: str, seconds: float) -> None:
        call = self.call
        call.answered_by = answered_by
        self._records.emit(call, "amd.result", answered_by=answered_by, detection_s=seconds)
        self._records.manifest(call, answered_by=answered_by)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _end_line(self) -> None:
        """Say who hung up, then hang up on the party (its record completes)."""
        call = self.call
        if call.answered_at is not None and call.ended_by is not None:
            self._records.emit(call, "call.hangup", by=call.ended_by, how=call.end_how)
        if self.line is None:
            return
        try:
            await asyncio.wait_for(self.line.close(), _LINE_CLOSE_S)
        except Exception as exc:  # the party's record is its own; the call still ends
            self._report(call, f"the party's line did not close: {exc!r}", False)

    async def _finish(self, status: str) -> None:
        """Make the call final and send the ``completed`` status callback."""
        self.call.end(status)  # a REST hang-up may already have done it; that status stays
        await self._progress(self.call.status, "completed")

    async def _progress(self, call_status: str, event: str) -> None:
        """Send the status callback for ``event`` if asked for, then publish the status."""
        call = self.call
        if call.status_callback and event in call.status_callback_events:
            params: dict[str, str] = {
                **call.webhook_params(call_status),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(self._sequence),
                "Timestamp": rfc2822(datetime.now(UTC)) or "",
            }
            if event == "completed":
                params["CallDuration"] = str(round(call.duration_s or 0.0))
            self._sequence += 1
            try:
                await self._webhooks.send(call.status_callback, call.status_callback_method, params)
            except WebhookError as exc:
                self._report(call, f"status callback ({event}) failed: {exc}", False)
        call.mark_progress(call_status)
