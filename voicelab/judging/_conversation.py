"""A call record as the conversation pipecat's judges read.

pipecat's conversation format (``pipecat.evals.conversation``): ``{"role": "user",
"content"}`` for what the caller said, ``{"role": "assistant", "content"}`` for the bot's
reply, ``{"role": "tool_call", "name", "arguments", "cancelled"}`` before the reply it was
made in. From the record: the caller's words are its scripted or goal-driven line where
the caller wrote one (ground truth), else the server's transcript of them; the bot's are
its reply per turn (``turns_df``); the calls are ``tool_calls_df``'s.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Conversation", "read_conversation"]


@dataclass
class Conversation:
    """One call's conversation, and which scenario turn each bot reply answers.

    Attributes:
        messages: pipecat's conversation messages, in order.
        reply_turns: The scenario turn (0 the greeting) of each assistant message, in
            order: the ``N``-th assistant message is pipecat's bot turn ``N``.
    """

    messages: list[dict[str, Any]] = field(default_factory=list)
    reply_turns: list[int] = field(default_factory=list)

    def until(self, turn: int) -> list[dict[str, Any]] | None:
        """The messages up to and including the reply of scenario turn ``turn``.

        Returns:
            ``None`` when the call has no reply at that turn.
        """
        seen = 0
        for index, message in enumerate(self.messages):
            if message["role"] == "assistant":
                if self.reply_turns[seen] == turn:
                    return self.messages[: index + 1]
                seen += 1
        return None

    def fingerprint(self) -> str:
        """The conversation as canonical JSON (a part of each verdict's cache key)."""
        return json.dumps([self.messages, self.reply_turns], sort_keys=True, ensure_ascii=False)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):  # pandas' NA
        return None


def read_conversation(directory: Path) -> Conversation:
    """The conversation of the call recorded in ``directory``."""
    from voicelab.analysis import tool_calls_df, turns_df

    turns = turns_df(directory, recording=False, cache=False)
    calls = tool_calls_df(directory, cache=False)
    simulated = "caller_turn" in turns and bool(turns["caller_turn"].notna().any())
    by_server_turn: dict[int, list[dict[str, Any]]] = {}
    for row in calls.itertuples(index=False):
        server_turn = _number(row.turn)
        if server_turn is not None:
            arguments = json.loads(row.arguments) if isinstance(row.arguments, str) else {}
            by_server_turn.setdefault(server_turn, []).append(
                {
                    "role": "tool_call",
                    "name": str(row.name),
                    "arguments": arguments,
                    "cancelled": row.status == "cancelled",
                }
            )
    conversation = Conversation()
    for row in turns.itertuples(index=False):
        said = _text(row.caller_text) or _text(row.stt_text)
        if said:
            conversation.messages.append({"role": "user", "content": said})
        server_turn = _number(row.turn)
        if server_turn is not None:
            conversation.messages.extend(by_server_turn.pop(server_turn, []))
        reply = _text(row.bot_text)
        number = _number(row.caller_turn) if simulated else server_turn
        if reply and number is not None:
            conversation.messages.append({"role": "assistant", "content": reply})
            conversation.reply_turns.append(number)
    return conversation
