"""Quality of the bot's replies: rule checks, scenario expectations and an LLM judge.

Every check yields rows of one shape, so they stack into one scores DataFrame:
``call_sid``, ``check``, ``turn`` (Int64; NaN for a whole-call check), ``passed``
(boolean; NaN when it could not be decided), ``score`` (float64: 1/0 for rules, the
judge's 1-5) and ``detail`` (str: why).

The rules are heuristics for the reference persona (Compass Group's guest relations line):
cheap, deterministic, and good at catching regressions; the judge is for nuance. Their
thresholds and patterns, and the judge's rubric, are package data
(``voicelab/defaults/quality_rules.yaml``, ``judge_rubric.md``): load an edited copy with
``RuleConfig.from_file`` for another agent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from voicelab.analysis._actions import CallActions, action_rows, read_actions
from voicelab.analysis._files import read_manifest
from voicelab.analysis._judge import RUBRIC, RUBRIC_VERSION, judge_calls
from voicelab.analysis._judged_checks import judged_row, manifest_metrics, metric_rows
from voicelab.analysis._scores import SCORE_COLUMNS, score_row, scores_frame
from voicelab.analysis.latency import turn_v2v
from voicelab.analysis.load import calls_df, judgments_df, turns_df
from voicelab.defaults import QualityRules
from voicelab.errors import CallRecordError
from voicelab.expectations import ACTION_CHECKS, REGEX_BUDGET_S, Expectation, regex_search

__all__ = [
    "RUBRIC",
    "RUBRIC_VERSION",
    "SCORE_COLUMNS",
    "Expectation",
    "RuleConfig",
    "call_actions",
    "check_expectations",
    "judge_calls",
    "manifest_expectations",
    "manifest_metrics",
    "metric_rows",
    "rule_checks",
    "scores_df",
]

# The thresholds and patterns are package data (voicelab/defaults/quality_rules.yaml);
# RuleConfig(...) keeps the packaged value of every field it is not given.
RuleConfig = QualityRules
"""Thresholds and patterns of the rule checks: :class:`voicelab.defaults.QualityRules`.

``RuleConfig(max_words=30)`` changes one threshold; ``RuleConfig.from_file(path)`` loads a
copy of ``quality_rules.yaml`` edited for another agent.
"""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def rule_checks(turns: pd.DataFrame, config: RuleConfig | None = None) -> pd.DataFrame:
    """Rule checks on every bot reply of ``turns`` (``turns_df`` output).

    Checks: ``greeting_names_company`` (turn 0 says ``config.company``), ``words`` and
    ``seconds`` (the reply is short enough), ``tts_safe`` (no markup, URL or emoji a TTS
    would read out), and, where the caller's words call for it, ``follow_up_question``
    (feedback that is not a complaint gets a question back), ``apology`` (a complaint gets an
    apology) and, on every reply, ``no_refund_promise`` (the bot cannot grant refunds).
    """
    config = config or RuleConfig()
    tts_unsafe = config.tts_unsafe_patterns()
    complaints, praise = config.words_pattern("complaint"), config.words_pattern("praise")
    apology = config.words_pattern("apology")
    promise, negation = config.any_pattern("refund_promise"), config.any_pattern("negation")
    rows: list[dict[str, Any]] = []
    for r in turns.itertuples(index=False):
        reply, sid = _text(r.bot_text), r.call_sid
        turn = None if pd.isna(r.turn) else int(r.turn)  # NA: an utterance never answered
        caller = _text(r.caller_text) or _text(r.stt_text)
        if turn == 0:
            named = config.company.lower() in reply.lower() if reply else None
            detail = f"greeting: {reply!r}" if reply else "no greeting text recorded"
            rows.append(score_row(sid, "greeting_names_company", turn, named, detail))
        if not reply:
            continue
        words = len(reply.split())
        rows.append(score_row(sid, "words", turn, words <= config.max_words, f"{words} words"))
        if pd.notna(r.bot_speech_s):
            ok = r.bot_speech_s <= config.max_seconds
            rows.append(score_row(sid, "seconds", turn, ok, f"{r.bot_speech_s:.2f} s of speech"))
        # Each offender once, in order of the patterns.
        found = list(
            dict.fromkeys(
                f"{k} {m.group()!r}" for k, rx in tts_unsafe.items() for m in rx.finditer(reply)
            )
        )
        rows.append(score_row(sid, "tts_safe", turn, not found, "; ".join(found) or "plain text"))
        complaint = complaints.search(caller) if turn != 0 else None
        if not complaint and turn != 0 and praise.search(caller):
            asked = "?" in reply
            detail = "asks back" if asked else f"no question after feedback: {caller!r}"
            rows.append(score_row(sid, "follow_up_question", turn, asked, detail))
        if complaint:
            sorry = bool(apology.search(reply))
            detail = (
                "apologises" if sorry else f"complaint ({complaint.group()!r}) not apologised for"
            )
            rows.append(score_row(sid, "apology", turn, sorry, detail))
        promises = [
            s.strip()
            for s in re.split(r"(?<=[.!?])\s+", reply)
            if promise.search(s) and not negation.search(s)
        ]
        detail = f"promises a refund: {promises[0]!r}" if promises else "no refund promised"
        rows.append(score_row(sid, "no_refund_promise", turn, not promises, detail))
    return scores_frame(rows)


def _expect(sid: Any, exp: Expectation, rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    turn = exp.turn
    if turn is not None and rows.empty:
        return [score_row(sid, "expect.turn", turn, False, f"the call has no turn {turn}")]
    # A black-box agent records no reply text: what the caller heard (its Whisper) is it.
    heard = rows["heard_text"] if "heard_text" in rows else [None] * len(rows)
    replies = [_text(t) or _text(h) for t, h in zip(rows["bot_text"], heard, strict=True)]
    joined = "\n".join(replies).lower()
    if exp.contains:  # a list means any of its phrases (e.g. "sorry" or "apolog")
        said = [phrase for phrase in exp.contains if phrase.lower() in joined]
        wanted = " or ".join(repr(p) for p in exp.contains)
        detail = f"says {said[0]!r}" if said else f"lacks {wanted}"
        out.append(score_row(sid, "expect.contains", turn, bool(said), detail))
    if exp.regex is not None:
        found = regex_search(exp.regex, joined)
        if found is None:  # failed, not undecided: the pattern is what must change
            detail = (
                f"/{exp.regex}/ took over {REGEX_BUDGET_S:g} s: catastrophic backtracking?"
                " (rewrite the pattern)"
            )
        else:
            detail = f"/{exp.regex}/ {'' if found else 'un'}matched"
        out.append(score_row(sid, "expect.regex", turn, bool(found), detail))
    for phrase in exp.must_not_say or ():
        ok = phrase.lower() not in joined
        out.append(
            score_row(
                sid, "expect.must_not_say", turn, ok, f"{'avoids' if ok else 'says'} {phrase!r}"
            )
        )
    if exp.max_latency_s is not None:
        measured = [x for x in (turn_v2v(r) for _, r in rows.iterrows()) if not pd.isna(x)]
        worst = max(measured, default=None)  # turns without a measure cannot fail it
        within = None if worst is None else worst <= exp.max_latency_s
        limit = f"{exp.max_latency_s:.2f} s"
        detail = f"{worst:.2f} s vs {limit}" if worst is not None else f"no latency vs {limit}"
        out.append(score_row(sid, "expect.max_latency_s", turn, within, detail))
    return out


def check_expectations(
    turns: pd.DataFrame,
    expectations: Mapping[str, Sequence[Expectation | Mapping[str, Any]]],
    actions: Mapping[str, CallActions] | None = None,
    judgments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Check each call's scenario expectations against its turns and its actions.

    Args:
        turns: ``turns_df`` output.
        expectations: By ``call_sid``, the expectations (``Expectation`` or scenario dicts).
        actions: By ``call_sid``, what each call did (:func:`call_actions`); needed by the
            action checks (``calls``, ``transferred_to``...), undecided without it.
        judgments: ``judgments_df`` output: the judge's verdicts, read by the ``eval``
            checks (``expect.eval``), undecided without a verdict
            (:func:`voicelab.judging.judge_call` writes them).

    Raises:
        ScenarioError: An expectation dict is invalid.
    """
    rows: list[dict[str, Any]] = []
    sids = turns["call_sid"].astype("str")
    for sid, items in expectations.items():
        call = turns[sids == sid]
        by_caller = call["caller_turn"].notna().any()
        numbers = call["caller_turn"] if by_caller else call["turn"]
        for item in items:
            exp = item if isinstance(item, Expectation) else Expectation.from_dict(item)
            if exp.turn is None:
                replied = call["bot_text"].notna()
                if "heard_text" in call:
                    replied |= call["heard_text"].notna()
                selected = call[replied]
            else:  # NA turn numbers (unmatched turns) select nothing
                selected = call[numbers.eq(exp.turn).fillna(False).astype(bool)]
            if _says_something(exp):
                rows.extend(_expect(sid, exp, selected))
            if exp.eval is not None:
                rows.append(judged_row(sid, exp, judgments))
            if any(getattr(exp, name) is not None for name in ACTION_CHECKS):
                server_turns = None if exp.turn is None else selected["turn"].dropna()
                rows.extend(
                    action_rows(
                        sid,
                        exp,
                        (actions or {}).get(str(sid)),
                        None if server_turns is None else [int(t) for t in server_turns],
                    )
                )
    return scores_frame(rows)


def _says_something(exp: Expectation) -> bool:
    checks = (exp.contains, exp.regex, exp.must_not_say, exp.max_latency_s)
    return any(check is not None for check in checks)


def call_actions(calls: pd.DataFrame) -> dict[str, CallActions]:
    """What each call of ``calls`` (``calls_df`` output) did, read from its record."""
    return {
        str(sid): read_actions(Path(directory))
        for sid, directory in zip(calls["call_sid"], calls["call_dir"], strict=True)
    }


def manifest_expectations(calls: pd.DataFrame) -> dict[str, list[Any]]:
    """The ``expectations`` list each call's ``call.json`` carries, by ``call_sid``.

    The simulator files a scenario's expectations under ``scenario.expectations``; a
    top-level ``expectations`` list is read too. The items are returned as written
    (``Expectation.from_dict`` validates them).

    Args:
        calls: ``calls_df`` output (its ``call_sid`` and ``call_dir``).
    """
    found: dict[str, list[Any]] = {}
    for sid, directory in zip(calls["call_sid"], calls["call_dir"], strict=True):
        try:
            manifest = read_manifest(Path(directory))
        except CallRecordError:  # rewritten since it was loaded; reported next load
            continue
        scenario = manifest.get("scenario")
        listed = manifest.get("expectations")
        if listed is None and isinstance(scenario, dict):
            listed = scenario.get("expectations")
        if isinstance(listed, list):
            found[str(sid)] = listed
    return found


def _acting(expectations: Mapping[str, Sequence[Expectation | Mapping[str, Any]]]) -> set[str]:
    """The calls whose expectations check actions (their records are read for them)."""
    return {
        str(sid)
        for sid, items in expectations.items()
        for item in items
        if any(
            (getattr(item, name, None) if isinstance(item, Expectation) else item.get(name))
            is not None
            for name in ACTION_CHECKS
        )
    }


def scores_df(
    root: str | os.PathLike[str],
    *,
    expectations: Mapping[str, Sequence[Expectation | Mapping[str, Any]]] | None = None,
    rules: RuleConfig | None = None,
    complete: Callable[[str], str] | None = None,
    rubric: str = RUBRIC,
    rubric_version: str = RUBRIC_VERSION,
    calls: pd.DataFrame | None = None,
    turns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every quality check of every call under ``root``, as one scores DataFrame.

    Args:
        root: The recordings root (or one call directory).
        expectations: By ``call_sid``; default: the ``expectations`` list each simulated
            call's ``call.json`` carries, if any (:func:`manifest_expectations`). Its
            ``eval`` checks and the scenarios' ``metrics`` (``metric.<name>`` rows) read
            the verdicts the judge recorded (:func:`voicelab.judging.judge_call`).
        rules: Thresholds of the rule checks.
        complete: ``Callable[[str], str]`` running an LLM; when given, the judge runs too.
        rubric: The judge's rubric.
        rubric_version: Names the judge's cache file; change it with the rubric.
        calls: ``calls_df(root)`` when already loaded (saves a load).
        turns: ``turns_df(root)`` when already loaded.
    """
    turns = turns_df(root) if turns is None else turns
    calls = calls_df(root) if calls is None else calls
    if expectations is None:
        expectations = manifest_expectations(calls)
    acting = calls[calls["call_sid"].astype("str").isin(_acting(expectations))]
    judged = judgments_df(root)
    checked = check_expectations(turns, expectations, call_actions(acting), judged)
    metrics = metric_rows(manifest_metrics(calls), judged)
    parts = [rule_checks(turns, rules), checked, metrics]
    if complete is not None:
        parts.append(
            judge_calls(
                root,
                complete,
                rubric=rubric,
                rubric_version=rubric_version,
                turns=turns,
                calls=calls,
            )
        )
    return pd.concat(parts, ignore_index=True)
