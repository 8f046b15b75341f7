"""Running a call's TwiML, verb by verb, as Twilio does.

``<Say>``/``<Play>``/``<Pause>`` take their time (and the party hears them, on a line);
``<Connect><Stream>`` hands the call to the agent's websocket until one side ends it;
``<Dial>`` rings and bridges; ``<Redirect>`` and ``action`` URLs fetch the next document;
``<Hangup>`` ends the call. A REST update (``Twiml``/``Url``) interrupts whatever runs
and starts the new TwiML; a REST ``Status=completed``, the time limit or the party
hanging up interrupts it for good. :class:`TwimlExecution` is the part of a
:class:`~voicelab.simulator._carrier_flow.CallRunner` that does this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from loguru import logger

from voicelab.simulator import _carrier_sound as sound
from voicelab.simulator._carrier_answerer import Answerer, StreamSession
from voicelab.simulator._carrier_dial import Scripted, dial
from voicelab.simulator._carrier_line import Line
from voicelab.simulator._carrier_record import CarrierRecords
from voicelab.simulator._carrier_twilio import CarrierCall, is_http_url, new_sid
from voicelab.simulator._carrier_twiml import (
    Connect,
    Dial,
    Hangup,
    Pause,
    Play,
    Redirect,
    Say,
    TwimlError,
    Verb,
    parse_twiml,
)
from voicelab.simulator._carrier_webhooks import WebhookClient, WebhookError

__all__ = ["ErrorReporter", "TwimlExecution"]

T = TypeVar("T")
ErrorReporter = Callable[[CarrierCall, str, bool], None]
"""``report(call, message, fatal)``: log a failure and record it in the call directory."""

_MAX_DOCUMENTS = 20  # Redirect / action chains longer than this are a loop.

# The next TwiML to run: (document or None to fetch, its URL, fetch method, extra fields).
_Next = tuple[str | None, str | None, str, dict[str, str]]


class _Interrupted(Exception):
    """``call.interrupt`` fired while waiting (or the party hung up)."""


class _CallEnded(Exception):
    """The call is over with ``status``; ``reason`` says why when it failed."""

    def __init__(self, status: str, reason: str | None = None) -> None:
        super().__init__(reason or status)
        self.status = status
        self.reason = reason


class TwimlExecution:
    """Executes TwiML documents for one call (the base of ``CallRunner``)."""

    call: CarrierCall
    line: Line | None
    _webhooks: WebhookClient
    _answerer: Answerer
    _report: ErrorReporter
    _records: CarrierRecords
    _scripted: Scripted
    _grace_s: float

    def _check(self) -> None:
        """Raise :class:`_Interrupted` if the call must stop what it is doing."""
        if self.line is not None and self.line.hung_up.is_set():
            self._party_hung_up()
        if self.call.interrupt.is_set():
            raise _Interrupted

    def _party_hung_up(self) -> None:
        call = self.call
        call.end_by("caller", "hung_up")
        if call.hangup_status is None:
            call.hangup_status = "completed"
        call.interrupt.set()

    async def _execute(
        self,
        document: str | None,
        url: str | None,
        method: str = "POST",
        extra: dict[str, str] | None = None,
    ) -> None:
        """Run TwiML until a document ends without handing over to another.

        Args:
            document: TwiML to run, or None to fetch it from ``url`` first.
            url: Where ``document`` came from (base for relative URLs) or is to be fetched.
            method: HTTP method for fetching ``url``.
            extra: More fields for that fetch (``AnsweredBy``, a ``<Dial>``'s outcome...).
        """
        call = self.call
        for _ in range(_MAX_DOCUMENTS):
            following: _Next | None = None
            try:
                if document is None:
                    assert url is not None  # the API requires Url or Twiml
                    document, url = await self._fetch(url, method, "in-progress", extra)
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
                following = (twiml, redirect_url, redirect_method, {})
            if following is None:
                return
            document, url, method, extra = following
        raise _CallEnded("failed", f"more than {_MAX_DOCUMENTS} TwiML documents: redirect loop?")

    async def _run_verbs(self, verbs: list[Verb], url: str | None) -> _Next | None:
        """Execute ``verbs``; return the next document if one of them hands over to it."""
        call, line = self.call, self.line
        for verb in verbs:
            self._check()
            if isinstance(verb, Hangup):
                call.end_by("bot", "hangup_verb")
                raise _CallEnded("completed")
            if isinstance(verb, Pause):
                await self._interruptible(asyncio.sleep(verb.length_s))
            elif isinstance(verb, Say):
                await self._interruptible(sound.say(verb, line))
            elif isinstance(verb, Play):
                await self._interruptible(
                    sound.play(verb, call, line, self._webhooks, self._report, url)
                )
            elif isinstance(verb, Redirect):
                return (None, self._resolve(verb.url, url), verb.method, {})
            elif isinstance(verb, Connect):
                await self._stream(verb)
                self._check()
                if verb.action:
                    return (None, self._resolve(verb.action, url), verb.method, {})
            elif isinstance(verb, Dial):
                if verb.number is None:
                    # Twilio fails the dial and goes on with the call (action, next verb).
                    self._report(call, f"<Dial> failed: {verb.problem}", False)
                    params = {"DialCallStatus": "failed", "DialCallDuration": "0"}
                else:
                    result = await self._interruptible(
                        dial(verb, call, line, self._scripted, self._records)
                    )
                    params = result.action_params()
                self._check()
                if verb.action:
                    return (None, self._resolve(verb.action, url), verb.method, params)
        return None

    async def _stream(self, verb: Connect) -> None:
        """Hand a ``<Connect><Stream>`` to the line (or the answerer) until it ends."""
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
        runs: Awaitable[Any] = (
            self.line.stream(session) if self.line is not None else self._answerer(session)
        )
        task = asyncio.ensure_future(runs)
        interrupted = asyncio.create_task(call.interrupt.wait())
        try:
            await asyncio.wait({task, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # Twilio ends the stream: the far end sends `stop` and closes the socket.
                session.hangup.set()
                await asyncio.wait({task}, timeout=self._grace_s)
        finally:
            interrupted.cancel()
            if not task.done():
                logger.warning("carrier: stream of {} did not end; cancelling it", call.sid)
                task.cancel()
                await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            self._report(call, f"answerer failed: {task.exception()!r}", True)

    async def _fetch(
        self, url: str, method: str, call_status: str, extra: dict[str, str] | None = None
    ) -> tuple[str, str]:
        """Fetch a TwiML document with a signed request; any failure fails the call."""
        params = {**self.call.webhook_params(call_status), **(extra or {})}
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

    async def _interruptible(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless the call is interrupted first (then cancel it)."""
        task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
        waits: set[asyncio.Future[Any]] = {task, asyncio.create_task(self.call.interrupt.wait())}
        if self.line is not None:
            waits.add(asyncio.create_task(self.line.hung_up.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits - {task}:
                waiting.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            self._check()
            raise _Interrupted
        return task.result()


def _parse(document: str, url: str | None) -> list[Verb]:
    try:
        return parse_twiml(document)
    except TwimlError as exc:
        raise _CallEnded("failed", f"bad TwiML from {url or 'the Twiml parameter'}: {exc}") from exc
