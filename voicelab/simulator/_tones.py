"""The sounds of a phone network, as 8 kHz float32 audio: beeps, ringback, hold music, DTMF.

Generated, never recorded: the same samples every run, and no files to ship. Levels are
well above voicelab's "audible" threshold (-40 dBFS) and well below clipping, as a
network's tones are.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DTMF_FREQUENCIES",
    "RATE",
    "beep",
    "dtmf_tones",
    "hold_music",
    "ringback",
    "silence",
    "tone",
]

RATE = 8000
_LEVEL = 0.25  # about -15 dBFS per tone
_FADE_S = 0.005  # a 5 ms ramp at each end: no click

_ROW_KEYS = {697.0: "123A", 770.0: "456B", 852.0: "789C", 941.0: "*0#D"}
_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (row, col)
    for row, keys in _ROW_KEYS.items()
    for col, key in zip(_COLUMNS, keys, strict=True)
}
"""The (row, column) frequencies of each key, in Hz (ITU-T Q.23)."""


def silence(seconds: float) -> np.ndarray:
    """``seconds`` of digital silence."""
    return np.zeros(max(0, round(seconds * RATE)), dtype=np.float32)


def tone(frequencies: tuple[float, ...], seconds: float, level: float = _LEVEL) -> np.ndarray:
    """A sum of sines, ``level`` each, ramped in and out."""
    n = max(0, round(seconds * RATE))
    t = np.arange(n, dtype=np.float64) / RATE
    wave = np.zeros(n)
    for frequency in frequencies:
        wave += np.sin(2 * np.pi * frequency * t) * level
    ramp = min(n // 2, round(_FADE_S * RATE))
    if ramp:
        envelope = np.linspace(0.0, 1.0, ramp)
        wave[:ramp] *= envelope
        wave[n - ramp :] *= envelope[::-1]
    return np.asarray(wave, dtype=np.float32)


def beep(seconds: float = 0.5) -> np.ndarray:
    """An answering machine's beep: 1 kHz."""
    return tone((1000.0,), seconds)


def ringback(seconds: float) -> np.ndarray:
    """What a caller hears while the other phone rings (North American: 440 + 480 Hz,
    2 s on, 4 s off), ``seconds`` of it."""
    cycle = np.concatenate([tone((440.0, 480.0), 2.0, level=0.12), silence(4.0)])
    repeats = int(np.ceil(seconds * RATE / cycle.size)) or 1
    return np.tile(cycle, repeats)[: max(0, round(seconds * RATE))]


def hold_music(seconds: float) -> np.ndarray:
    """A plain arpeggio, looped: music on hold (single notes, never a DTMF pair)."""
    notes = (523.25, 659.25, 783.99, 659.25)  # C5 E5 G5 E5
    bar = np.concatenate([tone((f,), 0.3, level=0.15) for f in notes])
    repeats = int(np.ceil(seconds * RATE / bar.size)) or 1
    return np.tile(bar, repeats)[: max(0, round(seconds * RATE))]


def dtmf_tones(keys: str, tone_s: float = 0.25, gap_s: float = 0.1) -> np.ndarray:
    """``keys`` as touch tones (``w``: half a second's wait, as in Twilio's ``digits``)."""
    parts: list[np.ndarray] = []
    for key in keys:
        if key in "wW":
            parts.append(silence(0.5))
            continue
        parts += [tone(DTMF_FREQUENCIES[key.upper()], tone_s, level=0.2), silence(gap_s)]
    return np.concatenate(parts) if parts else silence(0)
