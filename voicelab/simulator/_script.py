"""What a simulated caller does, step by step (scenarios compile to these)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Action", "Dtmf", "HangUp", "Improvise", "Pause", "Say"]


@dataclass
class Say:
    """Speak ``audio`` (8 kHz mono float32), whose ground-truth words are ``text``.

    Attributes:
        barge_in_after: Start speaking this many seconds after the bot's reply
            becomes audible, instead of waiting for the bot to finish.
    """

    text: str
    audio: np.ndarray
    barge_in_after: float | None = None


@dataclass
class Dtmf:
    """Press a key (``0-9``, ``*``, ``#``)."""

    digit: str


@dataclass
class Pause:
    """Say nothing for ``seconds`` (silence keeps flowing, as on a real line)."""

    seconds: float


@dataclass
class HangUp:
    """Hang up ``after`` seconds from now, even if the bot is still talking."""

    after: float = 0.0


@dataclass
class Improvise:
    """Go on talking with lines an LLM improvises toward a goal, until it is done.

    Attributes:
        next_line: ``history -> line | None`` (e.g. ``GoalDrivenCaller.next_line``);
            history items are ``{"speaker": "bot" | "caller", "text": ...}``.
        speak: ``text -> 8 kHz audio`` (e.g. ``CallerVoice.speak``).
    """

    next_line: Callable[[list[dict[str, str]]], str | None]
    speak: Callable[[str], np.ndarray]


Action = Say | Dtmf | Pause | HangUp | Improvise
