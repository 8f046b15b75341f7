"""llama.cpp contexts lent to one reply at a time: one model file, one or more contexts.

A ``Llama`` object is one context (its KV cache, its sampling state) and is not
thread-safe, so a process with one context answers one call at a time: six calls at once
queue behind one another (bench/RESULTS.md, P3b). Several contexts over the same GGUF
file share its weights (llama.cpp maps the file; each context adds its KV cache, about
50 MB for SmolLM2-135M at 2,048 tokens), so ``n`` contexts answer ``n`` calls at once.
Each context keeps the prompt it last read, so a reply goes back to the context its call
used last when that one is free (its system prompt is already evaluated there).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["LlamaLeases"]


class LlamaLeases:
    """Lends ``Llama`` contexts, each under its own lock, one borrower at a time.

    Args:
        contexts: ``(llama, lock)`` pairs. A lock may be shared with other users of the
            same ``Llama`` (the judge, a goal-driven caller): a lease takes it too.
    """

    def __init__(self, contexts: Sequence[tuple[Any, threading.Lock]]) -> None:
        if not contexts:
            raise ValueError("LlamaLeases needs at least one context")
        self._contexts = list(contexts)
        self._free = list(range(len(self._contexts)))
        self._changed = threading.Condition()

    @property
    def size(self) -> int:
        """How many contexts there are (replies that can run at once)."""
        return len(self._contexts)

    @contextmanager
    def lease(self, prefer: int | None = None) -> Iterator[tuple[int, Any]]:
        """Borrow a free context (``prefer`` if it is free), waiting for one if none is.

        Yields:
            ``(index, llama)``: remember ``index`` to prefer it next time.
        """
        with self._changed:
            while not self._free:
                self._changed.wait()
            index = prefer if prefer in self._free else self._free[0]
            self._free.remove(index)
        llama, lock = self._contexts[index]
        try:
            with lock:
                yield index, llama
        finally:
            with self._changed:
                self._free.append(index)
                self._changed.notify()
