"""A Twilio-like playout buffer: bot audio and marks, consumed 20 ms at a time."""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["PlayoutBuffer"]


class PlayoutBuffer:
    """Audio queued for the caller's ear, with marks between the chunks.

    Marks are returned once every sample queued before them has been played;
    ``clear()`` drops the queued audio and returns the pending marks at once,
    as Twilio does.
    """

    def __init__(self) -> None:
        self._items: deque[np.ndarray | str] = deque()
        self._offset = 0  # samples already played from the head chunk

    def push_audio(self, samples: np.ndarray) -> None:
        if samples.size:
            self._items.append(samples)

    def push_mark(self, name: str) -> None:
        self._items.append(name)

    @property
    def queued_samples(self) -> int:
        total = sum(item.size for item in self._items if isinstance(item, np.ndarray))
        return total - self._offset

    def clear(self) -> list[str]:
        """Drop queued audio; returns the marks that were pending."""
        marks = [item for item in self._items if isinstance(item, str)]
        self._items.clear()
        self._offset = 0
        return marks

    def pop(self, n: int) -> tuple[np.ndarray, list[str]]:
        """Play ``n`` samples (silence-padded); returns them and the marks reached."""
        out = np.zeros(n, dtype=np.float32)
        marks: list[str] = []
        filled = 0
        while self._items:
            head = self._items[0]
            if isinstance(head, str):
                marks.append(head)
                self._items.popleft()
                continue
            if filled == n:
                break
            take = min(n - filled, head.size - self._offset)
            out[filled : filled + take] = head[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset == head.size:
                self._items.popleft()
                self._offset = 0
        return out, marks
