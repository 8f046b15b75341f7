"""SmolLM2's replies as a caller hears them: whole clauses, short, and a primed prompt."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

import pytest

from voicelab.bot.persona import load_persona
from voicelab.bot.services import LlamaCppLLMService
from voicelab.bot.services.clauses import count_sentences

if TYPE_CHECKING:
    from voicelab.bot.models import ModelPool

pytestmark = pytest.mark.slow  # loads SmolLM2

COMPLAINTS = [
    "Hi, the chicken curry I had for lunch today was cold.",
    "The coffee in the lobby was burnt and the staff were rude to me.",
    "I found a hair in my salad and I want to know what you will do about it.",
]


def _conversation(line: str) -> list[dict[str, str]]:
    persona = load_persona("inbound", None)
    return [
        {"role": "system", "content": persona.system_prompt},
        {"role": "assistant", "content": persona.greeting},
        {"role": "user", "content": line},
    ]


def _reply(service: LlamaCppLLMService, line: str) -> str:
    return "".join(service.stream_reply(_conversation(line), threading.Event()))


@pytest.mark.parametrize("line", COMPLAINTS)
def test_a_reply_cut_by_its_token_budget_ends_after_a_whole_clause(
    model_pool: ModelPool, line: str
) -> None:
    service = LlamaCppLLMService(llama=model_pool.llm(), lock=model_pool.llm_lock, max_tokens=9)
    reply = _reply(service, line)
    # Nothing, or whole clauses: the last character before the space is punctuation.
    assert reply == "" or re.search(r"[,;:.?!]['\")\]]*\s*\Z", reply), repr(reply)


@pytest.mark.parametrize("line", COMPLAINTS)
def test_a_reply_stops_after_its_sentence_budget(model_pool: ModelPool, line: str) -> None:
    service = LlamaCppLLMService(
        llama=model_pool.llm(), lock=model_pool.llm_lock, max_tokens=200, max_sentences=1
    )
    reply = _reply(service, line)
    assert reply.strip(), "SmolLM2 said nothing"
    assert count_sentences(reply) <= 1, repr(reply)


def test_priming_keeps_the_system_prompt_in_the_cache(model_pool: ModelPool) -> None:
    llama = model_pool.llm()
    service = LlamaCppLLMService(llama=llama, lock=model_pool.llm_lock)
    system = _conversation("")[:1]
    service._evaluate(system)
    with model_pool.llm_lock:
        held = llama.detokenize(list(llama._input_ids)).decode(errors="ignore")
        cached = [
            llama.detokenize(list(key)).decode(errors="ignore") for key in llama.cache.cache_state
        ]
    prompt = system[0]["content"]
    assert prompt in held  # the state llama.cpp holds now starts with the persona
    assert any(prompt in text for text in cached)  # and a later call can reload it
