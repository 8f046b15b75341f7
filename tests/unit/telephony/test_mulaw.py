"""The G.711 mu-law codec against the standard's known values."""

from __future__ import annotations

import numpy as np
import pytest

from voicelab.telephony import mulaw

# (16-bit sample, mu-law byte): zero and the clip levels, segment edges, the sign bit.
ENCODED = [
    (0, 0xFF),
    (1, 0xFF),
    (-1, 0x7E),
    (-132, 0x6F),  # -33 in 14 bits, biased to 0x42: segment 1 on the negative side
    (32767, 0x80),
    (-32768, 0x00),
    (1000, 0xCE),
    (-1000, 0x4E),
    (124, 0xEF),  # 31 + 33 = 0x40: the first value of segment 1
    (120, 0xF0),  # 30 + 33 = 0x3F: the last value of segment 0
]

# (mu-law byte, 16-bit sample): G.711's decision levels.
DECODED = [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xE7, 260), (0x67, -260)]


@pytest.mark.parametrize(("sample", "code"), ENCODED)
def test_encode_known_values(sample: int, code: int) -> None:
    assert mulaw.encode(np.array([sample], dtype=np.int16)) == bytes([code])
    assert mulaw.encode(np.array([sample], dtype="<i2").tobytes()) == bytes([code])


@pytest.mark.parametrize(("code", "sample"), DECODED)
def test_decode_known_values(code: int, sample: int) -> None:
    decoded = mulaw.decode(bytes([code]))
    assert decoded.dtype == np.int16 and decoded.tolist() == [sample]


def test_every_code_survives_a_round_trip() -> None:
    codes = bytes(c for c in range(256) if c != 0x7F)  # 0x7F is "-0": it re-encodes as 0xFF
    assert mulaw.encode(mulaw.decode(codes)) == codes


def test_decoding_is_odd_and_monotonic_within_each_sign() -> None:
    positive = mulaw.decode(bytes(range(0x80, 0x100))).astype(int)  # 0x80 loudest ... 0xFF zero
    negative = mulaw.decode(bytes(range(0x00, 0x80))).astype(int)
    assert (np.diff(positive) < 0).all() and (np.diff(negative) > 0).all()
    assert (positive == -negative).all()


def test_encoding_error_stays_within_the_segment_step() -> None:
    samples = np.arange(-32768, 32768, 7, dtype=np.int16)
    error = np.abs(mulaw.decode(mulaw.encode(samples)).astype(int) - samples)
    # The coarsest segment quantises in steps of 1024 (half-step error, plus clipping at ±32124).
    assert error.max() <= max(512, 32768 - 32124)
