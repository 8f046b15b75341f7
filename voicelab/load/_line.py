"""The load caller's line: speech encoded once per process, as ready-to-send Twilio payloads.

A load caller must cost next to nothing per frame, so nothing is synthesised, resampled or
encoded while calls run: the line is turned into base64 mu-law payloads of 20 ms each
before the first call, and every caller sends the same strings.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from voicelab.errors import ConfigError
from voicelab.recording.audible import audible_windows, window_samples
from voicelab.recording.wav import pcm16
from voicelab.telephony import mulaw
from voicelab.telephony.media import FRAME_BYTES

__all__ = ["FRAME_S", "PHONE_RATE", "CallerLine"]

PHONE_RATE = 8000
FRAME_S = FRAME_BYTES / PHONE_RATE
"""One Twilio media frame: 20 ms."""

_SILENCE = base64.b64encode(b"\xff" * FRAME_BYTES).decode()  # mu-law 0xFF: zero amplitude


@dataclass(frozen=True)
class CallerLine:
    """What every load caller says, as Twilio media payloads.

    Attributes:
        payloads: Base64 mu-law, one 20 ms frame each (the last one padded with silence).
        end_s: Where the line ends by voicelab's audible rule: the end of its last audible
            10 ms window, in seconds from the start of its first frame (the caller's
            ``utterance_ended``, from which voice-to-voice is measured).
        silence: The payload of a silent frame (what a caller sends while it listens:
            Twilio streams the caller's microphone all call long).
    """

    payloads: tuple[str, ...]
    end_s: float
    silence: str = _SILENCE

    @classmethod
    def from_samples(cls, samples: np.ndarray) -> CallerLine:
        """Encode mono float samples in [-1, 1] at 8 kHz.

        Raises:
            ConfigError: The audio holds no audible 10 ms window (nothing to reply to).
        """
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        window = window_samples(PHONE_RATE)
        loud = audible_windows(audio, window)
        if not loud.size:
            raise ConfigError("the caller's line is silent: no 10 ms window reaches -40 dBFS")
        frames = -(-audio.size // FRAME_BYTES)
        padded = np.zeros(frames * FRAME_BYTES, dtype=np.float32)
        padded[: audio.size] = audio
        ulaw = mulaw.encode(pcm16(padded))
        payloads = tuple(
            base64.b64encode(ulaw[i : i + FRAME_BYTES]).decode()
            for i in range(0, len(ulaw), FRAME_BYTES)
        )
        return cls(payloads=payloads, end_s=float((loud[-1] + 1) * window / PHONE_RATE))

    @property
    def seconds(self) -> float:
        """How long the line lasts."""
        return len(self.payloads) * FRAME_S
