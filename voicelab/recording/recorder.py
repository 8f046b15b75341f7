"""The server's stereo call recorder: caller left, bot right, on one timeline, streamed to a WAV.

pipecat's ``AudioBufferProcessor`` lines its two tracks up by padding whichever is shorter
whenever the other gets audio, and again at every chunk it hands out. The tracks reach it
from different places at different delays (the caller's audio after the whole agent, the
bot's after the output's pacing), so each pad shifts everything after it: on a busy box a
30 s simulated call's recording came out 2.8 s long, the caller's lines 0.1-2.8 s later than
they were said (issue 19). ``voicelab replay`` takes a real call's pauses from this file.

Here each sample goes where it belongs in time, on this process's monotonic clock:

* the caller's audio at its Media Streams ``timestamp`` (Twilio's clock, anchored at the
  stream's first media message), as the serializer stamps it (:data:`CALLER_AT`);
* the bot's audio at the moment the caller hears it (:data:`PLAYOUT_AT`, stamped by the
  output, ``bot/playout.py``);
* a frame without a stamp (another transport, a test) at its arrival.

A track is padded with silence up to where its next audio belongs. A track with no audio
for :data:`IDLE_S` is kept level with the clock (less :data:`SETTLE_S`) in silence that stays
provisional until written: audio that belongs there replaces it. Audio that belongs where
audio already is follows it (nothing is overwritten or dropped). Both tracks are written
together, ``chunk_s`` at a time, as far as both are known and up to :data:`SETTLE_S` +
``chunk_s`` behind the clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    AudioBufferStartRecordingFrame,
    AudioBufferStopRecordingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicelab.recording.wav import WavStreamWriter

__all__ = ["CALLER_AT", "PLAYOUT_AT", "SETTLE_S", "StreamingRecorder"]

CALLER_AT = "voicelab.caller_at"
"""Frame metadata: when the caller said this audio (monotonic seconds)."""
PLAYOUT_AT = "voicelab.playout_at"
"""Frame metadata: when the caller hears this bot audio (monotonic seconds)."""

SETTLE_S = 0.5
"""How far behind the clock an idle track is kept (its silence still replaceable)."""

IDLE_S = 2.0
"""A track with no audio for this long is idle: kept level with the clock in silence.

A live track is never filled by the clock: a caller whose audio runs more than a second
late (its frames still coming, in order) would otherwise get silence written between
them, chopping its line (seen with eight simulated callers in the server's process)."""

# A frame this close after the end of its track follows it: for stamped audio, rounding
# (samples); for audio placed at its arrival, the pipeline's jitter (seconds).
_STAMPED_SLACK = 2
_ARRIVAL_SLACK_S = 0.04


class _Track:
    """One channel's samples not yet written, from sample ``start`` of the recording."""

    def __init__(self) -> None:
        self.start = 0
        self.samples = bytearray()
        self.audio_end = 0  # the end of the last audio placed (later: provisional silence)
        self.heard_at = 0.0  # monotonic time the last audio came

    @property
    def end(self) -> int:
        return self.start + len(self.samples) // 2

    def place(self, at: int, pcm: bytes, slack: int) -> None:
        """Put ``pcm`` at sample ``at``, or right after the audio already there."""
        floor = max(self.audio_end, self.start)  # the first sample not audio nor written
        if at - floor <= slack:
            at = floor  # contiguous with what is there, or overlapping it: it follows
        if at >= self.end:
            self.samples += bytes(2 * (at - self.end))
        else:  # inside silence put in while waiting for it: it goes in its place
            del self.samples[2 * (at - self.start) :]
        self.samples += pcm
        self.audio_end = self.end

    def fill_to(self, at: int) -> None:
        """Provisional silence up to sample ``at``."""
        if at > self.end:
            self.samples += bytes(2 * (at - self.end))

    def take(self, n: int) -> np.ndarray:
        out = np.frombuffer(bytes(self.samples[: 2 * n]), dtype="<i2")
        del self.samples[: 2 * n]
        self.start += n
        return out


class StreamingRecorder(FrameProcessor):
    """Records the call (caller left, bot right) into ``path`` as it goes (module docstring).

    The file exists, valid and empty, from :meth:`start_recording`; it grows ``chunk_s`` at
    a time and is complete after :meth:`finish`. Frames pass through unchanged.

    Args:
        path: The WAV file to write.
        sample_rate: The recording's rate (the phone's: the bot's audio is not resampled).
        chunk_s: Seconds of audio per write.
        on_error: Called (on the record writer thread) when a write fails.
    """

    def __init__(
        self,
        path: Path,
        sample_rate: int,
        chunk_s: float = 0.5,
        on_error: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.sample_rate = sample_rate
        self._chunk = max(1, int(sample_rate * chunk_s))
        self._arrival_slack = round(_ARRIVAL_SLACK_S * sample_rate)
        self._on_error = on_error
        self._wav: WavStreamWriter | None = None
        self._t0: float | None = None  # the recording's sample 0, monotonic
        self._caller, self._bot = _Track(), _Track()
        self._resampler = create_stream_resampler()

    @property
    def recording(self) -> bool:
        return self._t0 is not None

    async def start_recording(self) -> None:
        """Start the recording at this moment (its sample 0); the file exists from now."""
        if self._t0 is None and (self._wav is None or not self._wav.closed):
            self._t0 = time.monotonic()
            self._caller.heard_at = self._bot.heard_at = self._t0
            self._writer()

    async def finish(self) -> Path | None:
        """Write what is held (the shorter track padded) and close the file.

        Returns:
            The WAV's path, or ``None`` if recording never started.
        """
        self._stop()
        if self._wav is None:
            return None
        await self._wav.aclose()
        return self._wav.path  # the name it got (never another recording's)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, AudioBufferStartRecordingFrame):
            await self.start_recording()
        elif isinstance(frame, AudioBufferStopRecordingFrame):
            self._stop()
        if self._t0 is not None:
            if isinstance(frame, InputAudioRawFrame):
                await self._place_caller(frame)
            elif isinstance(frame, OutputAudioRawFrame):
                self._place(self._bot, frame.metadata.get(PLAYOUT_AT), await self._pcm(frame))
            if isinstance(frame, EndFrame | CancelFrame):
                self._stop()
            else:
                self._write_settled()
        await self.push_frame(frame, direction)

    async def _place_caller(self, frame: InputAudioRawFrame) -> None:
        self._place(self._caller, frame.metadata.get(CALLER_AT), await self._pcm(frame))

    def _place(self, track: _Track, at: float | None, pcm: bytes) -> None:
        track.heard_at = time.monotonic()
        if at is None:  # no stamp: where it is now, give or take the pipeline's jitter
            track.place(self._sample(time.monotonic()), pcm, self._arrival_slack)
        else:
            track.place(self._sample(at), pcm, _STAMPED_SLACK)

    async def _pcm(self, frame: InputAudioRawFrame | OutputAudioRawFrame) -> bytes:
        if frame.num_channels != 1:
            return b""  # voicelab's phone audio is mono; anything else is not this call's
        if frame.sample_rate == self.sample_rate:
            return bytes(frame.audio)
        return bytes(
            await self._resampler.resample(frame.audio, frame.sample_rate, self.sample_rate)
        )

    def _sample(self, at: float) -> int:
        assert self._t0 is not None
        return max(0, round((at - self._t0) * self.sample_rate))

    def _write_settled(self) -> None:
        now = time.monotonic()
        settled = self._sample(now - SETTLE_S)
        for track in (self._caller, self._bot):
            if now - track.heard_at >= IDLE_S:
                track.fill_to(settled)
        while min(self._caller.end, self._bot.end) - self._caller.start >= self._chunk:
            if self._caller.start + self._chunk > settled - self._chunk:
                break  # keep the last chunk open for audio still on its way
            self._write(self._chunk)

    def _stop(self) -> None:
        if self._t0 is None:
            return
        end = max(self._caller.end, self._bot.end)
        self._caller.fill_to(end)
        self._bot.fill_to(end)
        if end > self._caller.start:
            self._write(end - self._caller.start)
        self._t0 = None

    def _write(self, n: int) -> None:
        stereo = np.column_stack((self._caller.take(n), self._bot.take(n)))
        self._writer().write(stereo.astype("<i2").tobytes())

    def _writer(self) -> WavStreamWriter:
        if self._wav is None:
            self._wav = WavStreamWriter(self.path, self.sample_rate, 2, on_error=self._on_error)
        return self._wav
