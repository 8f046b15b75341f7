"""Audio sent a little ahead of the caller's ear, and everything after it told the truth.

pipecat's websocket output sends each 20 ms chunk of a reply and then sleeps 20 ms, the
pace of playback, so Twilio's playout buffer holds one chunk at most. Any moment the
server's event loop is late by more than that (a burst of other calls' frames, a
garbage collection, smart-turn's features on a busy box) is a gap the caller hears: under
load every agent built this way, stock pipecat included, stutters (bench/RESULTS.md,
issue 19). Twilio plays the ``media`` messages it has in order and drops them on
``clear`` (the serializer sends one for every interruption), so sending ahead costs
barge-in nothing.

:class:`LeadingOutputTransport` keeps up to ``lead_s`` of audio queued at the far end:
a reply's first ``lead_s`` leaves at once, then one chunk per chunk played, and after a
stall it sends what is late at once to fill the lead again. A :class:`PlayoutClock` models
the far end's buffer: when each chunk will be heard.

Sending ahead must not make the rest of the pipeline early. What the output transport
pushes on (each audio chunk to the stereo recorder and the event observers, the bot's
started/stopped speaking frames both ways, anything queued behind the audio) is released
at the moment the caller hears it, in order, by a :class:`PlayoutLine`; audio that a
``clear`` dropped before it played is dropped from the line too, so the recording holds
what the caller heard. Without it the recorder, which lines the caller's track up with
the bot's, would pad the caller's track by the lead at every reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from pipecat.frames.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    SystemFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

from voicelab.recording.recorder import PLAYOUT_AT

__all__ = ["LeadingOutputTransport", "LeadingWebsocketTransport", "PlayoutClock", "PlayoutLine"]

# Upstream frames that say what the caller hears: held with the audio they describe.
_SPEAKING_FRAMES = (BotStartedSpeakingFrame, BotSpeakingFrame, BotStoppedSpeakingFrame)


class PlayoutClock:
    """The far end's playout buffer, on this process's monotonic clock.

    Args:
        lead_s: The most audio to keep queued at the far end (0: pipecat's pace).
    """

    def __init__(self, lead_s: float) -> None:
        self.lead_s = lead_s
        self.end = 0.0  # when everything sent so far will have played

    def sent(self, now: float, seconds: float) -> float:
        """Account for a chunk of ``seconds`` sent at ``now``; returns when it starts to play.

        A buffer that ran dry (``end`` in the past) starts again at ``now``: that gap was
        heard, and the audio after it is not played sooner for having been late.
        """
        start = max(now, self.end)
        self.end = start + seconds
        return start

    def wait(self, now: float) -> float:
        """How long to wait before the next chunk, to keep no more than the lead queued."""
        return max(0.0, self.end - self.lead_s - now)

    def clear(self) -> None:
        """Twilio's ``clear``: the queued audio is gone."""
        self.end = 0.0


class PlayoutLine:
    """Frames released in order, none before the moment the caller hears it.

    Each frame comes with its release time (an audio chunk: when it starts to play;
    anything else: 0, right after what is ahead of it). ``push`` is how a frame leaves.

    Args:
        push: Sends a frame on (the transport's ``FrameProcessor.push_frame``).
        create_task: Starts the line's task (the processor's ``create_task``).
    """

    def __init__(self, push: Any, create_task: Any) -> None:
        self._push = push
        self._create_task = create_task
        self._items: deque[tuple[float, Frame, FrameDirection]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Frames waiting to be released."""
        return len(self._items)

    def put(self, at: float, frame: Frame, direction: FrameDirection) -> None:
        """Queue ``frame`` to leave at ``at`` (monotonic seconds), after those ahead of it."""
        self._items.append((at, frame, direction))
        if self._task is None:
            self._task = self._create_task(self._run(), "PlayoutLine")
        self._wake.set()

    async def clear(self) -> None:
        """A ``clear``: what was not yet heard never will be.

        As pipecat's queues do on an interruption, interruptible frames waiting here are
        dropped (the audio, and the words of it the assistant's context would otherwise
        record as said); system frames (the bot's speaking state) and uninterruptible ones
        leave now, in order.
        """
        items, self._items = self._items, deque()
        for _, frame, direction in items:
            if isinstance(frame, SystemFrame) or not frame.interruptible:
                await self._push(frame, direction)

    def discard(self) -> None:
        """Forget everything waiting (the call is cancelled)."""
        self._items.clear()

    async def stop(self) -> None:
        """Stop the line's task (what waits is not sent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._items[0][0] - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # a clear may have emptied the line meanwhile
            _, frame, direction = self._items.popleft()
            await self._push(frame, direction)


class LeadingOutputTransport(FastAPIWebsocketOutputTransport):
    """pipecat's websocket output that keeps ``lead_s`` of audio queued at the far end.

    Args:
        *args: As :class:`FastAPIWebsocketOutputTransport`.
        lead_s: Audio to keep queued at the far end (0: pipecat's own pace, one chunk).
        **kwargs: As :class:`FastAPIWebsocketOutputTransport`.
    """

    def __init__(self, *args: Any, lead_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = PlayoutClock(lead_s)
        self._line = PlayoutLine(super().push_frame, self.create_task)
        self._writing: tuple[OutputAudioRawFrame | None, float] = (None, 0.0)
        self._written: tuple[OutputAudioRawFrame | None, float] = (None, 0.0)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        channels = self._params.audio_out_channels or 1
        self._writing = (frame, len(frame.audio) / (2 * channels * self.sample_rate))
        return await super().write_audio_frame(frame)

    async def _write_audio_sleep(self) -> None:
        # pipecat calls this once the chunk is sent: account for it, then wait only while
        # the far end holds more than the lead.
        frame, seconds = self._writing
        now = time.monotonic()
        start = self._clock.sent(now, seconds)
        if frame is not None:
            frame.metadata[PLAYOUT_AT] = start  # where the recorder puts it
        self._written = (frame, start)
        wait = self._clock.wait(now)
        if wait > 0:
            await asyncio.sleep(wait)

    async def push_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if isinstance(frame, CancelFrame):
            self._line.discard()
        elif isinstance(frame, InterruptionFrame):
            await self._line.clear()  # the serializer's clear drops it at the far end
        elif frame is self._written[0]:
            self._line.put(self._written[1], frame, direction)
            return
        elif self._line.pending and _waits_for_audio(frame, direction):
            self._line.put(0.0, frame, direction)  # leaves after the audio ahead of it
            return
        await super().push_frame(frame, direction)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._clock.clear()

    async def cleanup(self) -> None:
        await self._line.stop()
        await super().cleanup()


def _waits_for_audio(frame: Frame, direction: FrameDirection) -> bool:
    """Whether ``frame`` keeps its place behind audio the caller has not heard yet.

    The bot's speaking frames (both ways) describe that audio; other frames going on
    downstream keep their order with it. System frames (the caller's audio, VAD, control)
    are never held: they are about now.
    """
    if isinstance(frame, _SPEAKING_FRAMES):
        return True
    return direction == FrameDirection.DOWNSTREAM and not isinstance(frame, SystemFrame)


class LeadingWebsocketTransport(FastAPIWebsocketTransport):
    """pipecat's FastAPI websocket transport with a :class:`LeadingOutputTransport`.

    Args:
        websocket: The media websocket.
        params: As :class:`FastAPIWebsocketTransport`.
        lead_s: Audio to keep queued at the far end.
    """

    def __init__(self, websocket: Any, params: FastAPIWebsocketParams, *, lead_s: float) -> None:
        super().__init__(websocket=websocket, params=params)
        self._output = LeadingOutputTransport(
            self, self._client, self._params, lead_s=lead_s, name=self._output_name
        )

    def output(self) -> LeadingOutputTransport:
        return self._output  # type: ignore[return-value]
