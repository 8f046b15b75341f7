"""A report over a recordings root: summary tables, plots, one self-contained HTML file.

``build_report(root)`` is what ``voicelab report [DIR] [--by COLUMN]`` runs: it loads the
calls, summarises latency, quality and STT accuracy (per group of ``by`` when given), and
writes ``<root>/report.html`` with every plot embedded as a base64 PNG, so the file can be
mailed or attached to a CI run as is.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from voicelab._files import atomic_write_text
from voicelab.analysis.latency import BREAKDOWN, compare, latency_summary, measured_v2v
from voicelab.analysis.load import calls_df, turns_df
from voicelab.analysis.plots import (
    plot_breakdown,
    plot_latency_cdf,
    plot_latency_hist,
    plot_timeline,
    plot_waveform,
)
from voicelab.analysis.quality import scores_df
from voicelab.analysis.wer import turn_wer
from voicelab.errors import CallRecordError, InvalidArgumentError

__all__ = ["Report", "build_report"]


@dataclass
class Report:
    """What ``build_report`` produced.

    Attributes:
        root: The recordings root.
        by: The grouping column, if any.
        summary: Named summary tables: ``calls``, ``latency``, ``breakdown``, ``quality``,
            ``wer`` and, with two groups or more, ``compare``.
        html_path: The HTML file written (``None`` if it could not be written).
    """

    root: Path
    by: str | None
    summary: dict[str, pd.DataFrame] = field(default_factory=dict)
    html_path: Path | None = None

    def to_text(self) -> str:
        """The summary tables as plain text, for a terminal."""
        parts = [f"voicelab report: {self.root}" + (f" (by {self.by})" if self.by else "")]
        for name, table in self.summary.items():
            body = "(none)" if table.empty else table.to_string(index=False, float_format=_fmt)
            parts.append(f"\n== {name} ==\n{body}")
        if self.html_path is not None:
            parts.append(f"\nHTML report: {self.html_path}")
        return "\n".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _group(df: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """``df`` with a string ``by`` column (``all`` when ungrouped), so groups print well."""
    if by is None:
        return df.assign(group="all")
    return df.assign(group=["(none)" if pd.isna(v) else str(v) for v in df[by]])


def _summaries(
    calls: pd.DataFrame, turns: pd.DataFrame, by: str | None, scores: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    calls, turns = _group(calls, by), _group(turns, by)
    per_call = calls.groupby("group", sort=True).agg(
        calls=("call_sid", "size"),
        simulated=("simulated", "sum"),
        turns=("n_turns", "sum"),
        median_duration_s=("duration_s", "median"),
        interruptions=("n_interruptions", "sum"),
        errors=("n_errors", "sum"),
    )
    measured = measured_v2v(turns)
    latency = latency_summary(turns, by="group", col=measured) if measured else pd.DataFrame()
    if measured:
        latency = latency[latency["n"] > 0].reset_index(drop=True)
    breakdown = turns.groupby("group", sort=True)[list(BREAKDOWN)].median()
    # Rule checks plus each simulated call's scenario expectations (from its manifest).
    scores = scores.assign(call_sid=lambda d: d["call_sid"].astype("str"))
    scores = scores.merge(calls[["call_sid", "group"]].astype({"call_sid": "str"}), on="call_sid")
    quality = scores.groupby(["group", "check"], sort=True)["passed"].agg(["count", "sum"])
    quality = quality.rename(columns={"count": "checked", "sum": "passed"})
    quality["pass_rate"] = quality["passed"] / quality["checked"]
    wer = turn_wer(turns).assign(call_sid=lambda d: d["call_sid"].astype("str"))
    wer = wer.merge(calls[["call_sid", "group"]], on="call_sid")
    wer["errors"] = wer["substitutions"] + wer["deletions"] + wer["insertions"]
    wer_table = wer.groupby("group", sort=True)[["ref_words", "errors"]].sum()
    wer_table["wer"] = (wer_table["errors"] / wer_table["ref_words"]).astype("float64")
    out = {
        "calls": per_call.reset_index(),
        "latency": latency,
        "breakdown": breakdown.reset_index(),
        "quality": quality.reset_index(),
        "wer": wer_table.reset_index(),
    }
    # A/B on the first latency every group has (real calls have no caller-side figure).
    everywhere = [c for c in measured if turns.groupby("group")[c].count().min() > 0]
    if everywhere and turns["group"].nunique() > 1:
        out["compare"] = compare(turns, "group", everywhere[0])
    return {name: table.rename(columns={"group": by or "group"}) for name, table in out.items()}


def _png(draw: object, size: tuple[float, float] = (8, 3.6)) -> str:
    figure = Figure(figsize=size, layout="constrained")
    ax: Axes = figure.add_subplot()
    draw(ax)  # type: ignore[operator]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(calls: pd.DataFrame, turns: pd.DataFrame, by: str | None) -> dict[str, str]:
    turns = _group(turns, by)
    col = next(iter(measured_v2v(turns)), None)
    plots: dict[str, str] = {}
    if col is not None:
        plots[f"{col} CDF"] = _png(lambda ax: plot_latency_cdf(turns, col, by="group", ax=ax))
        plots[f"{col} histogram"] = _png(
            lambda ax: plot_latency_hist(turns, col, by="group", ax=ax)
        )
    if turns[list(BREAKDOWN)].notna().any().any():
        plots["latency breakdown"] = _png(lambda ax: plot_breakdown(turns, by="group", ax=ax))
    last = calls.iloc[-1]
    sid = str(last["call_sid"])
    if (turns["call_sid"].astype("str") == sid).any():
        plots[f"timeline of {sid}"] = _png(lambda ax: plot_timeline(turns, sid, ax=ax), (10, 2.8))
    with_audio = calls[calls["caller_wav"].notna() | calls["server_wav"].notna()]
    if len(with_audio):
        row = with_audio.iloc[-1]
        with contextlib.suppress(CallRecordError):  # a bad WAV costs the plot, not the report
            plots[f"waveform of {row['call_sid']}"] = _png(
                lambda ax: plot_waveform(row, turns, ax=ax), (10, 3)
            )
    return plots


def _html(report: Report, plots: dict[str, str], n_calls: int) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"voicelab report: {report.root.name or report.root}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}",
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;",
        "padding:.2em .6em;text-align:right}th{background:#f3f3f3}img{max-width:100%}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{n_calls} calls in <code>{html.escape(str(report.root))}</code>"
        + (f", grouped by <code>{html.escape(report.by)}</code>" if report.by else "")
        + f"; generated {when}.</p>",
    ]
    for name, table in report.summary.items():
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if table.empty:
            parts.append("<p>(none)</p>")
        else:
            parts.append(table.to_html(index=False, float_format=_fmt, na_rep="", border=0))
    for name, png in plots.items():
        parts.append(
            f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' "
            f"src='data:image/png;base64,{png}'>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(
    root: str | os.PathLike[str],
    by: str | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    cache: bool = True,
) -> Report:
    """Summarise every call under ``root`` and write the HTML report.

    Args:
        root: The recordings root (or one call directory).
        by: A ``calls_df`` column to compare groups by (``persona_hash``, ``llm_model``,
            ``scenario_id``, a manifest tag...).
        path: Where to write the HTML; default ``<root>/report.html``.
        cache: Use the loaders' parquet cache.

    Raises:
        ValueError: ``by`` is not a column of ``calls_df`` (the message lists them).
    """
    root = Path(root)
    calls = calls_df(root, cache=cache)
    turns = turns_df(root, cache=cache)
    if by is not None and by not in calls.columns:
        raise InvalidArgumentError(
            f"cannot group by {by!r}; calls_df has: {', '.join(calls.columns)}"
        )
    if by is not None and by not in turns.columns:  # turns carry the sweep cell already
        turns = turns.merge(calls[["call_sid", by]], on="call_sid", how="left")
    report = Report(root, by)
    plots: dict[str, str] = {}
    if len(calls):
        report.summary = _summaries(calls, turns, by, scores_df(root))
        plots = _plots(calls, turns, by)
    target = Path(path) if path is not None else root / "report.html"
    text = _html(report, plots, len(calls))
    try:
        # Through a fresh temporary file and a rename: the records' directory may hold a
        # planted symlink (at a fixed temporary name, or at report.html itself).
        atomic_write_text(target, text)
        report.html_path = target
    except OSError:
        report.html_path = None
    return report
