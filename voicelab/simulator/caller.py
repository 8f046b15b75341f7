"""The simulated caller: Twilio's side of a Media Stream, on its own real-time clock.

It sends ``connected`` and ``start`` with Twilio's fields, then one 20 ms /
160-byte mu-law ``media`` frame every 20 ms (speech or line silence, like a real
call), plays the bot's audio through a :class:`PlayoutBuffer`, honours ``clear``,
echoes each ``mark`` once the audio before it has played, sends ``dtmf``, and
sends ``stop`` when it hangs up. Everything it said and heard goes to
``caller.wav`` as the call goes (every :data:`WAV_CHUNK_FRAMES` frames, so a killed
process keeps all but the last moments) and its timed observations to the call's
``events.jsonl``; both are on disk when :meth:`MediaStreamsCaller.run` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from voicelab.errors import VoicelabError
from voicelab.recording.audible import audible_windows, window_samples
from voicelab.recording.store import CallRecord
from voicelab.recording.wav import WavStreamWriter, pcm16
from voicelab.simulator._playout import PlayoutBuffer
from voicelab.simulator._script import Action, Dtmf, HangUp, Improvise, Pause, Say
from voicelab.simulator.ears import CallerEars
from voicelab.simulator.models import CallerModels
from voicelab.telephony import mulaw
from voicelab.telephony.media import (
    ClearMessage,
    MediaMessageError,
    OutboundMark,
    OutboundMedia,
    TwilioStreamMessages,
    parse_server_message,
)

__all__ = ["MAX_MESSAGE_BYTES", "CallerResult", "MediaStreamsCaller"]

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz
FRAME_S = FRAME / RATE
WAV_CHUNK_FRAMES = 25  # caller.wav is appended every 0.5 s of call
# "Audible" has one definition across voicelab (voicelab.recording.audible); analysis
# measures caller.wav with the same rule, so the two figures can be compared.
WINDOW = window_samples(RATE)  # 10 ms at 8 kHz
# The largest websocket message the caller takes from a bot. A Twilio media message is about
# 200-400 bytes of JSON and a pipecat bot's chunks a few KiB, so 1 MiB is plenty; a larger
# one (a hostile or broken black-box bot) ends the call (close 1009) before it is buffered.
MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass
class CallerResult:
    """What the caller observed, on its own clock (seconds since its first frame).

    Attributes:
        utterances: ``(turn, text, started_s, ended_s)`` per thing said.
        heard: ``(turn, started_s, ended_s)`` per stretch of bot speech heard.
        marks: Names of the marks echoed back, in order.
        clears: How many ``clear`` messages arrived.
        ended_by: ``caller`` (hung up, or broke the call off: see ``error``) or ``server``
            (closed the socket).
        error: Why the caller broke the call off, if the bot broke the protocol (a message
            over :data:`MAX_MESSAGE_BYTES`); also the caller's fatal ``error`` event.
        wav_path: ``caller.wav`` if a call directory was given.
        transcripts: What the caller's own Whisper heard, by index into ``heard`` (only the
            stretches it transcribed: a goal-driven caller's, or all with ``transcribe_heard``).
    """

    utterances: list[tuple[int, str, float, float]] = field(default_factory=list)
    heard: list[tuple[int, float, float]] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    clears: int = 0
    ended_by: str = "caller"
    error: str | None = None
    wav_path: Path | None = None
    transcripts: dict[int, str] = field(default_factory=dict)

    @property
    def end_reason(self) -> str:
        """The caller's ``call.ended`` reason: ``hangup`` (it hung up), ``stop`` (the far end
        closed) or ``error`` (it broke the call off: see :attr:`error`)."""
        if self.error is not None:
            return "error"
        return "hangup" if self.ended_by == "caller" else "stop"

    def v2v(self) -> dict[int, float]:
        """Caller-side voice-to-voice per turn: end of utterance → first bot audio heard."""
        ends = {turn: ended for turn, _, _, ended in self.utterances}
        return {
            turn: round(started - ends[turn], 4)
            for turn, started, _ in self.heard
            if turn in ends and started >= ends[turn]
        }


class MediaStreamsCaller:
    """Plays one scripted caller on one Twilio Media Streams websocket.

    Args:
        actions: What to do, in order (see :mod:`voicelab.simulator._script`).
        recordings_dir: Root of the call directories; ``None`` records nothing.
        reply_silence_s: Bot silence that counts as the end of its turn.
        reply_timeout_s: Longest wait for the bot to start a reply.
        transcribe_heard: After hanging up, transcribe every stretch of bot speech heard
            with the caller's own Whisper (:class:`CallerEars`) into ``caller.transcript``
            events: the only transcript of a black-box agent's replies. Done after the
            call, so it costs the call's timing nothing.
        models: The caller's models (its ears' Whisper); default ones of its own.
    """

    def __init__(
        self,
        actions: Sequence[Action],
        *,
        recordings_dir: Path | None = None,
        reply_silence_s: float = 1.2,
        reply_timeout_s: float = 20.0,
        transcribe_heard: bool = False,
        models: CallerModels | None = None,
    ) -> None:
        self.actions = actions
        self.models = models if models is not None else CallerModels()
        self.recordings_dir = recordings_dir
        self.reply_silence_s = reply_silence_s
        self.reply_timeout_s = reply_timeout_s
        self.transcribe_heard = transcribe_heard

    async def run(
        self,
        url: str,
        *,
        call_sid: str,
        stream_sid: str,
        account_sid: str,
        custom_parameters: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        hangup: asyncio.Event | None = None,
    ) -> CallerResult:
        """Connect to ``url``, play the script, hang up; returns what was observed."""
        record = (
            CallRecord.open(self.recordings_dir, call_sid, "caller")
            if self.recordings_dir
            else None
        )
        async with connect(
            url,
            additional_headers=dict(headers or {}),
            max_size=MAX_MESSAGE_BYTES,
            compression=None,  # as Twilio: per-message deflate cost 7% of a loaded CPU
        ) as ws:
            call = _CallerSession(ws, self, record, call_sid, stream_sid, account_sid)
            await call.handshake(dict(custom_parameters or {}))
            return await call.play(hangup or asyncio.Event())


class _CallerSession:
    """The state of one call: clock, playout, turn bookkeeping, recording."""

    def __init__(
        self,
        ws: ClientConnection,
        caller: MediaStreamsCaller,
        record: CallRecord | None,
        call_sid: str,
        stream_sid: str,
        account_sid: str,
    ) -> None:
        self.ws, self.caller, self.record = ws, caller, record
        self.call_sid, self.stream_sid, self.account_sid = call_sid, stream_sid, account_sid
        self.result = CallerResult()
        self.playout = PlayoutBuffer()
        self.messages = TwilioStreamMessages(
            stream_sid=stream_sid, call_sid=call_sid, account_sid=account_sid
        )
        self.tick = 0
        self.turn = 0
        self.mouth = np.zeros(0, dtype=np.float32)
        self.said: list[np.ndarray] = []
        self.heard: list[np.ndarray] = []
        # caller.wav, stereo on the caller's clock, written as the call goes (from play()).
        self.wav: WavStreamWriter | None = None
        self.wav_frames = 0  # frames of said/heard already handed to the WAV
        self.closed = asyncio.Event()
        # Bot-speech detection on what the caller hears.
        self.heard_start: float | None = None
        self.heard_turn = 0
        self.speaking = False
        self.last_audible = -1.0
        self.heard_changed = asyncio.Event()
        # The conversation as the caller knows it, for a goal-driven caller.
        self.history: list[dict[str, str]] = []

    def now(self) -> float:
        return self.tick * FRAME_S

    def emit(self, type: str, t: float | None = None, **data: Any) -> None:
        if self.record is not None:
            self.record.emit(type, t=self.now() if t is None else t, **data)

    async def send(self, message: str) -> None:
        await self.ws.send(message)

    async def handshake(self, custom_parameters: dict[str, str]) -> None:
        await self.send(self.messages.connected())
        await self.send(self.messages.start(custom_parameters))

    async def play(self, hangup: asyncio.Event) -> CallerResult:
        if self.record is not None:
            self.wav = WavStreamWriter(self.record.directory / "caller.wav", RATE, channels=2)
        tasks = [
            asyncio.create_task(self._clock()),
            asyncio.create_task(self._receive()),
        ]
        script = asyncio.create_task(self._script())
        hung_up = asyncio.create_task(hangup.wait())
        try:
            await asyncio.wait({script, hung_up, tasks[0], tasks[1]}, return_when="FIRST_COMPLETED")
            if script.done() and script.exception():
                logger.error(f"caller script failed: {script.exception()!r}")
                self.emit("error", message=repr(script.exception()), fatal=True)
            if not self.closed.is_set():
                await self._hang_up()
        finally:
            for task in (*tasks, script, hung_up):
                task.cancel()
            await asyncio.gather(*tasks, script, hung_up, return_exceptions=True)
            self._finish_heard()
            await self._save()
        return self.result

    async def _clock(self) -> None:
        """One media frame out and 20 ms of playout in, every 20 ms of real time."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not self.closed.is_set():
            out = self.mouth[:FRAME]
            self.mouth = self.mouth[FRAME:]
            if out.size < FRAME:
                out = np.pad(out, (0, FRAME - out.size))
            heard, marks = self.playout.pop(FRAME)
            self.said.append(out)
            self.heard.append(heard)
            self._stream_audio()
            self._detect_heard(heard)
            pcm = pcm16(out)
            media = self.messages.media(
                mulaw.encode(pcm), chunk=self.tick + 1, timestamp_ms=int(self.tick * FRAME_S * 1000)
            )
            try:
                await self.send(media)
                for name in marks:
                    await self._echo_mark(name)
            except ConnectionClosed as exc:
                self._connection_closed(exc)
                return
            self.tick += 1
            await asyncio.sleep(max(0.0, start + self.tick * FRAME_S - loop.time()))

    async def _receive(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    message = parse_server_message(raw)
                except MediaMessageError as exc:  # any bot may answer: drop it, go on
                    logger.warning(f"caller: {exc}; message dropped")
                    continue
                if isinstance(message, OutboundMedia):
                    pcm = mulaw.decode(message.media.payload)
                    self.playout.push_audio(pcm.astype(np.float32) / 32768.0)
                elif isinstance(message, OutboundMark):
                    self.playout.push_mark(message.mark.name)
                elif isinstance(message, ClearMessage):
                    self.result.clears += 1
                    self.emit("clear")
                    self._finish_heard()
                    for name in self.playout.clear():
                        await self._echo_mark(name)
        except ConnectionClosed as exc:
            self._connection_closed(exc)
            return
        self._connection_closed(None)  # the server closed the socket cleanly

    def _connection_closed(self, exc: ConnectionClosed | None) -> None:
        """The socket closed under the caller: the server hung up, or the caller broke it off."""
        if self.closed.is_set():
            return
        self.closed.set()
        sent = exc.sent if exc is not None else None
        if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG:
            # websockets refused it from its frame headers: never more than the limit buffered.
            self.result.error = (
                f"the bot sent a websocket message over {MAX_MESSAGE_BYTES:,} bytes"
                f" (the caller's limit): call broken off, close 1009"
            )
            logger.warning(f"caller {self.call_sid}: {self.result.error}")
            self.emit("error", message=self.result.error, fatal=True)
        else:
            self.result.ended_by = "server"

    async def _echo_mark(self, name: str) -> None:
        self.result.marks.append(name)
        self.emit("mark", name=name)
        await self.send(self.messages.mark(name))

    def _detect_heard(self, frame: np.ndarray) -> None:
        loud = audible_windows(frame, WINDOW)
        if loud.size:
            t_first = self.now() + loud[0] * WINDOW / RATE
            self.last_audible = self.now() + (loud[-1] + 1) * WINDOW / RATE
            if self.heard_start is None:
                # Bot audio that overlaps the caller's speech still answers the last turn.
                self.heard_turn = self.turn - 1 if self.speaking else self.turn
                self.heard_start = t_first
                self.emit("caller.heard_started", t=t_first, turn=self.heard_turn)
                self.heard_changed.set()
        elif (
            self.heard_start is not None
            and self.now() - self.last_audible >= self.caller.reply_silence_s
        ):
            self._finish_heard()

    def _finish_heard(self) -> None:
        if self.heard_start is None:
            return
        self.emit("caller.heard_ended", t=self.last_audible, turn=self.heard_turn)
        self.result.heard.append((self.heard_turn, self.heard_start, self.last_audible))
        self.heard_start = None
        self.heard_changed.set()

    async def _wait_for_bot(self, barge_in_after: float | None = None) -> None:
        """Wait for the bot's reply to the current turn to start, then to end (or barge in)."""
        turn = self.turn
        deadline = asyncio.get_running_loop().time() + self.caller.reply_timeout_s
        while not self._heard_for(turn) and self.heard_start is None:
            if not await self._wait_change(deadline):
                return  # the bot never answered; the caller carries on
        if barge_in_after is not None:
            await asyncio.sleep(barge_in_after)
            return
        while self.heard_start is not None:
            self.heard_changed.clear()
            await self.heard_changed.wait()

    def _heard_for(self, turn: int) -> bool:
        return any(t == turn for t, _, _ in self.result.heard)

    async def _wait_change(self, deadline: float) -> bool:
        self.heard_changed.clear()
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(self.heard_changed.wait(), max(remaining, 0.0))
            return True
        except TimeoutError:
            return False

    async def _say(self, say: Say) -> None:
        self._finish_heard()  # whatever the caller heard so far belonged to the last turn
        self.turn += 1
        self.speaking = True
        start = self.now()
        self.mouth = say.audio.astype(np.float32)
        # The utterance ends with its last audible window (its quiet tail is not speech).
        loud = audible_windows(self.mouth, WINDOW)
        end = start + ((loud[-1] + 1) * WINDOW if loud.size else self.mouth.size) / RATE
        self.emit("caller.utterance_started", t=start, turn=self.turn, text=say.text)
        while self.mouth.size and not self.closed.is_set():
            await asyncio.sleep(FRAME_S)
        self.speaking = False
        self._finish_heard()  # the reply to this turn starts a fresh stretch of bot audio
        self.emit("caller.utterance_ended", t=end, turn=self.turn, text=say.text)
        self.result.utterances.append((self.turn, say.text, start, end))
        self.history.append({"speaker": "caller", "text": say.text})

    async def _improvise(self, action: Improvise) -> None:
        """Listen to each reply, then say what the goal-driven caller comes up with."""
        ears = CallerEars(self.caller.models)
        while not self.closed.is_set():
            await self._wait_for_bot()
            heard = self._last_heard_audio()
            reply = await asyncio.to_thread(ears.transcribe, heard) if heard.size else ""
            if self.result.heard:
                self._transcribed(len(self.result.heard) - 1, reply)
            if reply:
                self.history.append({"speaker": "bot", "text": reply})
            line = await asyncio.to_thread(action.next_line, list(self.history))
            if line is None or self.closed.is_set():
                return
            audio = await asyncio.to_thread(action.speak, line)
            await self._say(Say(line, audio))

    def _last_heard_audio(self) -> np.ndarray:
        if not self.result.heard or not self.heard:
            return np.zeros(0, dtype=np.float32)
        _, start, end = self.result.heard[-1]
        heard = np.concatenate(self.heard)
        return heard[int(start * RATE) : int(end * RATE)]

    def _transcribed(self, index: int, text: str) -> None:
        """Keep and record what the caller's ears made of heard stretch ``index``."""
        turn, _, end = self.result.heard[index]
        self.result.transcripts[index] = text
        self.emit("caller.transcript", t=end, turn=turn, text=text)

    async def _transcribe_heard(self) -> None:
        """Transcribe each heard stretch not transcribed yet (after the call: off its clock)."""
        pending = [i for i in range(len(self.result.heard)) if i not in self.result.transcripts]
        if not pending or not self.heard:
            return
        ears, heard = CallerEars(self.caller.models), np.concatenate(self.heard)
        for index in pending:
            _, start, end = self.result.heard[index]
            audio = heard[int(start * RATE) : int(end * RATE)]
            self._transcribed(index, await asyncio.to_thread(ears.transcribe, audio))

    async def _script(self) -> None:
        for action in self.caller.actions:
            if isinstance(action, Say):
                # Let the bot answer the last turn (or the greeting) first, or barge in.
                await self._wait_for_bot(action.barge_in_after)
                await self._say(action)
            elif isinstance(action, Dtmf):
                await self.send(self.messages.dtmf(action.digit))
                self.emit("dtmf", digit=action.digit)
            elif isinstance(action, Pause):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, HangUp):
                await asyncio.sleep(action.after)
                return
            elif isinstance(action, Improvise):
                await self._improvise(action)
        await self._wait_for_bot()

    async def _hang_up(self) -> None:
        self.closed.set()
        try:
            await self.send(self.messages.stop())
            await self.ws.close()
        except ConnectionClosed:
            pass

    def _stream_audio(self, final: bool = False) -> None:
        """Hand what was said and heard since the last chunk to ``caller.wav``."""
        pending = len(self.said) - self.wav_frames
        if self.wav is None or not pending or (pending < WAV_CHUNK_FRAMES and not final):
            return
        said = np.concatenate(self.said[self.wav_frames :])
        heard = np.concatenate(self.heard[self.wav_frames :])
        self.wav.write(pcm16(np.stack([said, heard], axis=1)))
        self.wav_frames = len(self.said)

    async def _save(self) -> None:
        """Finish the caller's record: the WAV complete, then ``call.ended``, all on disk."""
        if self.record is None or self.wav is None:
            return
        self._stream_audio(final=True)
        await self.wav.aclose()
        self.result.wav_path = self.wav.path
        if self.caller.transcribe_heard:
            try:
                await self._transcribe_heard()
            except VoicelabError as exc:  # no ears installed: the record stays whole
                logger.warning(f"caller: cannot transcribe what it heard: {exc}")
                self.emit("error", message=f"caller transcription: {exc}", fatal=False)
        self.emit("call.ended", reason=self.result.end_reason)
        # Readers in this process (the simulator, analysis) see the whole record.
        await self.record.aflush()
