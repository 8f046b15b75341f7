"""The report's numbers: summary tables, per-scenario checks, per-call rows, the headline.

Plain pandas over the loaders' frames; :mod:`voicelab.analysis.report` puts them together,
``_report_html`` and ``_report_text`` say them. Column names stay snake_case here (they are
a DataFrame API); the words for them live in ``_report_words``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from voicelab.analysis._report_checks import scenario_checks
from voicelab.analysis._report_words import in_sentence
from voicelab.analysis.latency import BREAKDOWN, V2V_PREFERENCE
from voicelab.analysis.latency import measured_v2v as _measured
from voicelab.analysis.percentiles import compare, latency_summary
from voicelab.analysis.wer import turn_wer
from voicelab.expectations import Expectation

__all__ = ["Headline", "group", "headline", "reply_v2v", "summaries"]


@dataclass(frozen=True)
class Headline:
    """The few numbers a reader wants first.

    Attributes:
        calls: Calls loaded; ``simulated`` of them simulated.
        simulated: Simulated calls.
        turns: Caller speech turns.
        checks_passed: Scenario expectation checks passed, of ``checks_decided``.
        checks_decided: Scenario expectation checks that could be decided.
        calls_checked: Calls with scenario expectations; ``calls_failing`` failed one.
        calls_failing: Calls with at least one failed expectation check.
        replies: Replies with a voice-to-voice figure (:func:`reply_v2v`).
        v2v_p50: Their median, seconds.
        v2v_p95: Their 95th percentile, seconds.
        v2v_max: The slowest, seconds.
        caller_side: How many of those figures are the caller's (the rest: server side).
        errors: Error events; ``calls_with_errors`` calls had one, ``fatal`` a fatal one.
        calls_with_errors: Calls with an error event.
        fatal: Calls with a fatal error.
    """

    calls: int
    simulated: int
    turns: int
    checks_passed: int
    checks_decided: int
    calls_checked: int
    calls_failing: int
    replies: int
    v2v_p50: float
    v2v_p95: float
    v2v_max: float
    caller_side: int
    errors: int
    calls_with_errors: int
    fatal: int


def group(df: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """``df`` with a string ``group`` column (``all`` when ungrouped), so groups print well.

    Rows without a value are in ``(no <label>)``: ``(no scenario)`` are the real calls.
    """
    if by is None:
        return df.assign(group="all")
    none = f"(no {in_sentence(by)})"
    return df.assign(group=[none if pd.isna(v) else str(v) for v in df[by]])


def reply_v2v(turns: pd.DataFrame) -> pd.DataFrame:
    """Each turn's voice-to-voice figure and which column it came from.

    The first of :data:`~voicelab.analysis.latency.V2V_PREFERENCE` a turn has (what the
    caller heard, else the same on ``caller.wav``, else the server's): the figure the
    scenario checks and the headline use. Columns ``v2v_s`` and ``v2v_from``.
    """
    value = pd.Series(np.nan, index=turns.index, dtype="float64")
    source = pd.Series(None, index=turns.index, dtype="object")
    for col in reversed(V2V_PREFERENCE):  # the best present wins: it is written last
        if col in turns.columns:
            have = turns[col].notna().to_numpy()
            value[have] = turns[col].astype("float64")[have]
            source[have] = col
    return pd.DataFrame({"v2v_s": value, "v2v_from": source})


def _breakdown(turns: pd.DataFrame) -> pd.DataFrame:
    """Per group and stage: median and mean over the turns with every stage measured.

    The means add up to the mean total (each turn's stages add up to its voice-to-voice by
    construction: ``transport_s`` is the remainder); the medians need not, so a ``total``
    row gives the median of the sums too.
    """
    rows = []
    parts = list(BREAKDOWN)
    for name, frame in turns.groupby("group", sort=True):
        complete = frame[parts].astype("float64").dropna()
        if complete.empty:
            continue
        total = complete.sum(axis=1)
        for part in [*parts, "total"]:
            values = total if part == "total" else complete[part]
            rows.append(
                {
                    "group": name,
                    "part": part,
                    "n": len(complete),
                    "median": float(values.median()),
                    "mean": float(values.mean()),
                    "share": float(values.mean() / total.mean()) if total.mean() else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["group", "part", "n", "median", "mean", "share"])


def _per_call(
    calls: pd.DataFrame, turns: pd.DataFrame, expect: pd.DataFrame, by: str | None
) -> pd.DataFrame:
    """One row per call: what a reader scans for before opening it (and its ``by`` value)."""
    sids = calls["call_sid"].astype("str")
    v2v = reply_v2v(turns).groupby(turns["call_sid"].astype("str"))["v2v_s"]
    decided = expect[expect["passed"].notna()]
    by_call = decided.groupby(decided["call_sid"].astype("str"))["passed"]
    out = pd.DataFrame(
        {
            "call_sid": sids,
            # A call that never streamed has no start: when the server heard of it.
            "started_at": calls["started_at"].fillna(calls["known_at"]),
            "scenario_id": calls["scenario_id"],
            "direction": calls["direction"],
            "duration_s": calls["duration_s"],
            "turns": calls["n_turns"],
            "v2v_median_s": sids.map(v2v.median()),
            "v2v_max_s": sids.map(v2v.max()),
            "checks_passed": sids.map(by_call.sum()).fillna(0).astype("int64"),
            "checks": sids.map(by_call.size()).fillna(0).astype("int64"),
            "errors": calls["n_errors"],
            "fatal_error": calls["fatal_error"],
            "end_reason": calls["end_reason"],
            "call_dir": calls["call_dir"],
        }
    )
    if by is not None and by not in out.columns:
        out.insert(3, by, calls[by])
    return out.reset_index(drop=True)


def summaries(
    calls: pd.DataFrame,
    turns: pd.DataFrame,
    by: str | None,
    scores: pd.DataFrame,
    listed: dict[str, list[Expectation]],
) -> dict[str, pd.DataFrame]:
    """The report's tables; ``group`` columns are renamed to ``by`` (when given)."""
    calls, turns = group(calls, by), group(turns, by)
    per_group = calls.groupby("group", sort=True).agg(
        calls=("call_sid", "size"),
        simulated=("simulated", "sum"),
        turns=("n_turns", "sum"),
        median_duration_s=("duration_s", "median"),
        interruptions=("n_interruptions", "sum"),
        errors=("n_errors", "sum"),
    )
    measured = _measured(turns)
    latency = latency_summary(turns, by="group", col=measured) if measured else pd.DataFrame()
    if measured:
        order = latency["metric"].map({m: i for i, m in enumerate(measured)})
        latency = latency.assign(_order=order).sort_values(["group", "_order"], kind="stable")
        latency = latency[latency["n"] > 0].drop(columns="_order").reset_index(drop=True)
    scores = scores.assign(call_sid=lambda d: d["call_sid"].astype("str"))
    expect = scores[scores["check"].str.startswith("expect.")]
    grouped = scores.merge(calls[["call_sid", "group"]].astype({"call_sid": "str"}), on="call_sid")
    quality = grouped.groupby(["group", "check"], sort=True)["passed"].agg(["count", "sum"])
    quality = quality.rename(columns={"count": "checked", "sum": "passed"})
    quality["pass_rate"] = quality["passed"] / quality["checked"]
    wer = turn_wer(turns).assign(call_sid=lambda d: d["call_sid"].astype("str"))
    wer = wer.merge(calls[["call_sid", "group"]], on="call_sid")
    wer["errors"] = wer["substitutions"] + wer["deletions"] + wer["insertions"]
    wer_table = wer.groupby("group", sort=True)[["ref_words", "errors"]].sum()
    wer_table["wer"] = (wer_table["errors"] / wer_table["ref_words"]).astype("float64")
    out = {
        "calls": per_group.reset_index(),
        "latency": latency,
        "breakdown": _breakdown(turns),
        "quality": quality.reset_index(),
        "wer": wer_table.reset_index(),
        "checks": scenario_checks(calls, expect, listed),
    }
    # A/B on the first latency every group has (real calls have no caller-side figure).
    everywhere = [c for c in measured if turns.groupby("group")[c].count().min() > 0]
    if everywhere and turns["group"].nunique() > 1:
        out["compare"] = compare(turns, "group", everywhere[0]).assign(metric=everywhere[0])
    out = {name: table.rename(columns={"group": by or "group"}) for name, table in out.items()}
    out["per_call"] = _per_call(calls, turns, expect, by)
    return out


def headline(calls: pd.DataFrame, turns: pd.DataFrame, scores: pd.DataFrame) -> Headline:
    """The summary a manager reads, from the loaded frames and the scores."""
    expect = scores[scores["check"].astype("str").str.startswith("expect.")]
    decided = expect[expect["passed"].notna()]
    failing = decided[~decided["passed"].astype(bool)]["call_sid"].nunique()
    v2v = reply_v2v(turns)
    values = v2v["v2v_s"].dropna().to_numpy()
    p50, p95 = np.percentile(values, [50, 95]) if len(values) else (np.nan, np.nan)
    errors = calls["n_errors"].fillna(0)
    return Headline(
        calls=len(calls),
        simulated=int(calls["simulated"].fillna(False).sum()),
        turns=int(calls["n_turns"].fillna(0).sum()),
        checks_passed=int(decided["passed"].astype(bool).sum()),
        checks_decided=len(decided),
        calls_checked=int(expect["call_sid"].nunique()),
        calls_failing=int(failing),
        replies=len(values),
        v2v_p50=float(p50),
        v2v_p95=float(p95),
        v2v_max=float(values.max()) if len(values) else np.nan,
        caller_side=int(((v2v["v2v_from"] != "v2v_server_s") & v2v["v2v_s"].notna()).sum()),
        errors=int(errors.sum()),
        calls_with_errors=int((errors > 0).sum()),
        fatal=int(calls["fatal_error"].fillna(False).sum()),
    )
