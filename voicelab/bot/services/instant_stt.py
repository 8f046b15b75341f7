"""A speech-to-text stand-in with no model: one fixed transcript per speech segment, at once.

For load tests and framework-overhead benchmarks: the pipeline, Silero VAD, the turn
strategy and the transport all run for real; only the recognition is free, so what is
measured is everything around it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.tracing.service_decorators import traced_stt

from voicelab.bot.services._segments import FinalWhenNoSpeechPending

__all__ = ["INSTANT_TRANSCRIPT", "InstantSTTService"]

INSTANT_TRANSCRIPT = "I have some feedback."


class InstantSTTService(FinalWhenNoSpeechPending, SegmentedSTTService):
    """Transcribes every speech segment as ``text``, without looking at the audio.

    Args:
        text: The transcript of every segment.
        **kwargs: Passed to :class:`SegmentedSTTService`.
    """

    def __init__(self, *, text: str = INSTANT_TRANSCRIPT, **kwargs: Any) -> None:
        kwargs.setdefault("settings", STTSettings(model="instant", language=None))
        # No model to finish a clipped last word for: skip pipecat's silence padding.
        kwargs.setdefault("trailing_silence_secs", 0.0)
        # The transcript comes at once; above the VAD stop wait, which pipecat warns about.
        kwargs.setdefault("ttfs_p99_latency", 0.3)
        super().__init__(**kwargs)
        self._text = text

    @property
    def wants_wav_segments(self) -> bool:
        return False  # nothing reads the audio: no WAV container to build

    def can_generate_metrics(self) -> bool:
        return True

    @traced_stt  # pipecat's `stt` span per transcript when the call is traced
    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        """One final transcript for the segment in ``audio`` (raw 16-bit PCM)."""
        await self.start_processing_metrics()
        await self.stop_processing_metrics()
        yield TranscriptionFrame(self._text, self._user_id, time_now_iso8601())
