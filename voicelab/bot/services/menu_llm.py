"""A deterministic LLM for pipecat's IVR navigator: it reads phone menus, no model needed.

pipecat's ``IVRNavigator`` asks its LLM two things, each under its own system prompt: is
this a phone menu or a person (``<mode>ivr</mode>`` / ``<mode>conversation</mode>``), and,
in a menu, which key gets closer to the goal (``<dtmf>1</dtmf>``), or whether to wait
(``<ivr>wait</ivr>``) or the goal is reached (``<ivr>completed</ivr>``). This service
answers both from the words of the last prompt heard: the options a menu reads out ("for
catering, press 1", "press 2 for facilities", digits or number words) against the goal's
keywords. Under any other system prompt it answers like the scripted LLM.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from voicelab.bot.services.local_llm import LocalLLMService
from voicelab.bot.services.scripted_llm import scripted_turn
from voicelab.defaults import ScriptedReplies, load_scripted_replies

__all__ = ["MenuChoiceLLMService", "menu_answer", "menu_options"]

_KEYS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "star": "*",
    "pound": "#",
    "hash": "#",
}
_KEY = r"(\d|\*|#|" + "|".join(_KEYS) + r")"
# "press 1 for catering", "press one to reach catering" / "for catering, press 1"
_PRESS_FOR = re.compile(rf"\bpress\s+{_KEY}\s+(?:for|to)\s+([^.;,!?]+)", re.IGNORECASE)
_FOR_PRESS = re.compile(rf"\b(?:for|to)\s+([^.;,!?]+?),?\s+press\s+{_KEY}\b", re.IGNORECASE)
_MENU = re.compile(
    r"\b(?:press|dial|menu|options?|extension|thank you for calling|your call is important)\b",
    re.IGNORECASE,
)
_ARRIVED = re.compile(
    r"\b(?:connecting you|transferring you|putting you through|please hold|one moment|"
    r"you(?:'ve| have) reached)\b",
    re.IGNORECASE,
)
_CLASSIFIER = "You are an IVR detection classifier"  # pipecat's CLASSIFIER_PROMPT opens so
_NAVIGATOR = "You are navigating an Interactive Voice Response"  # its IVR_NAVIGATION_BASE


def menu_options(prompt: str) -> dict[str, str]:
    """The options a menu prompt reads out: key -> what it is for (lower case).

    A transcript loses the menu's full stops ("for deliveries, press 1 for accounts, press
    2"), so both phrasings can match, and disagree: the one that reads more options out of
    the prompt is the menu's own (a tie keeps "press N for X").
    """
    press_for = [
        (_KEYS.get(k.lower(), k), w.strip().lower()) for k, w in _PRESS_FOR.findall(prompt)
    ]
    for_press = [
        (_KEYS.get(k.lower(), k), w.strip().lower()) for w, k in _FOR_PRESS.findall(prompt)
    ]
    options: dict[str, str] = {}
    for key, what in for_press if len(for_press) > len(press_for) else press_for:
        options.setdefault(key, what)
    return options


def menu_answer(prompt: str, goal: Sequence[str]) -> str:
    """The navigator's command for one menu prompt, given the goal's keywords.

    The key of the first option naming a goal keyword; else ``completed`` when the prompt
    says the call is being put through (and offers nothing better); else ``wait``.
    """
    for key, what in menu_options(prompt).items():
        if any(word.lower() in what for word in goal):
            return f"<dtmf>{key}</dtmf>"
    if _ARRIVED.search(prompt):
        return "<ivr>completed</ivr>"
    return "<ivr>wait</ivr>"


class MenuChoiceLLMService(LocalLLMService):
    """The IVR navigator's LLM, deterministic: menus by their words, people by script.

    Args:
        goal: Keywords of the menu option to reach (``("catering",)``).
        replies: What it says outside a menu (default: the scripted LLM's replies).
        **kwargs: For :class:`LocalLLMService`.
    """

    def __init__(
        self, *, goal: Sequence[str], replies: ScriptedReplies | None = None, **kwargs: Any
    ) -> None:
        super().__init__(model_name="menu keywords", **kwargs)
        self._goal = tuple(goal)
        self._replies = replies or load_scripted_replies()

    def stream_reply(self, messages: list[dict[str, str]], stop: threading.Event) -> Iterator[str]:
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        heard = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if system.startswith(_CLASSIFIER):
            yield "<mode>ivr</mode>" if _MENU.search(heard) else "<mode>conversation</mode>"
        elif system.startswith(_NAVIGATOR):
            yield menu_answer(heard, self._goal)
        else:
            yield scripted_turn(messages, self._replies).text
