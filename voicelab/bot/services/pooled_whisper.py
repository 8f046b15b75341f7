"""Pipecat's Whisper STT service, fed the pool's already-loaded model."""

from __future__ import annotations

from typing import Any

from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.utils.tracing.service_decorators import traced_stt

from voicelab.bot.services._segments import FinalWhenNoSpeechPending

__all__ = ["PooledWhisperSTTService"]


class PooledWhisperSTTService(FinalWhenNoSpeechPending, WhisperSTTService):
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
        kwargs.setdefault("settings", WhisperSTTService.Settings(model=model_name))
        # Whisper tiny.en on 2 CPU cores: speech end to transcript, measured p99.
        kwargs.setdefault("ttfs_p99_latency", 1.5)
        super().__init__(**kwargs)

    def _load(self) -> None:
        self._model = self._shared_model

    # pipecat's `stt` spans (traced calls) live in a wrapper around the class's push_frame,
    # which @traced_stt installs on the class whose method it decorates: WhisperSTTService's
    # wrapper is skipped by the mixin's push_frame, so this class gets its own.
    run_stt = traced_stt(WhisperSTTService.run_stt)
