"""Hearing touch tones: the keys an agent presses, as a phone menu hears them.

A bot cannot send Twilio a DTMF message (Media Streams take only ``media``, ``mark`` and
``clear`` from the server): it plays the tones in its audio. pipecat's transports do
exactly that for an ``OutputDTMFFrame`` (``_write_dtmf_audio``: a 0.3 s tone and 0.2 s of
silence per key), and Twilio carries them to the far end like any sound. So the phone
menu callee listens for them the way a real IVR does: the power at the eight DTMF
frequencies over a 40 ms window, every 20 ms frame.
"""

from __future__ import annotations

import numpy as np

from voicelab.simulator._tones import DTMF_FREQUENCIES, RATE

__all__ = ["DtmfDetector"]

_ROWS = (697.0, 770.0, 852.0, 941.0)
_COLS = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYS = {freqs: key for key, freqs in DTMF_FREQUENCIES.items()}
_WINDOW = 320  # 40 ms: resolves the 73 Hz between rows
_MIN_RMS = 0.01  # -40 dBFS: voicelab's "audible"
_MIN_SHARE = 0.7  # of the window's energy in the two tones: speech never gets there
_MAX_OTHER = 0.1  # of the strongest tone's power, for any other tone of its group
_MAX_TWIST = 6.3  # power ratio between the two tones (8 dB)
_CONFIRM = 2  # frames of the same key before it counts (40 ms)


class DtmfDetector:
    """Feed it 20 ms frames of what a party hears; it returns each key pressed, once.

    A key counts once it has been heard in :data:`_CONFIRM` frames running; it can count
    again only after a frame without it (a held key is one press).
    """

    def __init__(self) -> None:
        n = np.arange(_WINDOW) / RATE
        freqs = np.array(_ROWS + _COLS)
        self._basis = np.exp(-2j * np.pi * np.outer(n, freqs))  # (window, 8)
        self._tail = np.zeros(0, dtype=np.float32)
        self._candidate: str | None = None
        self._seen = 0
        self._pressed: str | None = None

    def feed(self, frame: np.ndarray) -> str | None:
        """The key whose press completed with ``frame``, if one did."""
        window = np.concatenate([self._tail, frame.astype(np.float32)])[-_WINDOW:]
        self._tail = window
        key = _classify(window, self._basis) if window.size == _WINDOW else None
        if key is None or key != self._candidate:
            self._candidate, self._seen = key, 1 if key else 0
            if key is None:
                self._pressed = None
            return None
        self._seen += 1
        if self._seen >= _CONFIRM and self._pressed != key:
            self._pressed = key
            return key
        return None


def _classify(window: np.ndarray, basis: np.ndarray) -> str | None:
    energy = float(np.dot(window, window))
    if energy / window.size < _MIN_RMS**2:
        return None
    power = np.abs(window @ basis) ** 2 * 2 / (window.size * energy)  # 1.0 = all of it
    rows, cols = power[:4], power[4:]
    r, c = int(np.argmax(rows)), int(np.argmax(cols))
    if rows[r] + cols[c] < _MIN_SHARE:
        return None
    if np.sort(rows)[-2] > _MAX_OTHER * rows[r] or np.sort(cols)[-2] > _MAX_OTHER * cols[c]:
        return None
    if max(rows[r], cols[c]) > _MAX_TWIST * min(rows[r], cols[c]):
        return None
    return _KEYS[(_ROWS[r], _COLS[c])]
