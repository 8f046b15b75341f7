"""What "audible" means, once for all of voicelab (DESIGN.md section 4).

A 10 ms window, aligned on the recording's sample 0, is audible when its RMS reaches
-40 dBFS. The simulated caller stamps ``caller.utterance_ended`` / ``caller.heard_started``
with this rule as the call goes, and :func:`voicelab.analysis.recording_v2v` applies it to
``caller.wav`` afterwards, so the two figures measure the same thing. Only numpy: the
simulator and analysis both import it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AUDIBLE_DBFS",
    "REPLY_SILENCE_S",
    "UNDERRUN_S",
    "WINDOW_S",
    "audible",
    "audible_windows",
    "window_samples",
]

WINDOW_S = 0.01
"""The window the rule looks at, in seconds."""

AUDIBLE_DBFS = -40.0
"""The RMS, in dB below full scale, a window must reach to be audible."""

REPLY_SILENCE_S = 1.2
"""Silence after the other side's audio that ends its reply (a simulated party's, a load
caller's)."""

UNDERRUN_S = 0.04
"""The shortest silence inside a reply that counts as an underrun (a playout gap): two
20 ms frames that never came."""


def window_samples(sample_rate: int, window_s: float = WINDOW_S) -> int:
    """Samples in one window at ``sample_rate`` (at least one)."""
    return max(1, round(window_s * sample_rate))


def audible(samples: np.ndarray, window: int, threshold_db: float = AUDIBLE_DBFS) -> np.ndarray:
    """Per ``window``-sample block of ``samples`` (from sample 0; a partial last block is
    left out): whether its RMS reaches ``threshold_db`` dBFS. Samples are floats in [-1, 1]."""
    blocks = samples[: samples.size // window * window].reshape(-1, window).astype(np.float64)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1))
    return np.asarray(rms >= 10 ** (threshold_db / 20))


def audible_windows(
    samples: np.ndarray, window: int, threshold_db: float = AUDIBLE_DBFS
) -> np.ndarray:
    """Indices of the audible windows of ``samples`` (see :func:`audible`)."""
    return np.flatnonzero(audible(samples, window, threshold_db))
