"""SmolLM2's tools, when asked for (VOICELAB_OFFLINE_TOOLS): one bounded call per caller turn."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pipecat.frames.frames import LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.bot.agent import AgentContext
from voicelab.bot.call import CallInfo
from voicelab.bot.persona import load_persona
from voicelab.bot.services.llama_cpp_llm import LlamaCppLLMService
from voicelab.bot.services.llama_tools import LlamaToolChooser, tool_notes, tools_prompt
from voicelab.bot.tools import SCHEMAS, GuestRelationsTools
from voicelab.config import Settings
from voicelab.recording.store import CallRecord

pytest.importorskip("llama_cpp")

TOOLS = [{"type": "function", "function": s.to_default_dict()} for s in SCHEMAS.standard_tools]


class FakeLlama:
    """A ``llama_cpp.Llama`` that answers from a script and keeps every prompt it was given."""

    def __init__(self, completions: list[str], reply: str = "Thank you.") -> None:
        self.completions = list(completions)
        self.reply = reply
        self.prompts: list[str] = []
        self.chats: list[list[dict[str, str]]] = []

    def create_completion(self, prompt: str, **_: Any) -> dict[str, Any]:
        self.prompts.append(prompt)
        return {"choices": [{"text": self.completions.pop(0)}]}

    def create_chat_completion(self, messages: list[dict[str, str]], **_: Any) -> Any:
        self.chats.append(messages)
        return iter([{"choices": [{"delta": {"content": self.reply}, "finish_reason": "stop"}]}])


def test_the_prompt_lists_the_functions_in_the_system_message() -> None:
    prompt = tools_prompt(
        [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}], TOOLS
    )
    assert prompt.startswith(
        "<|im_start|>system\nBe kind.\n\nYou have access to the following functions:"
    )
    assert "functions.lookup_site:\n" in prompt and prompt.endswith("<|im_start|>assistant\n")


def test_one_call_at_most_and_a_cut_argument_list_is_no_call() -> None:
    llama = FakeLlama(["functions.lookup_site", '{"name": "Leeds"}'])
    assert LlamaToolChooser(llama).choose([{"role": "user", "content": "x"}], TOOLS) == (
        "lookup_site",
        {"name": "Leeds"},
    )
    assert llama.prompts[1].endswith("functions.lookup_site:\n")
    assert len(llama.prompts) == 2  # never "and another one?"
    assert LlamaToolChooser(FakeLlama(["message:"])).choose([], TOOLS) is None
    assert LlamaToolChooser(FakeLlama(["functions.end_call", '{"a": "b'])).choose([], TOOLS) is None


def test_a_result_reaches_the_model_as_a_system_note() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup_site", "arguments": "{}"}}
    notes = tool_notes(
        [
            {"role": "user", "content": "Where is Leeds?"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"address": "5 Specimen Way"}'},
        ]
    )
    assert notes == [
        {"role": "user", "content": "Where is Leeds?"},
        {"role": "system", "content": 'lookup_site returned {"address": "5 Specimen Way"}'},
    ]


def test_with_tools_on_smollm2s_call_runs_and_its_next_reply_sees_the_result(
    tmp_path: Path,
) -> None:
    call = CallInfo("CA" + "1" * 32, "MZ" + "1" * 32, "", "inbound", "+15557770000", "+15550001111")
    record = CallRecord.open(tmp_path, call.call_sid, "server")
    ctx = AgentContext(
        call, Settings(recordings_dir=tmp_path), None, load_persona("inbound"), record
    )
    llama = FakeLlama(["functions.lookup_site", '{"name": "Leeds"}'], reply="It is in Leeds.")
    llm = LlamaCppLLMService(llama=llama, lock=threading.Lock(), tool_calls=True)
    GuestRelationsTools(ctx).register(llm)
    context = LLMContext(
        [{"role": "system", "content": "Help."}, {"role": "user", "content": "Where is Leeds?"}],
        tools=SCHEMAS,
    )
    pair = LLMContextAggregatorPair(context)
    asyncio.run(
        run_test(
            Pipeline([llm, pair.assistant()]),
            frames_to_send=[LLMContextFrame(context), SleepFrame(0.5)],
        )
    )
    (after_result,) = llama.chats  # the reply after the call, in words
    assert after_result[-1]["role"] == "system" and after_result[-1]["content"].startswith(
        "lookup_site returned "
    )
    assert json.loads(after_result[-1]["content"].split("returned ", 1)[1])["name"] == (
        "Leeds General Hospital Cafe"
    )
    assert context.get_messages()[-1] == {"role": "assistant", "content": "It is in Leeds."}


def test_without_tools_smollm2_only_talks() -> None:
    llama = FakeLlama([], reply="Hello.")
    llm = LlamaCppLLMService(llama=llama, lock=threading.Lock())
    context = LLMContext([{"role": "user", "content": "Where is Leeds?"}], tools=SCHEMAS)
    asyncio.run(run_test(llm, frames_to_send=[LLMContextFrame(context), SleepFrame(0.2)]))
    assert llama.prompts == [] and len(llama.chats) == 1
