"""One simulated party's phone for one call: its clock, mouth, ear and record.

A :class:`CallerSession` runs from the moment the party picks up to the moment either side
hangs up, whatever the call is connected to meanwhile: the agent's media stream, the
carrier playing a ``<Say>``, a dialled party the agent transferred the call to, or
nothing (a ``<Pause>``). Every 20 ms it takes a frame from its mouth and a frame from its
ear (a Twilio-like :class:`PlayoutBuffer` that whoever is on the other end fills), records
both (``caller.wav``: left what it said, right what it heard), notices when speech starts
and stops in what it hears, and hands the frame it said to its current :class:`Link`.

A dialled party is a session too, without a clock or a record of its own: the caller's
bridge steps it once per frame (:mod:`voicelab.simulator._caller_links`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from voicelab.recording.audible import REPLY_SILENCE_S, audible_windows, window_samples
from voicelab.recording.store import CallRecord
from voicelab.recording.wav import WavStreamWriter, pcm16
from voicelab.simulator._caller_ear import RATE, ReplyEar
from voicelab.simulator._caller_result import CallerResult
from voicelab.simulator._dtmf import DtmfDetector
from voicelab.simulator._playout import PlayoutBuffer
from voicelab.simulator.models import CallerModels

__all__ = ["FRAME", "FRAME_S", "RATE", "CallerConfig", "CallerResult", "CallerSession", "Link"]

FRAME = 160  # 20 ms at 8 kHz
FRAME_S = FRAME / RATE
WAV_CHUNK_FRAMES = 25  # caller.wav is appended every 0.5 s of call
# "Audible" has one definition across voicelab (voicelab.recording.audible); analysis
# measures caller.wav with the same rule, so the two figures can be compared.
WINDOW = window_samples(RATE)  # 10 ms at 8 kHz


@dataclass(frozen=True)
class CallerConfig:
    """How a simulated party listens.

    Attributes:
        reply_silence_s: Silence that counts as the end of the other side's turn.
        reply_timeout_s: Longest wait for the other side to start a reply.
        transcribe_heard: After the call, transcribe every stretch heard into
            ``caller.transcript`` events (see :class:`MediaStreamsCaller`).
        models: The party's models (its voice's Piper, its ears' Whisper).
    """

    reply_silence_s: float = REPLY_SILENCE_S
    reply_timeout_s: float = 20.0
    transcribe_heard: bool = False
    models: CallerModels = field(default_factory=CallerModels)


class Link(Protocol):
    """Where a party's voice goes while it is connected to something: a stream, a bridge."""

    async def deliver(self, said: np.ndarray, marks: list[str]) -> None:
        """Take the 20 ms the party just said (and the marks its ear just reached)."""

    async def press(self, digit: str) -> None:
        """The party pressed a key."""


class CallerSession:
    """The state of one party on one call: clock, playout, turn bookkeeping, recording.

    Args:
        config: How it listens.
        record: Its call record (``None``: records nothing, as a dialled party).
        listen_for_keys: Hear touch tones (a phone menu): each key goes to :attr:`digits`.
    """

    def __init__(
        self, config: CallerConfig, record: CallRecord | None, *, listen_for_keys: bool = False
    ) -> None:
        self.config, self.record = config, record
        self.result = CallerResult()
        self.playout = PlayoutBuffer()
        self.tick = 0
        self.turn = 0
        self.mouth = np.zeros(0, dtype=np.float32)
        # Every 20 ms frame said and heard, from the call's start (caller.wav's channels).
        self.said_frames: list[np.ndarray] = []
        self.heard_frames: list[np.ndarray] = []
        # caller.wav, stereo on the caller's clock, written as the call goes.
        self.wav: WavStreamWriter | None = None
        self.wav_frames = 0  # frames of said/heard already handed to the WAV
        self.closed = asyncio.Event()  # the call is over for this party, either way
        self.hung_up = asyncio.Event()  # ...because this party hung up
        self.transferred = asyncio.Event()  # bridged to a dialled party
        self.link: Link | None = None
        # The other side's replies, found in what the party hears.
        self.ear = ReplyEar(self.emit, self.result.heard, config.reply_silence_s)
        self.speaking = False  # the party is saying a line
        # The conversation as the party knows it, for a goal-driven caller.
        self.history: list[dict[str, str]] = []
        # A phone menu's ear for keys, and where in the menu they land.
        self.keys = DtmfDetector() if listen_for_keys else None
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.menu_node: str | None = None
        # A machine's greeting: resolved with "beep" or "silence" when it has been played
        # (the carrier's answering machine detection waits for it).
        self.greeting_end: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.on_save: list[Callable[[], Awaitable[None]]] = []

    # --- time and record ---------------------------------------------------------------------

    def now(self) -> float:
        return self.tick * FRAME_S

    def emit(self, type: str, t: float | None = None, **data: Any) -> None:
        if self.record is not None:
            self.record.emit(type, t=self.now() if t is None else t, **data)

    def open_wav(self) -> None:
        if self.record is not None and self.wav is None:
            self.wav = WavStreamWriter(self.record.directory / "caller.wav", RATE, channels=2)

    # --- the clock ---------------------------------------------------------------------------

    def step(self) -> tuple[np.ndarray, list[str]]:
        """One frame: what the party says now, and the marks its ear reached."""
        out = self.mouth[:FRAME]
        self.mouth = self.mouth[FRAME:]
        if out.size < FRAME:
            out = np.pad(out, (0, FRAME - out.size))
        heard, marks = self.playout.pop(FRAME)
        self.said_frames.append(out)
        self.heard_frames.append(heard)
        self._stream_audio()
        self.ear.hear(heard, self.now(), self.turn, self.speaking)
        if self.keys is not None:
            key = self.keys.feed(heard)
            if key is not None:
                self.key_pressed(key)
        return out, marks

    async def run_clock(self) -> None:
        """Step every 20 ms of real time until the call is over; the link takes each frame."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not self.closed.is_set():
            out, marks = self.step()
            if self.link is not None:
                await self.link.deliver(out, marks)
            self.tick += 1
            # Pace against the start time, not the previous frame: no drift.
            await asyncio.sleep(max(0.0, start + self.tick * FRAME_S - loop.time()))

    def key_pressed(self, digit: str) -> None:
        """A key reached this party (heard as tones, or pressed by a bridged caller)."""
        self.result.digits += digit
        self.emit("dtmf.received", digit=digit, node=self.menu_node)
        self.digits.put_nowait(digit)

    # --- hearing -----------------------------------------------------------------------------

    def heard_audio(self, start_s: float, end_s: float | None = None) -> np.ndarray:
        """What the party heard between two moments of its clock."""
        if not self.heard_frames:
            return np.zeros(0, dtype=np.float32)
        heard = np.concatenate(self.heard_frames)
        return heard[int(start_s * RATE) : None if end_s is None else int(end_s * RATE)]

    # --- speaking ----------------------------------------------------------------------------

    async def speak(self, audio: np.ndarray) -> None:
        """Say ``audio``; return once it has all gone out (or the call is over)."""
        self.mouth = audio.astype(np.float32)
        while self.mouth.size and not self.closed.is_set():
            await asyncio.sleep(FRAME_S)

    def utterance_end(self, start: float) -> float:
        """When what is in the mouth ends: its last audible window (a quiet tail is no speech)."""
        loud = audible_windows(self.mouth, WINDOW)
        return start + ((loud[-1] + 1) * WINDOW if loud.size else self.mouth.size) / RATE

    async def press(self, digit: str) -> None:
        """Press a key for whoever is on the line: a party picks up before the agent's
        stream connects, and its keys wait for it (a while), as a person's would."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.reply_timeout_s
        while self.link is None and not self.closed.is_set() and loop.time() < deadline:
            await asyncio.sleep(FRAME_S)
        self.emit("dtmf", digit=digit)
        if self.link is not None:
            await self.link.press(digit)

    # --- the end -----------------------------------------------------------------------------

    def hang_up(self) -> None:
        """This party hangs up (its link, a stream, sends Twilio's ``stop``)."""
        if not self.closed.is_set():
            self.hung_up.set()
            self.closed.set()

    def far_end_hung_up(self) -> None:
        """The other side ended the call."""
        if not self.closed.is_set():
            self.result.ended_by = "server"
            self.closed.set()

    def _stream_audio(self, final: bool = False) -> None:
        """Hand what was said and heard since the last chunk to ``caller.wav``."""
        pending = len(self.said_frames) - self.wav_frames
        if self.wav is None or not pending or (pending < WAV_CHUNK_FRAMES and not final):
            return
        said = np.concatenate(self.said_frames[self.wav_frames :])
        heard = np.concatenate(self.heard_frames[self.wav_frames :])
        self.wav.write(pcm16(np.stack([said, heard], axis=1)))
        self.wav_frames = len(self.said_frames)

    async def save(self) -> None:
        """Finish the record: the WAV complete, what the callee noted, then ``call.ended``."""
        self.ear.finish()
        if self.record is None or self.wav is None:
            return
        self._stream_audio(final=True)
        await self.wav.aclose()
        self.result.wav_path = self.wav.path
        for hook in self.on_save:
            await hook()
        if self.result.digits:
            self.record.update_manifest(dtmf_received=self.result.digits)
        self.emit("call.ended", reason=self.result.end_reason)
        # Readers in this process (the simulator, analysis) see the whole record.
        await self.record.aflush()
