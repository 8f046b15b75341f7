"""Function calling for a small ChatML model in llama.cpp: one grammar-bound call, then words.

llama-cpp-python's ``chatml-function-calling`` chat handler lists the functions in the system
prompt and lets a grammar choose between ``message:`` and ``functions.<name>:``, then builds
the arguments with a grammar made from the function's JSON schema. It then asks for one more
call, and one more, until the model stops calling: SmolLM2-135M often never stops, fills its
2,048-token context and the handler raises, after holding the model (shared by every call)
for up to two minutes (bench/RESULTS.md). :class:`LlamaToolChooser` asks the same two
questions with the same prompt, once each, with a token budget: at most one call per turn.

The model sees a result as a system note in its next prompt (the handler's template has no
place for tool results): :func:`tool_notes`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from loguru import logger

__all__ = ["LlamaToolChooser", "tool_notes", "tools_prompt"]


def tools_prompt(messages: Sequence[Mapping[str, str]], tools: Sequence[Mapping[str, Any]]) -> str:
    """The ChatML prompt of llama-cpp-python's function-calling handler, ready for the answer."""
    listed = "".join(
        f"\nfunctions.{t['function']['name']}:\n{json.dumps(t['function']['parameters'])}\n"
        for t in tools
    )
    instructions = (
        f"\n\nYou have access to the following functions:\n{listed}"
        "\n\nYou can respond to users messages with either a single message or one or more"
        " function calls.\n\nTo respond with a message begin the message with 'message:', use"
        " the following format:\n\nmessage:\n<message>\n\nTo respond with one or more function"
        " calls begin the message with 'functions.<function_name>:', use the following"
        ' format:\n\nfunctions.<function_name>:\n{ "arg1": "value1", "arg2": "value2" }'
        '\nfunctions.<function_name>:\n{ "arg1": "value1", "arg2": "value2" }'
    )
    prompt = ""
    for message in messages:
        content = message["content"]
        if message["role"] == "system":
            content += instructions
        prompt += f"<|im_start|>{message['role']}\n{content}<|im_end|>\n"
    return prompt + "<|im_start|>assistant\n"


def tool_notes(messages: Sequence[Any]) -> list[dict[str, str]]:
    """Chat messages with each function call's result as a system note, for a text model.

    Args:
        messages: An ``LLMContext``'s messages (OpenAI style, tool calls and results included).
    """
    names: dict[str, str] = {}
    notes: list[dict[str, str]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        for call in message.get("tool_calls") or ():
            names[call.get("id", "")] = call.get("function", {}).get("name", "a function")
        if message.get("role") == "tool" and message.get("content") != "IN_PROGRESS":
            name = names.get(message.get("tool_call_id", ""), "a function")
            notes.append({"role": "system", "content": f"{name} returned {message['content']}"})
        elif message.get("role") in ("system", "user", "assistant") and message.get("content"):
            notes.append({"role": str(message["role"]), "content": str(message["content"])})
    return notes


class LlamaToolChooser:
    """Picks at most one function call for the conversation so far, or none.

    Args:
        llama: A loaded ``llama_cpp.Llama`` (a ChatML model; use under its lock).
        temperature: Sampling temperature of the arguments (the choice is greedy).
        max_tokens: Token budget of the arguments.
    """

    def __init__(self, llama: Any, *, temperature: float = 0.3, max_tokens: int = 120) -> None:
        self._llama = llama
        self._temperature = temperature
        self._max_tokens = max_tokens
        self.chosen: str | None = None  # the last function picked, its arguments whole or not

    def choose(
        self, messages: Sequence[Mapping[str, str]], tools: Sequence[Mapping[str, Any]]
    ) -> tuple[str, dict[str, Any]] | None:
        """``(name, arguments)`` of the call the model makes, or ``None`` for words."""
        from llama_cpp.llama_grammar import LlamaGrammar

        prompt = tools_prompt(messages, tools)
        names = " | ".join(f'"functions.{t["function"]["name"]}:"' for t in tools)
        pick = LlamaGrammar.from_string(
            f'root ::= functions | "message:"\nfunctions ::= {names}\n', verbose=False
        )
        # Greedy, like the handler; the budget fits the longest name ("functions.
        # transfer_to_duty_manager" is 17 tokens), the grammar allows nothing longer.
        longest = max(len(t["function"]["name"]) for t in tools)
        first = self._llama.create_completion(
            prompt=prompt, temperature=0, max_tokens=longest + 16, stop=[":"], grammar=pick
        )
        text = first["choices"][0]["text"]
        tool = next((t for t in tools if text == f"functions.{t['function']['name']}"), None)
        self.chosen = tool["function"]["name"] if tool is not None else None
        if tool is None:
            return None
        schema = LlamaGrammar.from_json_schema(
            json.dumps(tool["function"]["parameters"]), verbose=False
        )
        answer = self._llama.create_completion(
            prompt=f"{prompt}{text}:\n",
            temperature=self._temperature,
            max_tokens=self._max_tokens,
            grammar=schema,
        )
        try:
            arguments = json.loads(answer["choices"][0]["text"])
        except ValueError:
            logger.info(f"{self.chosen}: its arguments ran past {self._max_tokens} tokens")
            return None  # cut by the budget: no call rather than a broken one
        return tool["function"]["name"], arguments if isinstance(arguments, dict) else {}
