"""Judging one call record: pipecat's judges on its criteria, each verdict into the record.

* an ``eval:`` with a ``turn``: ``EvalJudge.evaluate`` on that reply, told the
  conversation up to it;
* an ``eval:`` without one (pipecat's ``success:``) and the scenario's ``metrics:``:
  ``EvalSimulationJudge`` over the whole conversation (the goal question, and every bot
  reply on every metric, with pipecat's score and ``min_score`` rule).

Each verdict becomes a ``judge.verdict`` event in ``events.jsonl`` with a ``key`` hashing
what was judged (criterion, conversation, judge): judging an unchanged call again with the
same judge reads the verdicts back instead of asking the LLM.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipecat.evals.judge import EvalJudge, JudgeVerdict
from pipecat.evals.simulation import EvalSimulationMetric, EvalSimulationScenario
from pipecat.evals.simulation_judge import EvalSimulationJudge

from voicelab.expectations import Expectation
from voicelab.judging._backends import CriteriaJudge
from voicelab.judging._conversation import Conversation, read_conversation
from voicelab.recording.contract import JUDGE_VERDICT, CallManifest
from voicelab.recording.store import CallRecord

__all__ = ["Metric", "Verdict", "ajudge_call", "ajudge_reply", "criteria_of"]

# A run with metrics and no whole-call eval still gets pipecat's goal question; its verdict
# is not recorded (nothing asked for it).
_NO_GOAL = "The bot answers the caller."


@dataclass(frozen=True)
class Metric:
    """A criterion judged on every reply (a scenario's ``metrics:`` entry)."""

    name: str
    criterion: str
    min_score: float | None = None


@dataclass(frozen=True)
class Verdict:
    """One verdict, as the ``judge.verdict`` event records it (see the record contract)."""

    kind: str
    criterion: str
    passed: bool
    verdict: str
    reason: str
    judge: str
    key: str
    turn: int | None = None
    metric: str | None = None
    confidence: float | None = None
    score: float | None = None
    min_score: float | None = None


def criteria_of(
    directory: Path,
    expectations: Iterable[Expectation] | None = None,
    metrics: Iterable[Any] | None = None,
) -> tuple[list[Expectation], list[Metric]]:
    """The judged criteria of a call: the given ones, else its ``call.json``'s scenario's."""
    if expectations is None or metrics is None:
        manifest = CallManifest.model_validate(
            json.loads((directory / "call.json").read_text(encoding="utf-8"))
        )
        scenario = manifest.scenario
        if expectations is None:
            listed = (scenario.expectations if scenario else None) or []
            expectations = [Expectation.from_dict(e) for e in listed if isinstance(e, Mapping)]
        if metrics is None:
            metrics = (scenario.metrics if scenario else None) or []
    judged = [e for e in expectations if e.eval is not None]
    return judged, [_metric(m) for m in metrics]


def _metric(item: Any) -> Metric:
    get = item.get if isinstance(item, Mapping) else lambda name: getattr(item, name, None)
    return Metric(str(get("name")), str(get("criterion")), get("min_score"))


def _key(judge: CriteriaJudge, *parts: Any) -> str:
    text = json.dumps([judge.name, *parts], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _recorded(directory: Path) -> tuple[dict[str, list[Verdict]], float]:
    """The verdicts already in the record, by key, and the last event's ``t``."""
    found: dict[str, list[Verdict]] = {}
    last_t = 0.0
    try:
        lines = (directory / "events.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return found, last_t
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:  # a line being written
            continue
        if isinstance(event.get("t"), int | float):
            last_t = max(last_t, float(event["t"]))
        if event.get("type") == JUDGE_VERDICT and isinstance(event.get("data"), dict):
            data = event["data"]
            if data.get("key"):
                verdict = Verdict(**{k: data.get(k) for k in Verdict.__dataclass_fields__})
                found.setdefault(str(data["key"]), []).append(verdict)
    return found, last_t


def _tell(judge: EvalJudge, messages: Sequence[Mapping[str, Any]]) -> None:
    for message in messages:
        if message["role"] == "user":
            judge.add_user_message(message["content"])
        elif message["role"] == "assistant":
            judge.add_assistant_message(message["content"])
        else:
            for line in EvalSimulationJudge.call_lines(dict(message)):
                judge.add_tool_call(line)


def _from_pipecat(v: JudgeVerdict, **fields: Any) -> Verdict:
    return Verdict(
        passed=v.verdict == "yes",
        verdict=v.verdict,
        reason=v.reason or "",
        confidence=v.confidence,
        **fields,
    )


async def _reply(
    judge: CriteriaJudge, conversation: Conversation, exp: Expectation, key: str
) -> Verdict:
    assert exp.eval is not None and exp.turn is not None
    common: dict[str, Any] = {
        "kind": "eval",
        "criterion": exp.eval,
        "turn": exp.turn,
        "judge": judge.name,
    }
    messages = conversation.until(exp.turn)
    if messages is None:
        reason = f"the call has no reply at turn {exp.turn}"
        return Verdict(passed=False, verdict="none", reason=reason, key=key, **common)
    verdict = await ajudge_reply(judge, messages, exp.eval)
    return _from_pipecat(verdict, key=key, **common)


async def ajudge_reply(
    judge: CriteriaJudge, messages: Sequence[Mapping[str, Any]], criterion: str
) -> JudgeVerdict:
    """pipecat's verdict on the last bot reply of ``messages`` (the conversation up to it).

    Args:
        judge: The judge.
        messages: pipecat conversation messages, ending with the reply to judge.
        criterion: What the reply should do, in plain words.
    """
    pipecat_judge = judge.eval_judge()
    try:
        _tell(pipecat_judge, messages)
        return await pipecat_judge.evaluate(criterion)
    finally:
        await pipecat_judge.close()


async def _run(
    judge: CriteriaJudge,
    conversation: Conversation,
    success: str | None,
    metrics: Sequence[Metric],
    keys: Mapping[str, str],
) -> list[Verdict]:
    scenario = EvalSimulationScenario(
        name="voicelab",
        persona="",
        goal="",
        success=success or _NO_GOAL,
        metrics=[EvalSimulationMetric(m.name, m.criterion, m.min_score) for m in metrics],
    )
    pipecat_judge = judge.eval_judge()
    try:
        judged = await EvalSimulationJudge(scenario, judge=pipecat_judge).judge(
            conversation.messages
        )
    finally:
        await pipecat_judge.close()
    out = []
    if success is not None:
        out.append(
            _from_pipecat(
                judged.goal, kind="success", criterion=success, judge=judge.name, key=keys[success]
            )
        )
    for metric, scored in zip(metrics, judged.metrics, strict=True):
        key = keys[f"metric:{metric.name}"]
        common: dict[str, Any] = {
            "criterion": metric.criterion,
            "metric": metric.name,
            "judge": judge.name,
        }
        # pipecat numbers bot turns from 1; the record's turns are the scenario's (0: greeting)
        failed = [
            f"turn {conversation.reply_turns[t.turn - 1]}: {t.reason}"
            for t in scored.verdicts
            if not t.passed
        ]
        for turn in scored.verdicts:
            verdict = turn.verdict or ("yes" if turn.passed else "no")
            out.append(
                Verdict(
                    kind="metric",
                    turn=conversation.reply_turns[turn.turn - 1],
                    passed=turn.passed,
                    verdict=verdict,
                    reason=turn.reason or "",
                    confidence=turn.confidence,
                    key=key,
                    **common,
                )
            )
        out.append(
            Verdict(
                kind="score",
                passed=scored.passed,
                verdict="pass" if scored.passed else "fail",
                reason="; ".join(failed) or scored.reason or "",
                score=scored.score,
                min_score=metric.min_score,
                key=key,
                **common,
            )
        )
    return out


async def ajudge_call(
    directory: Path,
    judge: CriteriaJudge | None,
    expectations: Iterable[Expectation] | None = None,
    metrics: Iterable[Any] | None = None,
) -> list[Verdict]:
    """Judge one call's criteria; see :func:`voicelab.judging.judge_call`."""
    judged, listed = criteria_of(directory, expectations, metrics)
    if not judged and not listed:
        return []
    judge = judge or CriteriaJudge.from_settings()
    conversation = read_conversation(directory)
    said = conversation.fingerprint()
    recorded, last_t = _recorded(directory)
    verdicts: list[Verdict] = []
    fresh: list[Verdict] = []
    for exp in judged:
        if exp.turn is None:
            continue
        key = _key(judge, "eval", exp.eval, exp.turn, conversation.until(exp.turn))
        if key in recorded:
            verdicts.extend(recorded[key])
            continue
        fresh.append(await _reply(judge, conversation, exp, key))
    successes: list[str | None] = [e.eval for e in judged if e.turn is None]
    if listed and not successes:
        successes = [None]
    for index, success in enumerate(successes):
        with_metrics = listed if index == 0 else []
        keys = {f"metric:{m.name}": _key(judge, "metric", asdict(m), said) for m in with_metrics}
        if success is not None:
            keys[success] = _key(judge, "success", success, said)
        if all(k in recorded for k in keys.values()):
            verdicts.extend(v for k in keys.values() for v in recorded[k])
            continue
        fresh.extend(await _run(judge, conversation, success, with_metrics, keys))
    if fresh:
        record = CallRecord(directory, "judge")
        for verdict in fresh:  # at the call's end on its timeline: judged after it
            record.emit(JUDGE_VERDICT, t=last_t, **asdict(verdict))
        record.flush()
    return verdicts + fresh
