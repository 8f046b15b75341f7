"""A deterministic stand-in LLM: persona-aware canned replies keyed on what the caller said.

For fast, repeatable tests of everything around the LLM (audio, turn-taking,
latency plumbing, call records). The replies are package data
(``voicelab/defaults/scripted_replies.yaml``): one or two short sentences in the persona's
style, no special characters, a follow-up question on feedback.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

from voicelab.bot.services.local_llm import LocalLLMService
from voicelab.defaults import ScriptedReplies, load_scripted_replies

__all__ = ["ScriptedLLMService", "scripted_reply"]


def scripted_reply(text: str, replies: ScriptedReplies | None = None) -> str:
    """The canned reply to the caller's ``text``.

    Args:
        text: What the caller said.
        replies: The rules (default: the packaged ``scripted_replies.yaml``).
    """
    replies = replies or load_scripted_replies()
    words = set(re.findall(r"[a-z]+", text.lower()))
    for rule in replies.rules:
        if words.intersection(rule.keywords):
            return rule.reply
    return replies.default


class ScriptedLLMService(LocalLLMService):
    """Answers the last user message with :func:`scripted_reply`, word by word.

    Args:
        replies: The rules (default: the packaged ``scripted_replies.yaml``), read once here.
        **kwargs: For :class:`LocalLLMService`.
    """

    def __init__(self, *, replies: ScriptedReplies | None = None, **kwargs: Any) -> None:
        super().__init__(model_name="scripted", **kwargs)
        self._replies = replies or load_scripted_replies()

    def stream_reply(self, messages: list[dict[str, str]], stop: threading.Event) -> Iterator[str]:
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        reply = scripted_reply(last_user, self._replies)
        for index, word in enumerate(reply.split(" ")):
            yield word if index == 0 else " " + word
