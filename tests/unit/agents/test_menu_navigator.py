"""The sample IVR agent: pipecat's IVRNavigator with a deterministic LLM presses the right key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pipecat.extensions.ivr.ivr_navigator import IVRNavigator
from pipecat.frames.frames import LLMMessagesAppendFrame, OutputDTMFUrgentFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.agents.menu_navigator import GOAL, GOAL_KEYWORDS, menu_navigator
from voicelab.bot.agent import AgentContext, load_agent
from voicelab.bot.call import CallInfo
from voicelab.bot.persona import load_persona
from voicelab.bot.services.menu_llm import MenuChoiceLLMService, menu_answer, menu_options
from voicelab.config import Settings
from voicelab.recording.observer import CallEventObserver
from voicelab.recording.store import CallRecord

MENU = "Thank you for calling Compass Group. For facilities, press 1. For catering, press 2."


@pytest.mark.parametrize(
    ("prompt", "options"),
    [
        (MENU, {"1": "facilities", "2": "catering"}),
        ("Press 1 for billing, press 2 for catering.", {"1": "billing", "2": "catering"}),
        (
            "press three to reach catering. press star for the menu",
            {"3": "reach catering", "*": "the menu"},
        ),
        ("Please hold.", {}),
    ],
)
def test_menu_options_are_read_in_either_order_digits_or_words(
    prompt: str, options: dict[str, str]
) -> None:
    assert menu_options(prompt) == options


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        (MENU, "<dtmf>2</dtmf>"),
        ("For billing, press 1. For sales, press 2.", "<ivr>wait</ivr>"),
        ("Catering. Please hold while we connect you.", "<ivr>completed</ivr>"),
        # Whisper's transcript of "For deliveries, press 1. For catering, press 2.": its
        # full stops gone, "press 1 for catering" reads wrong; the menu's phrasing wins.
        ("Thanks for calling, for deliveries, press 1 for catering, press 2.", "<dtmf>2</dtmf>"),
    ],
)
def test_the_navigator_presses_the_goals_key_waits_or_is_through(prompt: str, answer: str) -> None:
    assert menu_answer(prompt, GOAL_KEYWORDS) == answer


def test_the_navigator_presses_the_key_and_the_record_says_so(tmp_path: Path) -> None:
    record = CallRecord.open(tmp_path, "CA" + "9" * 32, "server")
    navigator = IVRNavigator(llm=MenuChoiceLLMService(goal=GOAL_KEYWORDS), ivr_prompt=GOAL)
    pair = LLMContextAggregatorPair(LLMContext())
    heard = LLMMessagesAppendFrame([{"role": "user", "content": MENU}], run_llm=True)
    down, _ = asyncio.run(
        run_test(
            Pipeline([pair.user(), navigator, pair.assistant()]),
            frames_to_send=[SleepFrame(0.2), heard, SleepFrame(0.5)],
            observers=[CallEventObserver(record)],
        )
    )
    keys = [f for f in down if isinstance(f, OutputDTMFUrgentFrame)]
    assert [f.to_string() for f in keys] == ["2"]
    record.flush()
    events = [json.loads(line) for line in record.events_path.read_text().splitlines()]
    assert [e["data"]["digit"] for e in events if e["type"] == "dtmf.sent"] == ["2"]


def _context(tmp_path: Path, **settings: Any) -> AgentContext:
    call = CallInfo(
        "CA" + "2" * 32, "MZ" + "2" * 32, "", "outbound", "+15550001111", "+15557770000"
    )
    record = CallRecord.open(tmp_path, call.call_sid, "server")
    settings = Settings(recordings_dir=tmp_path, **settings)
    return AgentContext(call, settings, None, load_persona("outbound"), record)


def test_the_sample_goes_through_the_agent_seam(tmp_path: Path) -> None:
    agent = load_agent("voicelab.agents.menu_navigator:menu_navigator")
    assert agent is menu_navigator
    parts = agent(_context(tmp_path, providers="instant"))
    names = [type(p).__name__ for p in parts.processors]  # type: ignore[union-attr]
    assert names == ["InstantSTTService", "LLMUserAggregator", "IVRNavigator", "InstantTTSService"]
    navigator = parts.processors[2]  # type: ignore[index]
    assert isinstance(navigator._llm, MenuChoiceLLMService)
    assert parts.greeting is None  # the menu speaks first
