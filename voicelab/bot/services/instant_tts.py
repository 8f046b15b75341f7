"""A text-to-speech stand-in with no model: a synthetic voice-like signal, at once.

The audio is loud from its first sample to its last (no silence to trim), lasts in
proportion to the text like speech does, and comes at the pipeline's output rate, so
playout, marks, interruptions and recordings behave as with a real voice.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
from pipecat.frames.frames import Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.utils.tracing.service_decorators import traced_tts

from voicelab.bot.services.clauses import ClauseTextAggregator
from voicelab.errors import InvalidArgumentError

__all__ = ["InstantTTSService", "synthetic_speech"]

# Harmonics of a low voice's pitch: well inside the phone band, clearly audible.
PITCH_HZ = 150.0
HARMONICS = (1.0, 0.5, 0.3, 0.2)
CHUNK_S = 0.5  # yield the audio in pieces, like a streaming TTS


def synthetic_speech(
    text: str, sample_rate: int, *, seconds_per_char: float, amplitude: float = 0.3
) -> np.ndarray:
    """A harmonic tone lasting ``seconds_per_char`` per character of ``text``, int16.

    A 5 ms fade at both ends keeps the edges from clicking; in between every 10 ms
    window is audible (far above -40 dBFS).
    """
    n = max(1, round(len(text) * seconds_per_char * sample_rate))
    t = np.arange(n) / sample_rate
    harmonics = np.arange(1, len(HARMONICS) + 1)[:, None]
    weights = np.asarray(HARMONICS)[:, None] / sum(HARMONICS)
    wave: np.ndarray = (weights * np.sin(2 * np.pi * PITCH_HZ * harmonics * t)).sum(axis=0)
    fade = min(n // 2, int(0.005 * sample_rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
    return (amplitude * wave * 32767).astype(np.int16)


class InstantTTSService(TTSService):
    """Speaks any text as :func:`synthetic_speech`, with no synthesis time.

    Args:
        seconds_per_char: Audio length per character of text (speech is about 0.07;
            smaller keeps load-test calls short).
        **kwargs: Passed to :class:`TTSService`.
    """

    Settings = TTSSettings

    def __init__(self, *, seconds_per_char: float = 0.02, **kwargs: Any) -> None:
        if seconds_per_char <= 0:
            raise InvalidArgumentError(f"seconds_per_char must be positive, got {seconds_per_char}")
        kwargs.setdefault("settings", TTSSettings(model="instant", voice="tone", language="en"))
        super().__init__(push_start_frame=True, push_stop_frames=True, **kwargs)
        self._seconds_per_char = seconds_per_char
        # As the offline voice: each clause spoken as it completes (services/clauses.py).
        self._text_aggregator = ClauseTextAggregator()

    def can_generate_metrics(self) -> bool:
        return True

    @traced_tts  # pipecat's `tts` span per reply when the call is traced
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """``text`` as 16-bit PCM frames at the pipeline's output rate."""
        await self.start_tts_usage_metrics(text)
        audio = synthetic_speech(text, self.sample_rate, seconds_per_char=self._seconds_per_char)
        await self.stop_ttfb_metrics()
        step = int(CHUNK_S * self.sample_rate)
        for start in range(0, audio.size, step):
            chunk = audio[start : start + step].tobytes()
            yield TTSAudioRawFrame(chunk, self.sample_rate, 1, context_id=context_id)
