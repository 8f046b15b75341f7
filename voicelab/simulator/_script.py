"""What a simulated party does, step by step (scenarios compile to these).

A person is a list of :class:`Say`, :class:`Dtmf`, :class:`Pause`, :class:`HangUp` and
:class:`Improvise` steps; an answering machine is one :class:`AnsweringMachine` step and a
phone menu one :class:`PhoneMenu` step (whose nodes may end with a person's steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Action",
    "AnsweringMachine",
    "Dtmf",
    "HangUp",
    "Improvise",
    "MenuNode",
    "Pause",
    "PhoneMenu",
    "Say",
    "callee_kind",
]


@dataclass
class Say:
    """Speak ``audio`` (8 kHz mono float32), whose ground-truth words are ``text``.

    Attributes:
        barge_in_after: Start speaking this many seconds after the other side's reply
            becomes audible, instead of waiting for it to finish.
        wait: Let the other side speak (and finish) first; ``False`` for a line said the
            moment the phone is picked up (a dialled party's "Hello, Chris speaking").
    """

    text: str
    audio: np.ndarray
    barge_in_after: float | None = None
    wait: bool = True


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


@dataclass
class AnsweringMachine:
    """Pick up with a greeting, beep, then record what the caller says.

    Attributes:
        greeting: The greeting, spoken the moment the call is answered.
        beep_s: The beep's length (1 kHz); 0 for none.
        max_message_s: The longest message it records before it hangs up.
    """

    greeting: Say
    beep_s: float = 0.5
    max_message_s: float = 30.0


@dataclass
class MenuNode:
    """One step of a phone menu.

    Attributes:
        prompt: What it says (``None``: nothing).
        options: Key -> the node it leads to.
        timeout_s: How long it waits for a key after its prompt.
        repeats: How many times it says its prompt again when no key, or a key it does
            not know, comes; then it hangs up.
        hold_s: Music on hold after the prompt (a node without options).
        person: Who picks up after the hold (``None``: the menu hangs up instead).
    """

    prompt: Say | None
    options: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 5.0
    repeats: int = 2
    hold_s: float = 0.0
    person: list[Action] | None = None


@dataclass
class PhoneMenu:
    """An automated menu: prompts, routed by the keys it hears, to a person or a goodbye."""

    nodes: dict[str, MenuNode]
    start: str


Action = Say | Dtmf | Pause | HangUp | Improvise | AnsweringMachine | PhoneMenu


def callee_kind(actions: list[Action]) -> str:
    """What picks up with these steps: ``answering_machine``, ``phone_menu`` or ``person``."""
    first = actions[0] if actions else None
    if isinstance(first, AnsweringMachine):
        return "answering_machine"
    if isinstance(first, PhoneMenu):
        return "phone_menu"
    return "person"
