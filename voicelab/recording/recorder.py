"""The server's stereo call recorder: pipecat's audio buffer, streamed to a WAV as it fills."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

from voicelab.recording.wav import WavStreamWriter

__all__ = ["StreamingRecorder"]


class StreamingRecorder(AudioBufferProcessor):
    """Records the call (caller left, bot right) into ``path`` chunk by chunk.

    pipecat's :class:`AudioBufferProcessor` calls ``on_audio_data`` each time a
    track's buffer reaches ``buffer_size`` bytes (and once more when recording
    stops); each chunk goes straight to a :class:`WavStreamWriter`, so the file
    on disk is a valid WAV holding all but the last ``chunk_s`` seconds or so.

    pipecat runs event handlers as tasks, so :meth:`stop_recording` returns
    before its last chunk is handed over. :meth:`finish` waits for those
    handlers and for the file to be complete: only after it may the call's
    record say the recording is written.

    Args:
        path: The WAV file to write.
        sample_rate: The recording's rate (the pipeline's output rate: no resampling).
        chunk_s: Seconds of audio per write (the most a killed process can lose,
            plus the writes still queued).
        on_error: Called (on the record writer thread) when a write fails.
    """

    def __init__(
        self,
        path: Path,
        sample_rate: int,
        chunk_s: float = 0.5,
        on_error: Callable[[Exception], None] | None = None,
        **kwargs: Any,
    ) -> None:
        # buffer_size counts the bytes of one 16-bit mono track.
        chunk_bytes = max(1, int(sample_rate * chunk_s)) * 2
        super().__init__(sample_rate=sample_rate, num_channels=2, buffer_size=chunk_bytes, **kwargs)
        self.path = path
        self._on_error = on_error
        self._wav: WavStreamWriter | None = None
        self.add_event_handler("on_audio_data", self._on_audio_data)

    async def start_recording(self) -> None:
        await super().start_recording()
        self._writer(self.sample_rate)  # the file exists (and is valid) from the start

    async def finish(self) -> Path | None:
        """Stop recording, write what is buffered and close the file.

        Returns:
            The WAV's path, or ``None`` if recording never started.
        """
        await self.stop_recording()
        # The handlers of the last chunks are tasks (pipecat's default); wait for them
        # to hand their audio over before closing.
        pending = [task for name, task in self._event_tasks if name == "on_audio_data"]
        if pending:
            await asyncio.wait(pending)
        if self._wav is None:
            return None
        await self._wav.aclose()
        return self._wav.path  # the name it got (never another recording's)

    def _on_audio_data(self, _: Any, audio: bytes, sample_rate: int, channels: int) -> None:
        # Synchronous on purpose: handler tasks run in the order they were created and
        # this one finishes in its first step, so chunks reach the file in order.
        if channels == 2 and not (self._wav is not None and self._wav.closed):
            self._writer(sample_rate).write(audio)

    def _writer(self, sample_rate: int) -> WavStreamWriter:
        if self._wav is None:
            self._wav = WavStreamWriter(self.path, sample_rate, channels=2, on_error=self._on_error)
        return self._wav
