"""A deterministic stand-in LLM: persona-aware canned replies keyed on what the caller said.

For fast, repeatable tests of everything around the LLM (audio, turn-taking,
latency plumbing, call records). Replies follow the persona's rules: one or two
short sentences, no special characters, a follow-up question on feedback.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

from voicelab.bot.services.local_llm import LocalLLMService

__all__ = ["SCRIPTED_REPLIES", "ScriptedLLMService", "scripted_reply"]

# (keywords, reply) in priority order; the first rule with a matching word wins.
SCRIPTED_REPLIES: list[tuple[tuple[str, ...], str]] = [
    (
        ("allergy", "allergic", "allergen", "nut", "nuts", "gluten", "peanut"),
        "I am sorry to hear that, allergies are serious. "
        "Which site and dish was it, so our safety team can check it today?",
    ),
    (
        ("refund", "charged", "bill", "billing", "money", "price", "overcharged"),
        "I am sorry about the billing trouble. "
        "I will pass this to our accounts team, could you tell me the date of your visit?",
    ),
    (
        ("cold", "bad", "terrible", "awful", "late", "dirty", "rude", "disappointed"),
        "I am sorry the food was not up to standard. "
        "Could you tell me which site you visited and when?",
    ),
    (
        ("great", "delicious", "excellent", "amazing", "loved", "wonderful", "chef", "good"),
        "Thank you, that is lovely to hear and I will pass it on to the team. "
        "Was there anything we could do even better?",
    ),
    (
        ("bye", "goodbye", "thanks", "thank"),
        "Thank you for your feedback, have a wonderful day. Goodbye.",
    ),
]
DEFAULT_REPLY = "Thank you for telling me. Could you share a little more about your visit?"


def scripted_reply(text: str) -> str:
    """The canned reply to the caller's ``text``."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    for keywords, reply in SCRIPTED_REPLIES:
        if words.intersection(keywords):
            return reply
    return DEFAULT_REPLY


class ScriptedLLMService(LocalLLMService):
    """Answers the last user message with :func:`scripted_reply`, word by word."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name="scripted", **kwargs)

    def stream_reply(self, messages: list[dict[str, str]], stop: threading.Event) -> Iterator[str]:
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        reply = scripted_reply(last_user)
        for index, word in enumerate(reply.split(" ")):
            yield word if index == 0 else " " + word
