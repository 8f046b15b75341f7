"""Pipecat's Whisper STT service, fed the pool's already-loaded model."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from pipecat.frames.frames import Frame, TranscriptionFrame, VADUserStartedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.whisper.stt import WhisperSTTService

__all__ = ["PooledWhisperSTTService"]


class PooledWhisperSTTService(WhisperSTTService):
    """``WhisperSTTService`` that reuses a loaded faster-whisper model.

    The stock service loads its model in its constructor, synchronously, per
    instance: in a server that is seconds of a blocked event loop on every call.
    Transcription itself already runs in a worker thread.

    Args:
        model: A loaded ``faster_whisper.WhisperModel``.
        model_name: Name reported in metrics and the call record.
        **kwargs: Passed to :class:`WhisperSTTService`.
    """

    def __init__(self, *, model: Any, model_name: str = "tiny.en", **kwargs: Any) -> None:
        self._shared_model = model
        self._segments_started = 0
        kwargs.setdefault("settings", WhisperSTTService.Settings(model=model_name))
        # Whisper tiny.en on 2 CPU cores: speech end to transcript, measured p99.
        kwargs.setdefault("ttfs_p99_latency", 1.5)
        super().__init__(**kwargs)

    def _load(self) -> None:
        self._model = self._shared_model

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._segments_started += 1
        await super().process_frame(frame, direction)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        """Transcribe one VAD segment, marking the transcript ``finalized`` when it is the last.

        ``finalized`` tells the turn-stop strategy that no more text is coming, so
        the turn ends as soon as the transcript arrives instead of after the STT
        timeout. It is only true if the caller has not started another segment
        meanwhile (a pause mid-sentence splits one utterance into two segments).
        """
        segment = self._segments_started
        async for frame in super().run_stt(audio):
            if isinstance(frame, TranscriptionFrame):
                frame.finalized = self._segments_started == segment
            yield frame
