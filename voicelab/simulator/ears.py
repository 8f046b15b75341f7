"""The simulated caller's ears: what did the bot just say? (Whisper, on what was heard.)

A goal-driven caller improvises from the conversation, but over a phone line all it
gets is audio. It transcribes the bot's reply as heard, after the playout buffer,
with Whisper tiny.en from its :class:`~voicelab.simulator.models.CallerModels`: its
own model against any server, or the bot's (the same model) when a lab runs both in
one process.
"""

from __future__ import annotations

import numpy as np
import soxr

from voicelab.simulator.models import CallerModels

__all__ = ["CallerEars"]


class CallerEars:
    """Transcribes 8 kHz phone audio with Whisper tiny.en.

    Args:
        models: Whose Whisper to listen with; default a :class:`CallerModels` of these
            ears' own, loaded on first use.
    """

    def __init__(self, models: CallerModels | None = None) -> None:
        self.models = models if models is not None else CallerModels()

    def transcribe(self, audio_8k: np.ndarray) -> str:
        """What was said in ``audio_8k`` (mono float32, 8 kHz); blocking, use a thread."""
        if audio_8k.size < 1600:  # under 0.2 s: nothing to understand
            return ""
        model = self.models.whisper()
        audio = soxr.resample(audio_8k, 8000, 16000).astype(np.float32)
        with self.models.whisper_lock:
            segments, _ = model.transcribe(audio, language="en")
            return " ".join(segment.text.strip() for segment in segments).strip()
