"""What a simulated party's phone is connected to: the agent's media stream, or another party.

:class:`StreamLink` is Twilio's side of a Media Streams websocket: ``connected`` and
``start`` with Twilio's fields, one 20 ms ``media`` frame per frame the party says, the
bot's audio into the party's playout buffer, ``clear`` honoured, each ``mark`` echoed once
the audio before it has played, ``dtmf`` when the party presses a key, ``stop`` when the
stream ends at Twilio's side. :class:`BridgeLink` is a ``<Dial>``: the two parties hear
each other, frame by frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import numpy as np
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from voicelab.recording.wav import pcm16
from voicelab.simulator._caller_session import FRAME_S, CallerSession
from voicelab.telephony import mulaw
from voicelab.telephony.media import (
    ClearMessage,
    MediaMessageError,
    OutboundMark,
    OutboundMedia,
    TwilioStreamMessages,
    parse_server_message,
)

__all__ = ["MAX_MESSAGE_BYTES", "BridgeLink", "StreamLink"]

# The largest websocket message the caller takes from a bot. A Twilio media message is about
# 200-400 bytes of JSON and a pipecat bot's chunks a few KiB, so 1 MiB is plenty; a larger
# one (a hostile or broken black-box bot) ends the call (close 1009) before it is buffered.
MAX_MESSAGE_BYTES = 1024 * 1024


class StreamLink:
    """One ``<Connect><Stream>``: a party talking with the agent over Media Streams.

    Build it with :meth:`open`, :meth:`attach` it to the party, and await :attr:`ended`:
    ``ended_by`` then says who ended the stream (``bot``: it closed the socket; ``caller``:
    the party hung up or broke the call off; ``carrier``: :meth:`stop`).
    """

    def __init__(self, ws: ClientConnection, messages: TwilioStreamMessages) -> None:
        self.ws, self.messages = ws, messages
        self.session: CallerSession | None = None
        self.ended = asyncio.Event()
        self.ended_by: str | None = None
        self.chunk = 0
        self._receiver: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        call_sid: str,
        stream_sid: str,
        account_sid: str,
        custom_parameters: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> StreamLink:
        """Connect to ``url`` and send Twilio's ``connected`` and ``start``."""
        ws = await connect(
            url,
            additional_headers=dict(headers or {}),
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=10,
            close_timeout=5,  # a bot that never answers the close must not hold the call
            proxy=None,
            compression=None,  # as Twilio: per-message deflate cost 7% of a loaded CPU
        )
        messages = TwilioStreamMessages(
            stream_sid=stream_sid, call_sid=call_sid, account_sid=account_sid
        )
        try:
            await ws.send(messages.connected())
            await ws.send(messages.start(dict(custom_parameters or {})))
        except ConnectionClosed:
            await ws.close()
            raise
        return cls(ws, messages)

    def attach(self, session: CallerSession) -> None:
        """Connect ``session`` to the stream: its frames go out, the bot's audio comes in."""
        self.session = session
        session.link = self
        self._receiver = asyncio.create_task(self._receive())

    async def deliver(self, said: np.ndarray, marks: list[str]) -> None:
        if self.ended.is_set():
            return
        self.chunk += 1
        media = self.messages.media(
            mulaw.encode(pcm16(said)),
            chunk=self.chunk,
            timestamp_ms=int((self.chunk - 1) * FRAME_S * 1000),
        )
        try:
            await self.ws.send(media)
            for name in marks:
                await self._echo_mark(name)
        except ConnectionClosed as exc:
            self._closed(exc)

    async def press(self, digit: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(self.messages.dtmf(digit))

    async def stop(self, by: str = "carrier") -> None:
        """End the stream at Twilio's side: ``stop``, then close the socket."""
        if not self.ended.is_set():
            self.ended_by = by
            self.ended.set()
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(self.messages.stop())
        await self.aclose()

    async def aclose(self) -> None:
        """Close the socket and detach from the party (idempotent)."""
        self.ended.set()
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close()
        if self._receiver is not None and self._receiver is not asyncio.current_task():
            self._receiver.cancel()
            await asyncio.gather(self._receiver, return_exceptions=True)
        session = self.session
        if session is not None and session.link is self:
            session.link = None
            # The bot's audio still queued is gone with its stream, and so are its marks.
            session.playout.clear()
            session.ear.finish()

    async def _echo_mark(self, name: str) -> None:
        if self.session is not None:
            self.session.result.marks.append(name)
            self.session.emit("mark", name=name)
        await self.ws.send(self.messages.mark(name))

    async def _receive(self) -> None:
        session = self.session
        assert session is not None
        try:
            async for raw in self.ws:
                try:
                    message = parse_server_message(raw)
                except MediaMessageError as exc:  # any bot may answer: drop it, go on
                    logger.warning(f"caller: {exc}; message dropped")
                    continue
                if isinstance(message, OutboundMedia):
                    pcm = mulaw.decode(message.media.payload)
                    session.playout.push_audio(pcm.astype(np.float32) / 32768.0)
                elif isinstance(message, OutboundMark):
                    session.playout.push_mark(message.mark.name)
                elif isinstance(message, ClearMessage):
                    session.result.clears += 1
                    session.emit("clear")
                    session.ear.finish()
                    for name in session.playout.clear():
                        await self._echo_mark(name)
        except ConnectionClosed as exc:
            self._closed(exc)
            return
        self._closed(None)  # the bot closed the socket cleanly

    def _closed(self, exc: ConnectionClosed | None) -> None:
        """The socket closed under the party: the bot hung up, or the party broke it off."""
        if self.ended.is_set():
            return
        sent = exc.sent if exc is not None else None
        session = self.session
        if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG and session is not None:
            # websockets refused it from its frame headers: never more than the limit buffered.
            session.result.error = (
                f"the bot sent a websocket message over {MAX_MESSAGE_BYTES:,} bytes"
                f" (the caller's limit): call broken off, close 1009"
            )
            logger.warning(f"caller: {session.result.error}")
            session.emit("error", message=session.result.error, fatal=True)
            self.ended_by = "caller"
            session.hang_up()
        else:
            self.ended_by = "bot"
        self.ended.set()


class BridgeLink:
    """A ``<Dial>`` answered: ``caller`` and ``party`` hear each other.

    The caller's clock drives both: each frame the caller says reaches the party's ear, and
    the party (stepped here, it has no clock of its own) answers into the caller's ear one
    frame later, as over any phone line.
    """

    def __init__(self, caller: CallerSession, party: CallerSession) -> None:
        self.caller, self.party = caller, party

    def attach(self) -> None:
        self.caller.link = self
        self.party.link = _PartyEnd(self.caller)

    def detach(self) -> None:
        if self.caller.link is self:
            self.caller.link = None
        self.party.link = None

    async def deliver(self, said: np.ndarray, marks: list[str]) -> None:
        if self.party.closed.is_set():
            return
        self.party.playout.push_audio(said)
        answer, _ = self.party.step()
        self.party.tick += 1
        self.caller.playout.push_audio(answer)

    async def press(self, digit: str) -> None:
        self.party.key_pressed(digit)


class _PartyEnd:
    """The dialled party's side of a bridge: its keys reach the caller."""

    def __init__(self, caller: CallerSession) -> None:
        self.caller = caller

    async def deliver(self, said: np.ndarray, marks: list[str]) -> None:
        return None  # the bridge moves the party's audio

    async def press(self, digit: str) -> None:
        self.caller.key_pressed(digit)
