"""A deterministic stand-in LLM: persona-aware canned replies keyed on what the caller said.

For fast, repeatable tests of everything around the LLM (audio, turn-taking,
latency plumbing, call records, the agent's tools). The replies are package data
(``voicelab/defaults/scripted_replies.yaml``): one or two short sentences in the persona's
style, no special characters, a follow-up question on feedback.

A rule may call functions. The service then makes a real function call, as pipecat's cloud
LLM services do after their text (``run_function_calls``): the registered handler runs,
the function-call frames go through the pipeline and the result comes back into the
context, which runs the LLM again. Its next reply reads the result from the context: the
rule's ``then`` with the result's fields, and the rule's next call.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipecat.frames.frames import FunctionCallFromLLM
from pipecat.processors.aggregators.llm_context import LLMContext

from voicelab.bot.services.local_llm import LocalLLMService
from voicelab.defaults import ScriptedCall, ScriptedReplies, load_scripted_replies

__all__ = ["ScriptedLLMService", "ScriptedTurn", "scripted_reply", "scripted_turn"]

_IN_PROGRESS = "IN_PROGRESS"  # pipecat's tool message while the call runs


def scripted_reply(text: str, replies: ScriptedReplies | None = None) -> str:
    """The canned reply to the caller's ``text`` (the words said before any function call).

    Args:
        text: What the caller said.
        replies: The rules (default: the packaged ``scripted_replies.yaml``).
    """
    replies = replies or load_scripted_replies()
    rule, _ = replies.match(text)
    return rule.reply if rule is not None else replies.default


@dataclass
class ScriptedTurn:
    """What the scripted LLM answers a context with.

    Attributes:
        text: What it says (may be empty: a result with nothing to say).
        call: The function it calls after saying it, with its arguments, if any.
    """

    text: str
    call: tuple[str, dict[str, Any]] | None = None


def scripted_turn(messages: Sequence[Any], replies: ScriptedReplies) -> ScriptedTurn:
    """The scripted answer to a conversation (OpenAI-style messages, tool results included).

    The caller's last message picks the rule. Before any of its function results, the
    answer is the rule's reply and its first call; after the n-th result, the n-th call's
    ``then`` (or ``on_error``) and the next call.
    """
    said, results = _last_turn(messages)
    rule, keyword = replies.match(said)
    if rule is None:
        return ScriptedTurn(replies.default)
    if not results:
        return ScriptedTurn(rule.reply, _planned(rule.calls, 0, said, keyword))
    done = min(len(results), len(rule.calls))
    step, result = rule.calls[done - 1], results[-1]
    failed = isinstance(result, Mapping) and "error" in result
    if failed and step.on_error is not None:
        return ScriptedTurn(_fill(step.on_error, {"error": result["error"]}))
    fields = dict(result) if isinstance(result, Mapping) else {"result": result}
    return ScriptedTurn(_fill(step.then or "", fields), _planned(rule.calls, done, said, keyword))


def _last_turn(messages: Sequence[Any]) -> tuple[str, list[Any]]:
    """The caller's last words, and the function results that came after them, in order."""
    said, results = "", list[Any]()
    for message in messages:
        if not isinstance(message, Mapping):
            continue  # provider-specific messages carry nothing a rule reads
        role = message.get("role")
        if role == "user":
            said, results = _content(message.get("content")), []
        elif role == "tool" and message.get("content") != _IN_PROGRESS:
            results.append(_decoded(message.get("content")))
    return said, results


def _content(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _decoded(content: Any) -> Any:
    # pipecat puts a result in the context as JSON.
    try:
        return json.loads(content) if isinstance(content, str) else content
    except ValueError:
        return content


def _planned(
    calls: Sequence[ScriptedCall], index: int, said: str, keyword: str
) -> tuple[str, dict[str, Any]] | None:
    if index >= len(calls):
        return None
    call = calls[index]
    values = {"said": said.strip(), "keyword": keyword}
    args = {
        name: _fill(value, values) if isinstance(value, str) else value
        for name, value in call.args.items()
    }
    return call.name, args


def _fill(template: str, values: Mapping[str, Any]) -> str:
    """``{name}`` replaced by ``values[name]`` (nothing for a name it lacks; never raises)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "")), template).strip()


class ScriptedLLMService(LocalLLMService):
    """Answers with :func:`scripted_turn`, word by word, and calls its functions.

    Args:
        replies: The rules (default: the packaged ``scripted_replies.yaml``), read once here.
        **kwargs: For :class:`LocalLLMService`.
    """

    def __init__(self, *, replies: ScriptedReplies | None = None, **kwargs: Any) -> None:
        super().__init__(model_name="scripted", **kwargs)
        self._replies = replies or load_scripted_replies()
        self._calls_made = 0

    def stream_reply(self, messages: list[dict[str, str]], stop: threading.Event) -> Iterator[str]:
        """The reply's words (a text-only conversation: no function results)."""
        yield from _words(scripted_turn(messages, self._replies).text)

    async def respond(self, context: LLMContext) -> None:
        """Say the scripted answer, then make its function call, as a cloud LLM would."""
        turn = scripted_turn(list(context.get_messages()), self._replies)
        for word in _words(turn.text):
            await self.stop_ttfb_metrics()
            await self._push_llm_text(word)
        if turn.call is None:
            return
        name, args = turn.call
        self._calls_made += 1
        call = FunctionCallFromLLM(
            function_name=name,
            tool_call_id=f"scripted_{self._calls_made}_{name}",
            arguments=args,
            context=context,
        )
        await self.run_function_calls([call])


def _words(text: str) -> Iterator[str]:
    for index, word in enumerate(text.split(" ")):
        if word:
            yield word if index == 0 else " " + word
