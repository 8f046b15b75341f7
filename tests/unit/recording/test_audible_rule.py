"""The one "audible" rule: a 10 ms window whose RMS reaches -40 dBFS."""

from __future__ import annotations

import numpy as np

from voicelab.recording.audible import AUDIBLE_DBFS, audible, audible_windows, window_samples


def _window(rms: float, n: int = 80) -> np.ndarray:
    return np.full(n, rms, dtype=np.float32)  # a constant block's RMS is its value


def test_the_threshold_is_inclusive_at_minus_40_dbfs() -> None:
    edge = 10 ** (AUDIBLE_DBFS / 20)
    samples = np.concatenate([_window(edge * 1.001), _window(edge * 0.99), _window(0.5)])
    assert audible(samples, 80).tolist() == [True, False, True]
    assert audible_windows(samples, 80).tolist() == [0, 2]


def test_windows_are_aligned_on_sample_zero_and_a_partial_last_one_is_left_out() -> None:
    loud = _window(0.5, 40)  # half a window of speech, straddling two windows
    samples = np.concatenate([np.zeros(60, np.float32), loud, np.zeros(60 + 30, np.float32)])
    # 190 samples: windows [0, 80) and [80, 160); [160, 190) is partial.
    assert audible(samples, 80).tolist() == [True, True]
    quiet_tail = np.concatenate([np.zeros(160, np.float32), _window(0.5, 30)])
    assert audible_windows(quiet_tail, 80).size == 0


def test_ten_milliseconds_at_each_rate() -> None:
    assert window_samples(8000) == 80 and window_samples(16000) == 160
    assert window_samples(24000, 0.02) == 480
