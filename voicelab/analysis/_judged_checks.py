"""The judged checks: an ``eval:`` expectation and a scenario metric, read from the verdicts.

analysis never runs a judge (it imports no pipecat): :func:`voicelab.judging.judge_call`
writes pipecat's verdicts into the record, and these checks read them back
(``judgments_df``). A criterion with no verdict is undecided (``passed`` NA), never passed:
the plugin and ``voicelab simulate`` count it as failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from voicelab.analysis._files import read_manifest
from voicelab.analysis._scores import score_row, scores_frame
from voicelab.errors import CallRecordError
from voicelab.expectations import Expectation

__all__ = ["NOT_JUDGED", "judged_row", "manifest_metrics", "metric_rows"]

NOT_JUDGED = "not judged (voicelab.judging.judge_call records the verdicts)"


def _latest(judgments: pd.DataFrame | None, sid: Any, **match: Any) -> Any:
    """The last recorded verdict of ``sid`` matching ``match`` (a rerun's), or ``None``."""
    if judgments is None or judgments.empty:
        return None
    rows = judgments[judgments["call_sid"].astype("str") == str(sid)]
    for column, value in match.items():
        if value is None:
            rows = rows[rows[column].isna()]
        else:
            rows = rows[rows[column].astype("object") == value]
    return None if rows.empty else rows.iloc[-1]


def judged_row(sid: Any, exp: Expectation, judgments: pd.DataFrame | None) -> dict[str, Any]:
    """The ``expect.eval`` row of an expectation: its verdict and the judge's reason."""
    kind = "success" if exp.turn is None else "eval"
    found = _latest(judgments, sid, kind=kind, criterion=exp.eval, turn=exp.turn)
    if found is None:
        return score_row(sid, "expect.eval", exp.turn, None, f"{exp.eval!r}: {NOT_JUDGED}")
    passed = bool(found["passed"])
    detail = f"{exp.eval!r}: {found['verdict']} ({found['judge']}): {found['reason']}"
    return score_row(sid, "expect.eval", exp.turn, passed, detail)


def metric_rows(
    metrics: Mapping[str, Sequence[Mapping[str, Any]]], judgments: pd.DataFrame | None
) -> pd.DataFrame:
    """A ``metric.<name>`` row per scenario metric of each call: pipecat's score and pass.

    Args:
        metrics: By ``call_sid``, the scenario's metrics (``name``, ``criterion``,
            ``min_score``): :func:`manifest_metrics`.
        judgments: ``judgments_df`` output.
    """
    rows = []
    for sid, listed in metrics.items():
        for metric in listed:
            name, criterion = str(metric.get("name")), metric.get("criterion")
            check = f"metric.{name}"
            found = _latest(judgments, sid, kind="score", metric=name, criterion=criterion)
            if found is None:
                rows.append(score_row(sid, check, None, None, f"{criterion!r}: {NOT_JUDGED}"))
                continue
            score = None if pd.isna(found["score"]) else float(found["score"])
            low = metric.get("min_score")
            shown = "no reply to judge" if score is None else f"score {score:.2f}"
            bound = "" if low is None else f" (min {float(low):.2f})"
            detail = f"{criterion!r}: {shown}{bound} ({found['judge']}): {found['reason']}"
            rows.append(score_row(sid, check, None, bool(found["passed"]), detail, score=score))
    return scores_frame(rows)


def manifest_metrics(calls: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The ``metrics`` each call's scenario (in its ``call.json``) judges, by ``call_sid``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for sid, directory in zip(calls["call_sid"], calls["call_dir"], strict=True):
        try:
            scenario = read_manifest(Path(directory)).get("scenario")
        except CallRecordError:  # rewritten since it was loaded; reported next load
            continue
        listed = scenario.get("metrics") if isinstance(scenario, dict) else None
        if isinstance(listed, list) and listed:
            found[str(sid)] = [m for m in listed if isinstance(m, dict)]
    return found
