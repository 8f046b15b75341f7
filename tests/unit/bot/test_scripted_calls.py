"""The scripted LLM calls functions the way a real LLM does: pipecat's frames, handlers, context."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    LLMContextFrame,
    LLMTextFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.bot.agent import AgentContext
from voicelab.bot.call import CallInfo
from voicelab.bot.persona import load_persona
from voicelab.bot.services.scripted_llm import ScriptedLLMService, scripted_turn
from voicelab.bot.tools import GuestRelationsTools
from voicelab.config import Settings
from voicelab.defaults import ReplyRule, ScriptedCall, ScriptedReplies, load_scripted_replies
from voicelab.errors import ConfigError
from voicelab.recording.store import CallRecord

SID = "CA" + "5" * 32
ALLERGY = "My salad had nuts in it and I have a nut allergy."


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def called(name: str, call_id: str, result: Any) -> list[dict[str, Any]]:
    """The two messages pipecat's assistant aggregator leaves for one finished call."""
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
    return [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)},
    ]


# --- the rules: what is said, what is called --------------------------------------------------


def test_a_rule_says_its_reply_then_calls_its_first_function_with_the_callers_words() -> None:
    turn = scripted_turn([user(ALLERGY)], load_scripted_replies())
    assert turn.text == "I am sorry to hear that, allergies are serious."
    assert turn.call == (
        "log_feedback",
        {"site": "not given", "item": "nuts", "issue": ALLERGY, "severity": "high"},
    )


def test_the_next_reply_reads_the_result_and_makes_the_next_call() -> None:
    messages = [user(ALLERGY), *called("log_feedback", "a", {"ticket": "FB-000042"})]
    turn = scripted_turn(messages, load_scripted_replies())
    assert "ticket FB-000042" in turn.text and "duty manager" in turn.text
    assert turn.call is not None and turn.call[0] == "transfer_to_duty_manager"


def test_an_error_result_is_said_and_ends_the_chain() -> None:
    messages = [
        user(ALLERGY),
        *called("log_feedback", "a", {"ticket": "FB-000042"}),
        {"role": "assistant", "content": "I have logged it."},
        *called("transfer_to_duty_manager", "b", {"error": "no line"}),
    ]
    turn = scripted_turn(messages, load_scripted_replies())
    assert turn.text.startswith("I could not put you through just now")
    assert turn.call is None


def test_a_new_caller_turn_starts_from_its_own_rule() -> None:
    messages = [user(ALLERGY), *called("log_feedback", "a", {"ticket": "x"}), user("Goodbye.")]
    turn = scripted_turn(messages, load_scripted_replies())
    assert turn.call == ("end_call", {})
    assert turn.text.endswith("Goodbye.")


@pytest.mark.parametrize(
    ("line", "function"),
    [
        ("I am furious, this is unacceptable.", "transfer_to_duty_manager"),
        ("I want to speak to a manager.", "transfer_to_duty_manager"),
        ("No, that was all. Goodbye.", "end_call"),
        ("It was the chicken salad at the Manchester site.", "lookup_site"),
        ("Hi, the soup was cold and the bread was stale.", None),  # an apology, no call
        ("I have some feedback.", None),  # the default reply
    ],
)
def test_the_packaged_rules_call_what_a_guest_relations_executive_would(
    line: str, function: str | None
) -> None:
    turn = scripted_turn([user(line)], load_scripted_replies())
    assert (turn.call[0] if turn.call else None) == function


def test_a_site_rule_names_the_site_it_heard_and_says_where_it_is() -> None:
    line = "It was the chicken salad at the Manchester site."
    assert scripted_turn([user(line)], load_scripted_replies()).call == (
        "lookup_site",
        {"name": "manchester"},
    )
    site = {"name": "Manchester Staff Restaurant", "address": "22 Sample Road"}
    text = scripted_turn([user(line), *called("lookup_site", "a", site)], load_scripted_replies())
    assert text.text.startswith("That is our Manchester Staff Restaurant at 22 Sample Road.")


def test_a_replies_file_names_a_bad_function(tmp_path: Path) -> None:
    from voicelab.defaults import load_scripted_replies as load

    path = tmp_path / "replies.yaml"
    path.write_text(
        "rules: [{keywords: [x], reply: y, calls: [{name: 'log feedback'}]}]\ndefault: z\n"
    )
    with pytest.raises(ConfigError, match=r"rules\.0\.calls\.0\.name"):
        load(path)


# --- through pipecat: the handlers run, the frames flow, the result is in the context ---------


class Pushed(BaseObserver):
    """What one processor pushed downstream (what pipecat's FunctionCallObserver sees)."""

    def __init__(self, source: object) -> None:
        super().__init__(observe_every_push=False)
        self.source = source
        self.frames: list[Frame] = []

    async def on_push_frame(self, data: FramePushed) -> None:
        if data.source is self.source and data.direction is FrameDirection.DOWNSTREAM:
            self.frames.append(data.frame)


def _pipeline_run(line: str, tmp_path: Path, replies: ScriptedReplies | None = None) -> Any:
    call = CallInfo(SID, "MZ" + "5" * 32, "", "inbound", "+15557770000", "+15550001111")
    record = CallRecord.open(tmp_path, SID, "server")
    ctx = AgentContext(
        call, Settings(recordings_dir=tmp_path), None, load_persona("inbound"), record
    )
    tools = GuestRelationsTools(ctx)
    llm = ScriptedLLMService(replies=replies)
    tools.register(llm)
    context = LLMContext(
        [{"role": "system", "content": "You help guests."}, user(line)], tools=tools.schemas
    )
    pair = LLMContextAggregatorPair(context)
    pushed = Pushed(llm)
    asyncio.run(
        run_test(
            Pipeline([llm, pair.assistant()]),
            frames_to_send=[LLMContextFrame(context), SleepFrame(0.5)],
            observers=[pushed],
        )
    )
    return pushed.frames, context, record, tools


def _texts(frames: list[Frame]) -> str:
    return "".join(frame.text for frame in frames if isinstance(frame, LLMTextFrame))


def test_an_allergy_logs_then_transfers_through_pipecats_function_calling(tmp_path: Path) -> None:
    down, context, record, tools = _pipeline_run(ALLERGY, tmp_path)
    # The handlers ran: the feedback is in call.json, with the ticket the bot then said.
    ticket = tools.ticket(1)
    assert record.read_manifest()["feedback"][0]["ticket"] == ticket
    # pipecat's function-call frames went through the pipeline (what FunctionCallObserver sees).
    results = [f for f in down if isinstance(f, FunctionCallResultFrame)]
    assert [f.function_name for f in results] == ["log_feedback", "transfer_to_duty_manager"]
    assert results[0].result == {"ticket": ticket}
    assert sum(isinstance(f, FunctionCallsStartedFrame) for f in down) == 2
    assert sum(isinstance(f, FunctionCallInProgressFrame) for f in down) == 2
    # The results went back into the context, and each next reply was built on them.
    tools_said = [m["content"] for m in context.get_messages() if m.get("role") == "tool"]
    assert json.loads(tools_said[0]) == {"ticket": ticket}
    assert "no Twilio credentials" in json.loads(tools_said[1])["error"]
    spoken = _texts(down)
    assert f"ticket {ticket}" in spoken
    assert spoken.endswith("Which site and dish was it?")  # the transfer's on_error


def test_a_goodbye_ends_the_call_after_it_is_said(tmp_path: Path) -> None:
    down, context, _, _ = _pipeline_run("No, that was all. Goodbye.", tmp_path)
    assert _texts(down).endswith("Goodbye.")
    ends = [f for f in down if isinstance(f, EndWorkerFrame)]
    assert len(ends) == 1 and "end_call" in ends[0].reason
    # After the goodbye the LLM does not run again (the result asked for no more).
    assistant = [
        m for m in context.get_messages() if m.get("role") == "assistant" and m.get("content")
    ]
    assert len(assistant) == 1


def test_a_users_own_rule_calls_a_function_of_their_own(tmp_path: Path) -> None:
    replies = ScriptedReplies(
        rules=(
            ReplyRule(
                keywords=("site",),
                reply="One moment.",
                calls=(
                    ScriptedCall(name="lookup_site", args={"name": "riverside"}, then="{address}."),
                ),
            ),
        ),
        default="Hm.",
    )
    down, _, _, _ = _pipeline_run("which site", tmp_path, replies)
    assert _texts(down) == "One moment.1 Placeholder Quay, Bristol BS1 4EF."
