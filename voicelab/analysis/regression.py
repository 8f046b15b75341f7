"""A regression gate: is NEW worse than BASE, beyond what chance explains?

Two trees of call records (main's last run and a branch's, say) are compared per scenario
on what a caller feels: voice-to-voice latency p50 and p95 (each turn's first figure of
:data:`~voicelab.analysis.latency.V2V_PREFERENCE`) and the scenario's pass rate (a run
passes when every check of its call does). Each difference NEW − BASE gets a bootstrap
confidence interval (``scipy.stats.bootstrap``, percentile method, seeded: the same records
give the same table); NEW is *worse* only where the whole interval is on the worse side, so
a noisy run does not fail a build and a real slowdown does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from voicelab.analysis.latency import turn_v2v
from voicelab.analysis.load import calls_df, turns_df
from voicelab.analysis.passrates import scenario_runs

__all__ = ["GATE_COLUMNS", "regression_gate"]

GATE_COLUMNS = (
    "scenario",
    "metric",
    "base",
    "new",
    "diff",
    "ci_low",
    "ci_high",
    "n_base",
    "n_new",
    "worse",
)
"""The gate's table: one row per scenario and metric (``v2v_p50_s``, ``v2v_p95_s``,
``pass_rate``); ``worse`` when NEW is worse beyond the interval."""

# metric -> (statistic of one sample, True if larger is worse)
_METRICS: dict[str, tuple[Any, bool]] = {
    "v2v_p50_s": (lambda x, axis=-1: np.percentile(x, 50, axis=axis), True),
    "v2v_p95_s": (lambda x, axis=-1: np.percentile(x, 95, axis=axis), True),
    "pass_rate": (lambda x, axis=-1: np.mean(x, axis=axis), False),
}


def _samples(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per scenario: every turn's voice-to-voice, and every call's pass (0/1).

    A run passes when every expectation its call's record carries passes; one that could
    not be decided counts as failed, as in the pytest plugin.
    """
    from voicelab.analysis.quality import call_actions, check_expectations, manifest_expectations

    calls = calls_df(root)
    simulated = calls[calls["scenario_id"].notna()]
    scenario = simulated.set_index(simulated["call_sid"].astype("str"))["scenario_id"]
    turns = turns_df(root, recording=False)
    turns = turns[turns["turn"].fillna(-1) > 0]
    latency = pd.DataFrame(
        {
            "scenario": turns["call_sid"].astype("str").map(scenario),
            "value": [turn_v2v(row) for _, row in turns.iterrows()],
        }
    ).dropna()
    checks = check_expectations(
        turns_df(root, recording=False), manifest_expectations(simulated), call_actions(simulated)
    )
    checks["passed"] = checks["passed"].fillna(False)
    checks["scenario"] = checks["call_sid"].map(scenario)
    runs = scenario_runs(checks).rename(columns={"passed": "value"})
    # A call with no expectation passes (it has nothing to fail), and is a run all the same.
    unchecked = sorted(set(scenario.index) - set(checks["call_sid"]))
    runs = pd.concat(
        [runs, pd.DataFrame({"scenario": scenario.loc[unchecked].to_numpy(), "value": True})],
        ignore_index=True,
    )
    return latency, runs[["scenario", "value"]].astype({"value": float})


def _row(
    scenario: str, metric: str, base: np.ndarray, new: np.ndarray, confidence: float, seed: int
) -> dict[str, Any]:
    statistic, larger_is_worse = _METRICS[metric]
    row: dict[str, Any] = {
        "scenario": scenario,
        "metric": metric,
        "base": float(statistic(base)) if len(base) else np.nan,
        "new": float(statistic(new)) if len(new) else np.nan,
        "n_base": len(base),
        "n_new": len(new),
    }
    row["diff"] = row["new"] - row["base"]
    low = high = np.nan
    if len(base) >= 2 and len(new) >= 2:

        def difference(b: np.ndarray, n: np.ndarray, axis: int = -1) -> Any:
            return statistic(n, axis=axis) - statistic(b, axis=axis)

        result = bootstrap(
            (base, new),
            difference,
            paired=False,
            vectorized=True,
            n_resamples=2000,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    row["ci_low"], row["ci_high"] = low, high
    worse = (low > 0) if larger_is_worse else (high < 0)
    row["worse"] = bool(worse) if not np.isnan(low) else False
    return row


def regression_gate(
    base: str | os.PathLike[str],
    new: str | os.PathLike[str],
    *,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Compare two trees of call records per scenario (:data:`GATE_COLUMNS`).

    Args:
        base: The reference run's recordings (e.g. main's).
        new: The run under test (e.g. a branch's).
        confidence: The intervals' confidence level.
        seed: The bootstrap's seed.

    Returns:
        One row per scenario (present in both) and metric; ``worse`` rows fail the gate.
    """
    (base_latency, base_runs), (new_latency, new_runs) = _samples(Path(base)), _samples(Path(new))
    rows = []
    for metric in _METRICS:
        base_data, new_data = (
            (base_runs, new_runs) if metric == "pass_rate" else (base_latency, new_latency)
        )
        shared = sorted(set(base_data["scenario"].dropna()) & set(new_data["scenario"].dropna()))
        for scenario in shared:
            b = base_data.loc[base_data["scenario"] == scenario, "value"].to_numpy(float)
            n = new_data.loc[new_data["scenario"] == scenario, "value"].to_numpy(float)
            rows.append(_row(scenario, metric, b, n, confidence, seed))
    frame = pd.DataFrame(rows, columns=list(GATE_COLUMNS))
    return frame.sort_values(["scenario", "metric"], ignore_index=True)
