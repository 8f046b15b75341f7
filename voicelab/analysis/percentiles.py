"""Honest summaries of latency columns: percentiles with bootstrap intervals, and A/B tests.

Summaries report p50 / p90 / p95 / max with percentile-bootstrap confidence intervals, never
a mean alone; the bootstrap is seeded, so a report is reproducible. What the columns mean:
:mod:`voicelab.analysis.latency`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from voicelab.errors import NotFoundError

__all__ = ["compare", "latency_summary"]

_NAN = math.nan
_QUANTILES = (50, 90, 95)
_MAX_BOOT_CELLS = 4_000_000  # resamples x values held in memory at once


def _boot_quantiles(values: np.ndarray, qs: Sequence[float], n_boot: int, seed: int) -> np.ndarray:
    """Quantiles ``qs`` of ``n_boot`` resamples of ``values``: shape ``(len(qs), n_boot)``."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_BOOT_CELLS // len(values))
    parts = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        resamples = values[rng.integers(0, len(values), size=(size, len(values)))]
        parts.append(np.percentile(resamples, qs, axis=1))
    return np.concatenate(parts, axis=1)


def _groups(
    df: pd.DataFrame, by: str | Sequence[str] | None, col: str
) -> list[tuple[tuple, np.ndarray]]:
    keys = [by] if isinstance(by, str) else list(by or [])
    values = df[col].astype("float64")
    if not keys:
        return [((), values.dropna().to_numpy())]
    by_what = df[keys[0]] if len(keys) == 1 else [df[k] for k in keys]
    grouped = values.groupby(by_what, observed=True, dropna=False, sort=True)
    return [((k,) if len(keys) == 1 else tuple(k), v.dropna().to_numpy()) for k, v in grouped]


def latency_summary(
    df: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    col: str | Sequence[str] = "v2v_caller_s",
    *,
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Percentiles of a latency column, per group, with bootstrap confidence intervals.

    Args:
        df: Usually ``turns_df(root)`` (merge call columns in to group by them).
        by: Column(s) to group by; ``None`` summarises everything together.
        col: The latency column, or several (one row per group and column).
        n_boot: Bootstrap resamples.
        ci: Confidence level of the intervals.
        seed: Seed of the resampling, so the same data always gives the same table.

    Returns:
        One row per group (and column): the ``by`` columns, ``metric`` (the column), ``n``
        (non-NaN values), ``p50``, ``p50_lo``, ``p50_hi``, ``p90`` ..., ``p95`` ..., and
        ``max``. The max has no interval: a bootstrap cannot see past the largest value.
        Percentiles use numpy's default (linear) interpolation; intervals are NaN below 2
        values.
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    cols = [col] if isinstance(col, str) else list(col)
    alpha = (1 - ci) / 2 * 100
    rows = []
    for metric in cols:
        for key, values in _groups(df, by, metric):
            row: dict[str, object] = dict(zip(keys, key, strict=True))
            row |= {"metric": metric, "n": len(values)}
            point = np.percentile(values, _QUANTILES) if len(values) else [_NAN] * 3
            boot = _boot_quantiles(values, _QUANTILES, n_boot, seed) if len(values) > 1 else None
            for i, q in enumerate(_QUANTILES):
                row[f"p{q}"] = float(point[i])
                lo, hi = (
                    np.percentile(boot[i], [alpha, 100 - alpha])
                    if boot is not None
                    else (_NAN, _NAN)
                )
                row[f"p{q}_lo"], row[f"p{q}_hi"] = float(lo), float(hi)
            row["max"] = float(values.max()) if len(values) else _NAN
            rows.append(row)
    columns = [*keys, "metric", "n"]
    columns += [f"p{q}{s}" for q in _QUANTILES for s in ("", "_lo", "_hi")] + ["max"]
    return pd.DataFrame(rows, columns=columns).astype({"n": "int64"})


def compare(
    df: pd.DataFrame,
    by: str,
    col: str = "v2v_caller_s",
    *,
    baseline: object | None = None,
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """A/B: each group's median latency against a baseline group's, with a bootstrap CI.

    Args:
        df: Turns with a ``by`` column (a prompt, provider or setting).
        by: The column naming the variant.
        col: The latency column compared.
        baseline: The reference value of ``by``; default the first in sorted order.
        n_boot: Bootstrap resamples (each group resampled independently).
        ci: Confidence level.
        seed: Seed of the resampling.

    Returns:
        One row per non-baseline group: ``by``, ``baseline``, ``n``, ``n_baseline``,
        ``median``, ``median_baseline``, ``diff`` (median minus baseline median; negative
        is faster), ``diff_lo``, ``diff_hi``, and ``significant`` (the interval excludes 0).
    """
    groups = dict((k[0], v) for k, v in _groups(df, by, col))
    if not groups:
        return pd.DataFrame(
            columns=[
                by,
                "baseline",
                "n",
                "n_baseline",
                "median",
                "median_baseline",
                "diff",
                "diff_lo",
                "diff_hi",
                "significant",
            ]
        )
    if baseline is None:
        baseline = next(iter(groups))
    if baseline not in groups:
        raise NotFoundError(f"baseline {baseline!r} is not a value of {by!r}")
    base = groups[baseline]
    alpha = (1 - ci) / 2 * 100
    rows = []
    for offset, (name, values) in enumerate(groups.items()):
        if name == baseline:
            continue
        diff = np.median(values) - np.median(base) if len(values) and len(base) else _NAN
        lo = hi = _NAN
        if len(values) > 1 and len(base) > 1:
            boot_a = _boot_quantiles(values, [50], n_boot, seed + 1 + offset)[0]
            boot_b = _boot_quantiles(base, [50], n_boot, seed)[0]
            lo, hi = np.percentile(boot_a - boot_b, [alpha, 100 - alpha])
        rows.append(
            {
                by: name,
                "baseline": baseline,
                "n": len(values),
                "n_baseline": len(base),
                "median": float(np.median(values)) if len(values) else _NAN,
                "median_baseline": float(np.median(base)) if len(base) else _NAN,
                "diff": float(diff),
                "diff_lo": float(lo),
                "diff_hi": float(hi),
                "significant": bool(lo > 0 or hi < 0),
            }
        )
    return pd.DataFrame(rows)
