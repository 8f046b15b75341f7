"""The report page's figures: latency, where the time goes, reply rules, STT, comparisons.

Latency is reported as percentiles with bootstrap intervals (never a mean alone); the
breakdown shows the stages' means (they add up) beside their medians (they do not), and
says so on the page.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.axes import Axes

from voicelab.analysis._report_css import PART_COLOURS
from voicelab.analysis._report_markup import html_table, png, td, th
from voicelab.analysis._report_tables import group, reply_v2v
from voicelab.analysis._report_words import (
    METRICS,
    PARTS,
    RULES,
    count,
    explain,
    label,
    percent,
    secs,
)
from voicelab.analysis.plots import plot_latency_cdf

if TYPE_CHECKING:
    from voicelab.analysis.report import Report

__all__ = ["figures"]


def _latency(report: Report, turns: pd.DataFrame) -> str:
    table = report.summary["latency"]
    out = ["<h2 id='latency'>Latency: how long callers wait for a reply</h2>"]
    if table.empty:
        return "".join([*out, "<p class='note'>No reply was timed.</p>"])
    by = report.by or "group"
    out.append(
        "<p class='note'>Voice-to-voice latency per reply, in seconds: from the end of the "
        "caller's speech to the first sound of the bot's answer. Percentiles, not averages: "
        "one slow reply in twenty is what p95 shows. Each way of measuring has its own row; "
        "the summary above counts each reply once, by the best figure it has (as the caller "
        "hears it, else on the recording, else server side).</p>"
    )
    rows = [
        [
            *([td(r[by])] if report.by else []),
            f"<td title='{escape(METRICS[r['metric']][1])}'>{escape(METRICS[r['metric']][0])}</td>",
            td(f"{r['n']:,}", True),
            td(secs(r["p50"]), True),
            td(f"{secs(r['p50_lo'])} – {secs(r['p50_hi'])}", True),
            td(secs(r["p90"]), True),
            td(secs(r["p95"]), True),
            td(secs(r["max"]), True),
        ]
        for _, r in table.iterrows()
    ]
    head = [*([th(by, text=label(by))] if report.by else []), th("metric"), th("n", True)]
    head += [th(c, True) for c in ("p50", "p50_ci", "p90", "p95", "max")]
    out.append(html_table(head, rows))
    # One figure per reply, the best it has: the same count as the summary's median.
    grouped = group(turns, report.by).assign(v2v_s=reply_v2v(turns)["v2v_s"])

    def draw(ax: Axes) -> None:
        plot_latency_cdf(grouped, "v2v_s", by="group", ax=ax)
        for level, name in ((0.5, "median"), (0.95, "95th percentile")):
            ax.axhline(level, color="#9ca3af", linewidth=0.8, linestyle="--")
            ax.text(ax.get_xlim()[0], level + 0.01, f" {name}", fontsize="small", color="#6b7280")
        ax.set_xlabel("voice-to-voice latency, each reply's best figure (s)")
        ax.set_ylabel("share of replies at or below")

    out.append(
        "<h3>Distribution</h3><p class='note'>Each curve rises through the replies from "
        "fastest to slowest; where it crosses a dashed line is the median or the 95th "
        "percentile.</p>"
        f"<img class='plot' alt='latency distribution' src='data:image/png;base64,{png(draw)}'>"
    )
    return "".join(out) + _breakdown(report)


def _breakdown(report: Report) -> str:
    table = report.summary["breakdown"]
    if table.empty:
        return ""
    by = report.by or "group"
    parts = list(PARTS)
    totals = table[table["part"] == "total"].set_index(by)
    widest = float(totals["mean"].max()) or 1.0
    bars, rows = [], []
    for name, frame in table.groupby(by, sort=False):
        stages = frame.set_index("part")
        total = float(stages.at["total", "mean"])
        means = stages["mean"]
        spans = "".join(
            f"<span style='width:{max(means[p], 0) / widest * 100:.2f}%;"
            f"background:{PART_COLOURS[i]}' title='{escape(PARTS[p][0])}: mean "
            f"{escape(secs(means[p]))} ({escape(percent(means[p], total))})'></span>"
            for i, p in enumerate(parts)
        )
        shown = str(name) if report.by else "All calls"
        n = count(int(stages["n"].iloc[0]), "reply", "replies")
        bars.append(
            f"<div class='bar'><span class='name' title='{escape(shown)}, {escape(n)}'>"
            f"{escape(shown)}</span><span class='stack'>{spans}</span><span class='total'>"
            f"{escape(secs(total))}</span></div>"
        )
        lead = [td(name)] if report.by else []
        for part in parts:
            rows.append(
                [
                    *lead,
                    f"<td title='{escape(explain(part))}'>{escape(PARTS[part][0])}</td>",
                    td(secs(stages.at[part, "median"]), True),
                    td(secs(stages.at[part, "mean"]), True),
                    td(percent(stages.at[part, "mean"], total), True),
                ]
            )
            lead = ["<td></td>"] if report.by else []
        summed = float(stages.loc[parts, "median"].sum())
        rows.append(
            [
                *lead,
                "<td><b>Total (voice-to-voice)</b></td>",
                td(secs(stages.at["total", "median"]), True),
                td(secs(total), True),
                td("100%", True),
            ]
        )
        rows.append(
            [
                *lead,
                "<td class='aside'>The stage medians above, summed</td>",
                f"<td class='num aside'>{escape(secs(summed))}</td>",
                "<td></td>",
                "<td></td>",
            ]
        )
    legend = "".join(
        f"<span><i style='background:{PART_COLOURS[i]}'></i>{escape(PARTS[p][0])}</span>"
        for i, p in enumerate(parts)
    )
    note = (
        "Over the replies with every stage measured. Each bar stacks the stages' "
        "<b>means</b>: means add up, so a bar ends at the mean voice-to-voice latency. "
        "Medians do not add up: the median of each stage comes from a different reply, so "
        "the stage medians summed (the last row of each group below) differ from the median total. "
        "Both are in the table; the percentiles above are the ones to hold a target to."
    )
    head = [*([th(by)] if report.by else []), th("part"), th("median", True)]
    head += [th("mean", True), th("share", True)]
    return (
        "<h3>Where the time goes</h3>"
        f"<p class='note'>{note}</p><div class='bars'><div class='legend'>{legend}</div>"
        f"{''.join(bars)}</div>{html_table(head, rows)}"
    )


def _rules(report: Report) -> str:
    table = report.summary["quality"]
    table = table[~table["check"].astype("str").str.startswith("expect.")]
    if table.empty:
        return ""
    by = report.by or "group"
    rows, previous = [], None
    for _, r in table.iterrows():
        name, tip = RULES.get(r["check"], (r["check"], ""))
        lead = [td(r[by] if r[by] != previous else "")] if report.by else []  # once a group
        previous = r[by]
        rows.append(
            [
                *lead,
                f"<td title='{escape(tip)}'>{escape(name)}</td>",
                td(f"{r['checked']:,}", True),
                td(f"{r['passed']:,}", True),
                td(percent(r["passed"], r["checked"]), True),
            ]
        )
    head = [*([th(by)] if report.by else []), th("check", text="Rule")]
    head += [th("checked", True), th("passed", True), th("pass_rate", True)]
    return (
        "<h2 id='rules'>Reply rules</h2><p class='note'>Cheap heuristics run on every reply "
        "(thresholds in quality_rules.yaml). Hover a rule for what it checks.</p>"
        + html_table(head, rows)
    )


def _wer(report: Report) -> str:
    table = report.summary["wer"]
    if table.empty or not table["ref_words"].sum():
        return ""
    words, errors = int(table["ref_words"].sum()), int(table["errors"].sum())
    return (
        "<h2 id='stt'>Speech recognition</h2><p>Word error rate "
        f"<b>{escape(f'{100 * errors / words:.1f}%')}</b>: {escape(count(errors, 'error'))} in "
        f"{escape(count(words, 'word'))} the simulated callers said (their scripts are the "
        "ground truth).</p>"
    )


def _compare(report: Report) -> str:
    table = report.summary.get("compare")
    if table is None or table.empty:
        return ""
    by = report.by or "group"
    rows = []
    for _, r in table.iterrows():
        rows.append(
            [
                td(r[by]),
                td(r["baseline"]),
                td(f"{r['diff']:+.2f} s", True),
                td(f"{r['diff_lo']:+.2f} – {r['diff_hi']:+.2f} s", True),
                td("yes" if r["significant"] else "could be chance"),
            ]
        )
    head = [th(by), th("baseline"), th("diff", True), th("diff_ci", True), th("significant")]
    metric = METRICS[str(table["metric"].iloc[0])][0].lower()
    return (
        f"<h2 id='compare'>Groups compared</h2><p class='note'>Median latency ({escape(metric)}) "
        "of each group against the first, with a bootstrap 95% interval.</p>"
        + html_table(head, rows)
    )


def figures(report: Report, turns: pd.DataFrame) -> str:
    """Latency (with the breakdown), reply rules, speech recognition and the comparison."""
    return _latency(report, turns) + _rules(report) + _wer(report) + _compare(report)
