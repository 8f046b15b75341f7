"""The text a finished sweep prints: what ran, what failed, and how the variants compare."""

from __future__ import annotations

import pandas as pd

from voicelab.sweeps._run import SweepResult

__all__ = ["sweep_report"]

_COMPARE = ["variant", "baseline", "n", "n_baseline", "median", "median_baseline", "diff"]


def sweep_report(result: SweepResult, col: str = "v2v_caller_s") -> str:
    """Counts, failures (each cell named), per-variant latency and the comparison table."""
    played = len(result.outcomes)
    lines = [
        f"sweep {result.sweep.name}: {len(result.cells)} cells, {played} played now,"
        f" {len(result.skipped)} already recorded, {len(result.retried)} retried,"
        f" {len(result.failures)} failed; store {result.store}"
    ]
    if result.set_aside:
        lines.append(f"  {len(result.set_aside)} incomplete call(s) of an earlier run set aside")
    for outcome in result.failures:
        lines.append(f"  FAILED {outcome.cell.id} (attempt {outcome.attempt}): {outcome.error}")
    turns = result.turns_df()
    replies = turns[turns["turn"] > 0] if "turn" in turns else turns
    if replies.empty or col not in replies or replies[col].notna().sum() == 0:
        lines.append("no answered turns to compare")
        return "\n".join(lines)
    summary = result.summary(col)
    shown = [c for c in ("variant", "n", "p50", "p90", "p95", "max") if c in summary]
    lines += ["", f"{col} by variant (seconds)", summary[shown].round(3).to_string(index=False)]
    if result.sweep.variants and len(result.sweep.variants) > 1:
        table = result.compare(col)
        if not table.empty:
            ci = (
                table["diff_lo"].round(3).astype(str)
                + " .. "
                + table["diff_hi"].round(3).astype(str)
            )
            shown_table = table[_COMPARE].round(3).assign(ci95=ci, significant=table["significant"])
            lines += [
                "",
                f"compare(turns, by='variant', col={col!r}): median difference to the baseline",
                pd.DataFrame(shown_table).to_string(index=False),
            ]
    return "\n".join(lines)
