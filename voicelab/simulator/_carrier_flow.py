"""What Twilio does with one call, from dialing to its final status.

:class:`CallRunner` plays the network side of a single call: status callbacks, the signed
TwiML fetch, executing the TwiML and handing ``<Connect><Stream>`` to the answerer. Anything
that must cut a call short (REST hang-up, REST redirect, time limit) sets
``CarrierCall.interrupt``; every wait here races against it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from loguru import logger

from voicelab.simulator._carrier_answerer import Answerer, StreamSession
from voicelab.simulator._carrier_twilio import CarrierCall, is_http_url, new_sid, rfc2822
from voicelab.simulator._carrier_twiml import (
    Connect,
    Hangup,
    Pause,
    Redirect,
    TwimlError,
    Verb,
    parse_twiml,
)
from voicelab.simulator._carrier_webhooks import WebhookClient, WebhookError

__all__ = ["CallRunner", "ErrorReporter"]


T = TypeVar("T")
ErrorReporter = Callable[[CarrierCall, str, bool], None]
"""``report(call, message, fatal)``: log a failure and record it in the call directory."""

_MAX_DOCUMENTS = 20  # Redirect / action chains longer than this are a loop.

_Next = tuple[str | None, str | None, str]
"""The next TwiML to run: (document or None to fetch, its URL, fetch method)."""


class _Interrupted(Exception):
    """``call.interrupt`` fired while waiting."""


class _CallEnded(Exception):
    """The call is over with ``status``; ``reason`` says why when it failed."""

    def __init__(self, status: str, reason: str | None = None) -> None:
        super().__init__(reason or status)
        self.status = status
        self.reason = reason


class CallRunner:
    """Drives one call as Twilio would, until its final status callback.

    Args:
        call: The call to run (queued outbound, or ringing inbound).
        webhooks: Signed HTTP client.
        answerer: Plays the far end of ``<Connect><Stream>``.
        report: Error sink (log + ``error`` event).
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
        outcome: str = "answer",
        ring_s: float = 0.0,
        answerer_grace_s: float = 2.0,
    ) -> None:
        self.call = call
        self._webhooks = webhooks
        self._answerer = answerer
        self._report = report
        self._outcome = outcome
        self._ring_s = ring_s
        self._grace_s = answerer_grace_s
        self._sequence = 0
        self._time_limit: asyncio.TimerHandle | None = None

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
            except _Interrupted:
                status = call.hangup_status or "completed"
            except _CallEnded as ended:
                status = ended.status
                if ended.reason:
                    self._report(call, ended.reason, True)
            await self._finish(status)
        except asyncio.CancelledError:
            # The carrier is shutting down: settle the resource without callbacks.
            call.end("completed" if call.answered_at is not None else "canceled")
            call.mark_progress(call.status)
            raise
        except Exception as exc:  # a bug here must not leave a call hanging forever
            logger.exception("carrier: call {} crashed", call.sid)
            self._report(call, f"carrier error: {exc!r}", True)
            call.end("failed")
            call.mark_progress(call.status)
        finally:
            if self._time_limit is not None:
                self._time_limit.cancel()

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
        await self._execute(call.twiml, call.url, call.method)

    async def _run_inbound(self) -> None:
        call = self.call
        call.start_time = datetime.now(UTC)
        await self._progress("ringing", "ringing")
        assert call.url is not None
        document, url = await self._fetch(call.url, call.method, "ringing")
        await self._answer()
        await self._execute(document, url)

    def _check(self) -> None:
        if self.call.interrupt.is_set():
            raise _Interrupted

    async def _answer(self) -> None:
        call = self.call
        self._check()
        call.status = "in-progress"
        call.answered_at = time.monotonic()
        call.touch()
        loop = asyncio.get_running_loop()
        self._time_limit = loop.call_later(call.time_limit_s, self._time_up)
        await self._progress("in-progress", "answered")

    def _time_up(self) -> None:
        if self.call.hangup_status is None:
            self.call.hangup_status = "completed"
        self.call.interrupt.set()

    async def _execute(self, document: str | None, url: str | None, method: str = "POST") -> None:
        """Run TwiML until a document ends without handing over to another.

        Args:
            document: TwiML to run, or None to fetch it from ``url`` first.
            url: Where ``document`` came from (base for relative URLs) or is to be fetched.
            method: HTTP method for fetching ``url``.
        """
        call = self.call
        for _ in range(_MAX_DOCUMENTS):
            following: _Next | None = None
            try:
                if document is None:
                    assert url is not None  # the API requires Url or Twiml
                    document, url = await self._fetch(url, method, "in-progress")
                following = await self._run_verbs(_parse(document, url), url)
            except _Interrupted:
                if call.hangup_status is not None or call.redirect is None:
                    raise
            if call.hangup_status is not None:
                raise _Interrupted
            if call.redirect is not None:
                # A REST redirect replaces whatever the current document was doing.
                redirect_url, redirect_method, twiml = call.redirect
                call.redirect = None
                call.interrupt.clear()
                following = (twiml, redirect_url, redirect_method)
            if following is None:
                return
            document, url, method = following
        raise _CallEnded("failed", f"more than {_MAX_DOCUMENTS} TwiML documents: redirect loop?")

    async def _run_verbs(self, verbs: list[Verb], url: str | None) -> _Next | None:
        """Execute ``verbs``; return the next document if one of them hands over to it."""
        for verb in verbs:
            self._check()
            if isinstance(verb, Hangup):
                raise _CallEnded("completed")
            if isinstance(verb, Pause):
                await self._interruptible(asyncio.sleep(verb.length_s))
            elif isinstance(verb, Redirect):
                return (None, self._resolve(verb.url, url), verb.method)
            elif isinstance(verb, Connect):
                await self._stream(verb)
                self._check()
                if verb.action:
                    return (None, self._resolve(verb.action, url), verb.method)
            # Sound verbs (<Say>, <Play>) take no time in the emulator.
        return None

    async def _stream(self, verb: Connect) -> None:
        """Hand a ``<Connect><Stream>`` to the answerer and wait for it to return."""
        call = self.call
        if urlsplit(verb.stream_url).scheme not in ("ws", "wss"):
            # Twilio reports a stream error and moves on to the next verb.
            self._report(call, f"<Stream url> must be ws:// or wss://: {verb.stream_url}", False)
            return
        session = StreamSession(
            url=verb.stream_url,
            headers=self._webhooks.stream_headers(verb.stream_url),
            account_sid=call.account_sid,
            call_sid=call.sid,
            stream_sid=new_sid("MZ"),
            custom_parameters=dict(verb.parameters),
            from_=call.from_,
            to=call.to,
            direction=call.direction,
            hangup=asyncio.Event(),
            scenario=call.scenario,
        )
        call.stream_sid = session.stream_sid
        call.custom_parameters = dict(verb.parameters)
        task = asyncio.create_task(self._answerer(session))
        interrupted = asyncio.create_task(call.interrupt.wait())
        try:
            await asyncio.wait({task, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                session.hangup.set()
                await asyncio.wait({task}, timeout=self._grace_s)
        finally:
            interrupted.cancel()
            if not task.done():
                logger.warning("carrier: answerer of {} did not return; cancelling it", call.sid)
                task.cancel()
                await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            self._report(call, f"answerer failed: {task.exception()!r}", True)

    async def _fetch(self, url: str, method: str, call_status: str) -> tuple[str, str]:
        """Fetch a TwiML document with a signed request; any failure fails the call."""
        params = self.call.webhook_params(call_status)
        try:
            response = await self._interruptible(self._webhooks.send(url, method, params))
        except WebhookError as exc:
            raise _CallEnded("failed", f"TwiML fetch failed: {exc}") from exc
        return response.text, url

    def _resolve(self, target: str, base: str | None) -> str:
        resolved = urljoin(base, target) if base else target
        if not is_http_url(resolved):
            raise _CallEnded("failed", f"TwiML URL is not an absolute http(s) URL: {target!r}")
        return resolved

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

    async def _interruptible(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless ``call.interrupt`` fires first (then cancel it)."""
        task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
        interrupted = asyncio.create_task(self.call.interrupt.wait())
        try:
            await asyncio.wait({task, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            raise _Interrupted
        return task.result()


def _parse(document: str, url: str | None) -> list[Verb]:
    try:
        return parse_twiml(document)
    except TwimlError as exc:
        raise _CallEnded("failed", f"bad TwiML from {url or 'the Twiml parameter'}: {exc}") from exc
