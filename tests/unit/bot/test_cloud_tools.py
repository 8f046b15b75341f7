"""The cloud LLM calls the reference agent's tools through real function calling.

A fake OpenAI-compatible server on 127.0.0.1 (``VOICELAB_OPENAI_BASE_URL``) answers the first
completion with a streamed ``tool_calls`` delta and the next one with text: what an OpenAI
model does. The reference agent's own processors (its ``OpenAILLMService`` and assistant
aggregator) run in a pipecat pipeline against it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from helpers import serve_app
from pipecat.frames.frames import LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_response_universal import LLMAssistantAggregator
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.bot.agent import AgentContext
from voicelab.bot.call import CallInfo
from voicelab.bot.persona import load_persona
from voicelab.bot.reference_agent import reference_agent
from voicelab.bot.tools import TOOLS_PROMPT
from voicelab.config import Settings
from voicelab.recording.store import CallRecord

KEYS = {
    "openai_api_key": "sk-test",
    "deepgram_api_key": "dg-test",
    "cartesia_api_key": "ca-test",
    "cartesia_voice_id": "voice-test",
}
ANSWER = "That is our Manchester Staff Restaurant, on Sample Road."


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def fake_openai() -> tuple[FastAPI, list[dict[str, Any]]]:
    """``/v1/chat/completions``: a tool call first, then (with its result) text."""
    app = FastAPI()
    requests: list[dict[str, Any]] = []

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> StreamingResponse:
        body = await request.json()
        requests.append(body)
        answered = any(m.get("role") == "tool" for m in body["messages"])

        def stream() -> Iterator[str]:
            yield _chunk({"role": "assistant", "content": None})
            if answered:
                for word in ANSWER.split(" "):
                    yield _chunk({"content": word + " "})
                yield _chunk({}, "stop")
            else:
                # The arguments arrive in pieces, as OpenAI streams them.
                call = {"id": "call_1", "type": "function", "function": {"name": "lookup_site"}}
                yield _chunk(
                    {
                        "tool_calls": [
                            {"index": 0, **call, "function": {**call["function"], "arguments": ""}}
                        ]
                    }
                )
                for piece in ('{"name": ', '"Manchester"}'):
                    yield _chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                yield _chunk({}, "tool_calls")
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app, requests


def test_the_cloud_llm_calls_a_tool_and_answers_with_its_result(tmp_path: Path) -> None:
    app, requests = fake_openai()
    with serve_app(app) as url:
        settings = Settings(
            providers="cloud", recordings_dir=tmp_path, openai_base_url=f"{url}/v1", **KEYS
        )
        call = CallInfo("CA" + "3" * 32, "MZ" + "3" * 32, "", "inbound", "+15557770000", "+1555")
        record = CallRecord.open(tmp_path, call.call_sid, "server")
        parts = reference_agent(AgentContext(call, settings, None, load_persona("inbound"), record))
        llm = next(p for p in parts.processors if isinstance(p, OpenAILLMService))
        assistant = next(p for p in parts.after_output if isinstance(p, LLMAssistantAggregator))
        context = assistant.context
        context.add_message({"role": "user", "content": "Where is the Manchester site?"})
        asyncio.run(
            run_test(
                Pipeline([llm, assistant]),
                frames_to_send=[LLMContextFrame(context), SleepFrame(1.5)],
            )
        )

    assert len(requests) == 2, requests
    first, second = requests
    # The model was offered the four tools, with the persona told how to use them.
    offered = [tool["function"]["name"] for tool in first["tools"]]
    assert offered == ["log_feedback", "lookup_site", "transfer_to_duty_manager", "end_call"]
    assert TOOLS_PROMPT in first["messages"][0]["content"]
    # The handler ran on its arguments, and its result went back as the tool message.
    (tool,) = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool["tool_call_id"] == "call_1"
    site = json.loads(tool["content"])
    assert site["name"] == "Manchester Staff Restaurant" and "Sample Road" in site["address"]
    # The next completion's text is the bot's answer, after the call, in the context.
    *_, asked, answered, answer = context.get_messages()
    assert asked["tool_calls"][0]["function"]["name"] == "lookup_site"
    assert answered["content"] == tool["content"]
    assert answer == {"role": "assistant", "content": ANSWER}
