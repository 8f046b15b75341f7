"""Pass rates over repeated calls: how often a scenario, or one of its checks, passes.

A phone agent is not deterministic (an LLM samples, the turn end races the transcript), so
one run of a scenario says little: played N times, a check passed c times. Each rate comes
with a Wilson score interval (``scipy.stats.binomtest``), and with the two figures agent
evaluations use for k repeats (tau-bench's and HumanEval's estimators, from the n runs):

``pass^k`` (``pass_all_k``)
    the chance that k runs in a row *all* pass: ``C(c, k) / C(n, k)``. What a caller
    meets: an agent that passes 9 runs in 10 fails a 10-call day most days.
``pass@k`` (``pass_any_k``)
    the chance that *at least one* of k runs passes: ``1 - C(n - c, k) / C(n, k)``.

With the default ``k = n``, pass^k is 1 when every run passed, pass@k when any did.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import pandas as pd
from scipy.stats import binomtest

__all__ = ["PASS_RATE_COLUMNS", "pass_at_k", "pass_hat_k", "pass_rates", "scenario_runs"]

PASS_RATE_COLUMNS = (
    "runs",
    "passed",
    "rate",
    "ci_low",
    "ci_high",
    "k",
    "pass_all_k",
    "pass_any_k",
)
"""What :func:`pass_rates` adds to its groups' columns."""


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: the chance that k of these runs, drawn without replacement, all passed."""
    return comb(c, k) / comb(n, k) if 0 < k <= n else float("nan")


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k: the chance that at least one of k of these runs passed."""
    return 1.0 - comb(n - c, k) / comb(n, k) if 0 < k <= n else float("nan")


def scenario_runs(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per call: did every check of the call pass (a run of its scenario).

    Args:
        checks: :func:`voicelab.testing.expectation_checks` output (``scenario``,
            ``call_sid``, ``passed``; an undecided check there has already failed).
    """
    runs = checks.groupby(["scenario", "call_sid"], sort=False, dropna=False)["passed"].all()
    return runs.reset_index()


def pass_rates(
    results: pd.DataFrame,
    by: str | Sequence[str] = ("scenario",),
    *,
    k: int | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Pass rates of ``results`` per group, with Wilson intervals, pass^k and pass@k.

    Args:
        results: One row per run with a boolean ``passed``: :func:`scenario_runs` for
            whole scenarios, or the checks themselves (group by ``["scenario", "check"]``
            for each expectation's rate).
        by: The grouping column(s).
        k: The k of pass^k / pass@k (default: each group's number of runs).
        confidence: The intervals' confidence level.

    Returns:
        The group columns, then :data:`PASS_RATE_COLUMNS`.
    """
    keys = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, group in results.groupby(keys, sort=True, dropna=False):
        passed = group["passed"].astype(bool)
        n, c = len(passed), int(passed.sum())
        interval = binomtest(c, n).proportion_ci(confidence_level=confidence, method="wilson")
        kk = n if k is None else k
        values = key if isinstance(key, tuple) else (key,)
        rows.append(
            {
                **dict(zip(keys, values, strict=True)),
                "runs": n,
                "passed": c,
                "rate": c / n,
                "ci_low": float(interval.low),
                "ci_high": float(interval.high),
                "k": kk,
                "pass_all_k": pass_hat_k(n, c, kk),
                "pass_any_k": pass_at_k(n, c, kk),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *PASS_RATE_COLUMNS])
