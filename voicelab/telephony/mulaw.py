"""G.711 mu-law, the codec of Twilio's Media Streams (8 kHz, one byte per sample).

A numpy codec, bit-exact with the classic Sun/CCITT reference (and so with the stdlib's
``audioop``, which Python 3.13 removed): 16-bit samples are reduced to 14 bits, biased by
33, and coded as sign, 3-bit segment and 4-bit mantissa, all bits inverted. pipecat's
helpers are async and resample as they go, so the simulator and the tests use these.
"""

from __future__ import annotations

import numpy as np

__all__ = ["decode", "encode"]

_BIAS = 0x84
_CLIP = 8159  # the largest 14-bit magnitude before the bias
# Upper bounds (inclusive) of the 8 segments of a biased 14-bit magnitude.
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)


def _decode_table() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _BIAS - magnitude, magnitude - _BIAS).astype(np.int16)


_DECODE = _decode_table()


def _encode_samples(samples: np.ndarray) -> np.ndarray:
    """G.711 mu-law of int16 samples, computed (used once, to fill the lookup table)."""
    value = samples.astype(np.int32) >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(value), _CLIP) + (_BIAS >> 2)
    segment = np.searchsorted(_SEGMENT_ENDS, magnitude)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    # Magnitudes past the last segment (only the clip level itself) take the top code.
    code = np.where(segment >= _SEGMENT_ENDS.size, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


# Every int16's code, indexed by the sample's bit pattern: a caller encodes 50 frames a
# second per call, and the lookup is ~6x cheaper than the arithmetic (11 vs 69 us a frame).
_ENCODE = _encode_samples(np.arange(-32768, 32768, dtype=np.int32)).take(
    np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) + 32768
)


def encode(pcm: bytes | np.ndarray) -> bytes:
    """Encode 16-bit signed PCM (little-endian bytes or an int16 array) as mu-law bytes."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes) else np.asarray(pcm)
    return bytes(_ENCODE[samples.astype("<i2", copy=False).view(np.uint16)])


def decode(ulaw: bytes) -> np.ndarray:
    """Decode mu-law bytes to 16-bit signed PCM samples (an int16 array)."""
    return _DECODE[np.frombuffer(ulaw, dtype=np.uint8)]
