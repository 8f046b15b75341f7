"""Frame pacing: one clock per worker process, frames sent against absolute deadlines.

Every caller of a worker shares the worker's :class:`FrameClock`: frame ``k`` of a caller is
due at ``origin + phase + k * 20 ms``, never at "20 ms after the previous one", so a late
frame does not push the later ones (no drift). How late each frame actually went out is its
*jitter*: send time minus deadline, kept per frame in a :class:`JitterLog`. A generator that
cannot keep its own frames on time shows it there, not as a slow agent.
"""

from __future__ import annotations

import asyncio
import time
from array import array

import numpy as np

from voicelab.load._line import FRAME_S

__all__ = ["FrameClock", "JitterLog"]


class FrameClock:
    """A worker's shared frame clock on its event loop's monotonic time.

    Args:
        origin: The :func:`time.monotonic` time that is ``t = 0`` for the worker's callers.
        period_s: The frame period (Twilio: 20 ms).
    """

    def __init__(self, origin: float, period_s: float = FRAME_S) -> None:
        self.origin = origin
        self.period_s = period_s

    def deadline(self, start: float, frame: int) -> float:
        """When frame ``frame`` of a caller whose first frame is due at ``start`` is due."""
        return start + frame * self.period_s

    def first_frame_after(self, start: float, now: float) -> int:
        """The first frame of a caller started at ``start`` that is not yet due at ``now``."""
        return max(0, int(np.ceil((now - start) / self.period_s)))

    @staticmethod
    async def until(deadline: float) -> float:
        """Sleep until ``deadline``; returns the time it woke.

        Times are :func:`time.monotonic`, the stdlib event loop's own clock, read afresh:
        a loop that caches its time per iteration would hide the lateness of the callers
        served last in a busy iteration.
        """
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return time.monotonic()


class JitterLog:
    """The lateness of every frame a worker sent: ``sent - deadline``, in seconds.

    A compact float array (8 bytes a frame: 200 callers for a minute is 4.8 MB), handed to
    the parent as numpy.
    """

    def __init__(self) -> None:
        self._values = array("d")

    def record(self, deadline: float, sent: float) -> float:
        """Note a frame due at ``deadline`` that went out at ``sent``; returns its jitter."""
        late = sent - deadline
        self._values.append(late)
        return late

    def __len__(self) -> int:
        return len(self._values)

    def to_numpy(self) -> np.ndarray:
        return np.frombuffer(self._values, dtype=np.float64).copy()
