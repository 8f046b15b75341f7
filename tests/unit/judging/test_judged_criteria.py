"""Judged criteria: pipecat's judge on a recorded call, its verdicts in the record and the checks.

The plumbing runs with a deterministic pipecat classifier (a reply "meets" a criterion when
it says sorry); one slow test asks the real offline judge (SmolLM2) about labelled replies.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from pipecat.classifiers.base_classifier import (
    BaseClassifier,
    ChoiceResult,
    YesNoQuestion,
    YesNoResult,
)
from pydantic import SecretStr

from voicelab.analysis import check_expectations, judgments_df, scores_df, turns_df
from voicelab.config import Settings
from voicelab.errors import ConfigError
from voicelab.judging import CriteriaJudge, ajudge_reply, judge_call, read_conversation
from voicelab.recording.store import CallRecord
from voicelab.testing import assert_expectations, expectation_checks

LABELS = Path(__file__).resolve().parents[2] / "data" / "judge_labels.yaml"
SID = "CAjudged0000000000000000000000001"
EXPECTATIONS = [
    {"turn": 1, "eval": "The reply apologises."},
    {"turn": 2, "eval": "The reply apologises."},
    {"eval": "The caller is apologised to."},
    {"turn": 1, "contains": "sorry"},
]
METRICS = [{"name": "empathy", "criterion": "Says sorry.", "min_score": 0.5}]


class SaysSorry(BaseClassifier):
    """Yes (or ``meets``) when the text judged says sorry; counts the questions asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def _ask(self, state: Any, questions: Any, images: Any = ()) -> Any:
        self.asked += 1
        text = state.get("latest_bot_reply") or json.dumps(state)
        ok = "sorry" in text.lower()
        out: dict[str, Any] = {}
        for name, question in questions.items():
            if isinstance(question, YesNoQuestion):
                out[name] = YesNoResult(probability=float(ok))
            else:
                yes, no = ("yes", "no") if "yes" in question.options else ("meets", "fails")
                pick = yes if ok else no
                probabilities = {o: float(o == pick) for o in question.options}
                out[name] = ChoiceResult(choice=pick, confidence=1.0, probabilities=probabilities)
        return out, None


def _record(root: Path, expectations: list[dict[str, Any]] = EXPECTATIONS) -> Path:
    """A call record written through the project's writer: a greeting and two exchanges,
    a function call in the second."""
    record = CallRecord.open(root, SID, "server")
    record.set_manifest(call_sid=SID, status="completed")
    record.emit("call.started", call_sid=SID, direction="inbound")
    record.emit("llm.response", turn=0, text="Hello, Compass Group guest relations.")
    exchanges = [
        ("The soup was cold.", "I'm sorry the soup was cold. Which site was it?"),
        ("The London office.", "Thank you, I've logged it for the London team."),
    ]
    for n, (said, reply) in enumerate(exchanges, 1):
        record.emit("user.speech_started", turn=n - 1)
        record.emit("stt.transcript", turn=n - 1, text=said, final=True)
        record.emit("user.speech_stopped", turn=n)
        if n == 2:
            args = {"site": "London"}
            record.emit("function_call.started", turn=n, name="log", call_id="c1", arguments=args)
            record.emit("function_call.completed", turn=n, name="log", call_id="c1", result="{}")
        record.emit("llm.response", turn=n, text=reply)
    record.emit("call.ended", turn=2, reason="stop")
    scenario = {"id": "judged", "expectations": expectations, "metrics": METRICS}
    CallRecord(record.directory, "caller").update_manifest(scenario=scenario)
    record.flush()
    return record.directory


@pytest.fixture
def call_dir(tmp_path: Path) -> Path:
    return _record(tmp_path / "recordings")


def test_the_conversation_is_read_from_the_record(call_dir: Path) -> None:
    conversation = read_conversation(call_dir)
    roles = [m["role"] for m in conversation.messages]
    assert roles == ["assistant", "user", "assistant", "user", "tool_call", "assistant"]
    assert conversation.messages[4]["arguments"] == {"site": "London"}
    assert conversation.reply_turns == [0, 1, 2]


def test_each_verdict_and_its_reason_is_recorded_and_loads_as_a_table(call_dir: Path) -> None:
    judge = CriteriaJudge(SaysSorry(), name="test:sorry")
    verdicts = judge_call(call_dir, judge)
    events = [json.loads(line) for line in (call_dir / "events.jsonl").read_text().splitlines()]
    written = [e for e in events if e["type"] == "judge.verdict"]
    assert len(written) == len(verdicts) == 7  # 2 replies, success, 3 replies + score
    assert {e["source"] for e in written} == {"judge"}
    table = judgments_df(call_dir.parent, cache=False)
    evals = table[table["kind"] == "eval"].set_index("turn")
    assert evals.loc[1, "passed"] and not evals.loc[2, "passed"]
    assert evals.loc[2, "reason"].startswith("P(yes)=0.00")
    assert list(table.loc[table["kind"] == "metric", "turn"]) == [0, 1, 2]
    score = table[table["kind"] == "score"].iloc[0]
    assert score["score"] == pytest.approx(1 / 3) and not score["passed"]
    assert "turn 0:" in score["reason"] and "turn 2:" in score["reason"]
    assert set(table["judge"]) == {"test:sorry"}


def test_an_unchanged_call_is_not_judged_twice(call_dir: Path) -> None:
    classifier = SaysSorry()
    judge = CriteriaJudge(classifier, name="test:sorry")
    first = judge_call(call_dir, judge)
    asked = classifier.asked
    again = judge_call(call_dir, judge)
    assert asked > 0 and classifier.asked == asked
    assert sorted(v.key for v in again) == sorted(v.key for v in first)
    assert len(judgments_df(call_dir, cache=False)) == len(first)
    other = judge_call(call_dir, CriteriaJudge(SaysSorry(), name="test:other"))
    assert {v.judge for v in other} == {"test:other"}  # another judge is asked afresh


def test_eval_and_metric_checks_pass_and_fail_with_the_judges_reason(call_dir: Path) -> None:
    judge = CriteriaJudge(SaysSorry(), name="test:sorry")
    checks = expectation_checks(call_dir, judge=judge)
    judged = checks[checks["check"].isin(["expect.eval", "metric.empathy"])]
    by = {(row.check, None if pd.isna(row.turn) else row.turn): row for row in judged.itertuples()}
    assert by[("expect.eval", 1)].passed
    assert not by[("expect.eval", 2)].passed
    assert "no (test:sorry)" in by[("expect.eval", 2)].detail
    assert not by[("metric.empathy", None)].passed  # 1 of 3 replies, min 0.5
    assert "score 0.33 (min 0.50)" in by[("metric.empathy", None)].detail
    with pytest.raises(AssertionError, match="turn 2 eval"):
        assert_expectations(call_dir, judge=judge)


def test_scores_read_the_recorded_verdicts_and_an_unjudged_one_is_undecided(
    call_dir: Path,
) -> None:
    turns = turns_df(call_dir, recording=False, cache=False)
    unjudged = check_expectations(turns, {SID: EXPECTATIONS})
    assert unjudged.loc[unjudged["check"] == "expect.eval", "passed"].isna().all()
    judge_call(call_dir, CriteriaJudge(SaysSorry(), name="test:sorry"))
    scores = scores_df(call_dir.parent)
    judged = scores[scores["check"].isin(["expect.eval", "metric.empathy"])]
    assert list(judged["passed"]) == [True, False, True, False]


def test_no_judge_is_a_config_error_never_a_pass(
    call_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="VOICELAB_JUDGE_API_KEY"):
        CriteriaJudge.from_settings(Settings(judge="openai"))
    monkeypatch.setenv("VOICELAB_JUDGE", "openai")
    monkeypatch.delenv("VOICELAB_JUDGE_API_KEY", raising=False)
    with pytest.raises(ConfigError):
        expectation_checks(call_dir)


def test_a_call_without_criteria_builds_no_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _record(tmp_path, [{"turn": 1, "contains": "sorry"}])
    monkeypatch.setenv("VOICELAB_JUDGE", "openai")  # unusable: never built
    monkeypatch.delenv("VOICELAB_JUDGE_API_KEY", raising=False)
    # METRICS are still in the scenario: drop them for this call.
    record = CallRecord(directory, "caller")
    record.update_manifest(scenario={"id": "plain", "expectations": [{"turn": 1, "contains": "x"}]})
    record.flush()
    assert judge_call(directory) == []


def test_the_judges_settings_keep_the_key_secret_and_the_fingerprint() -> None:
    plain = Settings()
    judged = Settings(judge="openai", judge_api_key=SecretStr("sk-test-secret"), judge_model="m")
    assert plain.judge == "offline"
    assert "sk-test-secret" not in repr(judged)
    assert plain.fingerprint() == judged.fingerprint()
    judge = CriteriaJudge.from_settings(judged)
    assert judge.name == "openai:m"
    ollama = CriteriaJudge.from_settings(Settings(judge="ollama"))
    assert ollama.name == "ollama:llama3.2"


@pytest.mark.slow
def test_the_offline_judge_answers_labelled_replies() -> None:
    """The real offline judge (SmolLM2 through llama.cpp) gives a verdict and a reason.

    Its agreement with the labels is measured in bench/bench_judge.py, not asserted: the
    135M model is a weak judge (README).
    """
    items = yaml.safe_load(LABELS.read_text())["items"][:2]
    judge = CriteriaJudge.from_settings(Settings(judge="offline"))

    async def judged() -> list[Any]:
        out = []
        for item in items:
            said = [{"role": "user", "content": item["caller"]}]
            reply = [{"role": "assistant", "content": item["reply"]}]
            out.append(await ajudge_reply(judge, said + reply, item["criterion"]))
        return out

    verdicts = asyncio.run(judged())
    assert [v.verdict in ("yes", "no") for v in verdicts] == [True, True]
    assert all(v.reason for v in verdicts)
    assert judge.name.startswith("offline:SmolLM2")
