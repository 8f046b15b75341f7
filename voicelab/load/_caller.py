"""One load caller: Twilio's side of one call to the agent, as light as a call can be.

The caller does what Twilio does for an inbound call: a signed webhook ``POST`` to the
agent's URL, the TwiML's ``<Connect><Stream>`` followed to a websocket (signed upgrade,
``connected``, ``start`` with the ``<Parameter>`` values), then one ``media`` frame every
20 ms for as long as the call is held: its :class:`~voicelab.load._line.CallerLine` when
it speaks, silence when it listens. It listens with an :class:`~voicelab.load._ear.Ear`,
echoes ``mark``\\ s once played and honours ``clear``; at the end it sends ``stop`` and
closes the socket.

Its script: wait for the greeting to end (at most ``greeting_wait_s``), say the line, wait
for the reply (at most ``reply_timeout_s``), let it end, pause, say it again, until
``duration_s`` has passed since the stream opened. Voice-to-voice of a line is the onset
of the first reply that begins at or after the line's end, minus that end (both on the
caller's frame clock, as ``v2v_caller_s`` is: :mod:`voicelab.analysis.latency`). Audio that
starts while the caller is still speaking belongs to the reply before (as with the simulated
caller): an overloaded agent's late audio is not a reply to a line it has not heard out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from enum import Enum

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from voicelab.errors import VoicelabError
from voicelab.load._ear import Ear
from voicelab.load._line import CallerLine
from voicelab.load._pacing import FrameClock, JitterLog
from voicelab.load._plan import LoadPlan
from voicelab.simulator._carrier_twilio import CarrierCall, new_sid
from voicelab.simulator._carrier_twiml import Connect, parse_twiml
from voicelab.simulator._carrier_webhooks import WebhookClient, WebhookError
from voicelab.telephony import mulaw
from voicelab.telephony.media import (
    ClearMessage,
    MediaMessageError,
    OutboundMark,
    OutboundMedia,
    TwilioStreamMessages,
    parse_server_message,
)

__all__ = ["ERROR_KINDS", "CallStats", "LoadCaller"]

ERROR_KINDS = ("unreachable", "refused", "twiml", "websocket", "dropped")
"""How a call fails: the agent could not be reached, refused the webhook (non-2xx),
answered no ``<Connect><Stream>``, refused or broke the websocket, or closed it before
the call's duration was over."""

_MAX_MESSAGE_BYTES = 1024 * 1024  # as the simulated caller (simulator/_caller_links.py)


class _State(Enum):
    LISTEN = "listen"
    SPEAK = "speak"
    AWAIT_REPLY = "await_reply"


@dataclass
class CallStats:
    """What one load caller observed (plain data, pickled back to the parent).

    Attributes:
        index: The caller's number in the run (from 0).
        call_sid: The ``CallSid`` its webhook carried.
        held: The call stayed up until the generator ended it at its duration.
        error_kind: One of :data:`ERROR_KINDS`, when it failed.
        error: What failed, in a line.
        setup_s: From the webhook ``POST`` to ``start`` sent.
        lines: Lines the caller finished saying.
        v2v_s: Voice-to-voice of each answered line, seconds.
        unanswered: Lines with no reply within the reply timeout.
        replies: Replies heard (the greeting included).
        underruns_s: Each underrun's length inside a reply (:mod:`voicelab.load._ear`).
        frames: Media frames sent.
        bad_messages: Messages from the agent that were not valid Media Streams messages.
    """

    index: int
    call_sid: str
    held: bool = False
    error_kind: str | None = None
    error: str | None = None
    setup_s: float | None = None
    lines: int = 0
    v2v_s: list[float] = field(default_factory=list)
    unanswered: int = 0
    replies: int = 0
    underruns_s: list[float] = field(default_factory=list)
    frames: int = 0
    bad_messages: int = 0

    def fail(self, kind: str, message: str) -> None:
        if self.error_kind is None:
            self.error_kind, self.error = kind, message


class _Failed(Exception):
    """A stage of the call failed; ``kind`` is one of ERROR_KINDS (never leaves the module)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class LoadCaller:
    """One call, placed at ``start`` (:func:`time.monotonic`) and held for the plan's duration.

    Args:
        index: The caller's number in the run.
        plan: The run's plan.
        line: What the caller says.
        webhooks: The worker's signing HTTP client.
        clock: The worker's frame clock.
        jitter: The worker's jitter log (every frame of every caller).
        phase_s: This caller's offset in the 20 ms frame period (spreads a worker's sends).
    """

    def __init__(
        self,
        index: int,
        plan: LoadPlan,
        line: CallerLine,
        webhooks: WebhookClient,
        clock: FrameClock,
        jitter: JitterLog,
        phase_s: float = 0.0,
    ) -> None:
        self.plan, self.line, self.webhooks = plan, line, webhooks
        self.clock, self.jitter, self.phase_s = clock, jitter, phase_s
        self.stats = CallStats(index=index, call_sid=new_sid("CA"))
        self.ear = Ear()
        self._ws: ClientConnection | None = None
        self._messages: TwilioStreamMessages | None = None
        self._closed_by_agent = asyncio.Event()

    async def run(self, start: float) -> CallStats:
        """Place the call at monotonic time ``start``; returns its stats (never raises)."""
        await self.clock.until(start)
        begun = time.monotonic()
        try:
            connect_verb = await self._answer()
            await self._open(connect_verb)
            self.stats.setup_s = time.monotonic() - begun
            await self._hold()
        except _Failed as exc:
            self.stats.fail(exc.kind, str(exc))
        finally:
            await self._close()
        return self.stats

    # --- setting up ---------------------------------------------------------------------------

    async def _answer(self) -> Connect:
        """The webhook, as Twilio sends it for an inbound call; the TwiML's first stream."""
        call = CarrierCall(
            sid=self.stats.call_sid,
            account_sid=self.plan.account_sid,
            to=self.plan.to_number,
            from_=f"+1555{7000000 + self.stats.index % 3000000:07d}",
            direction="inbound",
            status="ringing",
        )
        try:
            response = await self.webhooks.send(
                self.plan.url, "POST", call.webhook_params("ringing")
            )
        except WebhookError as exc:
            raise _Failed("unreachable" if exc.__cause__ else "refused", str(exc)) from None
        try:
            verbs = parse_twiml(response.content)
        except VoicelabError as exc:
            raise _Failed("twiml", str(exc)) from None
        for verb in verbs:
            if isinstance(verb, Connect):
                return verb
        raise _Failed("twiml", "the TwiML has no <Connect><Stream>")

    async def _open(self, verb: Connect) -> None:
        try:
            self._ws = await connect(
                verb.stream_url,
                additional_headers=self.webhooks.stream_headers(verb.stream_url),
                max_size=_MAX_MESSAGE_BYTES,
                open_timeout=15,
                close_timeout=5,
                proxy=None,
                compression=None,  # as Twilio
            )
            self._messages = TwilioStreamMessages(
                stream_sid=new_sid("MZ"),
                call_sid=self.stats.call_sid,
                account_sid=self.plan.account_sid,
            )
            await self._ws.send(self._messages.connected())
            await self._ws.send(self._messages.start(verb.parameters))
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, ValueError) as exc:
            raise _Failed("websocket", f"{verb.stream_url}: {exc!r}") from None

    # --- the call -----------------------------------------------------------------------------

    async def _hold(self) -> None:
        assert self._ws is not None and self._messages is not None
        receiver = asyncio.create_task(self._receive(self._ws))
        try:
            await self._frames(self._ws, self._messages)
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)

    async def _frames(self, ws: ClientConnection, messages: TwilioStreamMessages) -> None:
        """Send one frame per deadline and play the ear, until the duration is over."""
        grid = self.clock.origin + self.phase_s
        frame = self.clock.first_frame_after(grid, time.monotonic())
        opened = self.clock.deadline(grid, frame)
        end = opened + self.plan.duration_s
        state, spoken, line_start = _State.LISTEN, 0, 0.0
        chunk = 0
        while not self._closed_by_agent.is_set():
            due = self.clock.deadline(grid, frame)
            if due >= end:
                self.stats.held = True
                return
            sent = await self.clock.until(due)
            if self._closed_by_agent.is_set():
                break
            # What this frame says, decided on the caller's clock (its deadline).
            if state is _State.LISTEN and self._ready_to_speak(due, opened):
                state, spoken, line_start = _State.SPEAK, 0, due
            if state is _State.SPEAK:
                payload = self.line.payloads[spoken]
                spoken += 1
                if spoken == len(self.line.payloads):
                    state = _State.AWAIT_REPLY
                    self.stats.lines += 1
            else:
                payload = self.line.silence
            chunk += 1
            try:
                await ws.send(
                    messages.encoded_media(
                        payload, chunk=chunk, timestamp_ms=round((due - opened) * 1000)
                    )
                )
                self.jitter.record(due, sent)
                self.stats.frames += 1
                for name in self.ear.play(due):
                    await ws.send(messages.mark(name))
            except ConnectionClosed:
                break
            if state is _State.AWAIT_REPLY:
                state = self._heard_reply(due, line_start)
            frame += 1
        self.stats.fail("dropped", "the agent closed the stream before the call's duration")

    def _ready_to_speak(self, now: float, opened: float) -> bool:
        """Quiet long enough, after a reply (or after waiting this long for a greeting)."""
        if self.ear.in_reply:
            return False
        if not self.ear.replies and now - opened < self.plan.greeting_wait_s:
            return False
        return now - self.ear.last_audible_end >= self.plan.pause_s

    def _heard_reply(self, now: float, line_start: float) -> _State:
        line_end = line_start + self.line.end_s
        onset = self.ear.onset_since(line_end)
        if onset is not None:
            self.stats.v2v_s.append(onset - line_end)
            return _State.LISTEN
        if now - line_end >= self.plan.reply_timeout_s:
            self.stats.unanswered += 1
            return _State.LISTEN
        return _State.AWAIT_REPLY

    async def _receive(self, ws: ClientConnection) -> None:
        """The agent's messages: audio into the ear, marks queued, ``clear`` honoured."""
        try:
            async for raw in ws:
                try:
                    message = parse_server_message(raw)
                except MediaMessageError:
                    self.stats.bad_messages += 1
                    continue
                if isinstance(message, OutboundMedia):
                    self.ear.hear(mulaw.decode(message.media.payload))
                elif isinstance(message, OutboundMark):
                    self.ear.mark(message.mark.name)
                elif isinstance(message, ClearMessage):
                    assert self._messages is not None
                    for name in self.ear.clear():
                        await ws.send(self._messages.mark(name))
        except ConnectionClosedOK:
            pass
        except ConnectionClosed as exc:
            self.stats.fail("websocket", f"the stream broke: {exc!r}")
        self._closed_by_agent.set()

    async def _close(self) -> None:
        self.ear.finish()
        self.stats.replies = len(self.ear.replies)
        self.stats.underruns_s = list(self.ear.underruns)
        if self._ws is None:
            return
        if self._messages is not None and not self._closed_by_agent.is_set():
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(self._messages.stop())
        with contextlib.suppress(ConnectionClosed, OSError):
            await self._ws.close()
