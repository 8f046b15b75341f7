"""The report in a terminal: what ``voicelab report`` prints (``Report.to_text``).

The same numbers and words as the page (``_report_words``), as plain text: a summary in
sentences, then small tables with readable headers, the calls that need attention (not all
10,000), and every warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from voicelab.analysis._report_words import (
    METRICS,
    PARTS,
    RULES,
    call_kinds,
    check_label,
    count,
    in_sentence,
    label,
    percent,
    secs,
)

if TYPE_CHECKING:
    from voicelab.analysis._report_tables import Headline
    from voicelab.analysis.report import Report

__all__ = ["render", "summary_lines"]

_SHOWN_CALLS = 20  # failing calls listed in the terminal; the page has every one
_NUMBER_MARKS = str.maketrans("", "", ".,%")  # what may sit between the digits of a number


def _num(value: Any, digits: int = 2) -> str:
    return secs(value, digits).removesuffix(" s")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """A plain table: text columns left-aligned, numbers right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    numeric = [
        all(r[i].translate(_NUMBER_MARKS).strip("–-+ ").isdigit() for r in rows if r[i])
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(out)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def summary_lines(head: Headline) -> list[tuple[str, str]]:
    """The summary as ``(what, sentence)`` pairs: the page's cards say the same."""
    kinds = call_kinds(head.calls, head.simulated)
    calls = f"{count(head.calls, 'call')} ({kinds}), {count(head.turns, 'caller turn')}"
    if head.checks_decided:
        checks = (
            f"{head.checks_passed:,} of {count(head.checks_decided, 'check')} passed "
            f"({percent(head.checks_passed, head.checks_decided)}); "
        )
        checks += (
            f"{head.calls_failing:,} of {count(head.calls_checked, 'checked call')} failed one"
            if head.calls_failing
            else "the checked call passed"
            if head.calls_checked == 1
            else f"all {head.calls_checked:,} checked calls passed"
        )
    else:
        checks = "none recorded (only simulated calls carry their scenario's expectations)"
    if head.replies:
        side = (
            "as the caller hears them"
            if head.caller_side == head.replies
            else "server side"
            if head.caller_side == 0
            else f"{head.caller_side:,} as the caller hears them, the rest server side"
        )
        latency = (
            f"median {secs(head.v2v_p50)}, 95th percentile {secs(head.v2v_p95)}, slowest "
            f"{secs(head.v2v_max)} ({count(head.replies, 'reply', 'replies')}, {side})"
        )
    else:
        latency = "no reply was timed"
    errors = "none"
    if head.errors:
        errors = f"{count(head.errors, 'error event')} in {count(head.calls_with_errors, 'call')}"
        errors += f" ({head.fatal:,} fatal)" if head.fatal else ""
    return [
        ("Calls", calls),
        ("Scenario checks", checks),
        ("Reply latency", latency),
        ("Errors", errors),
    ]


def _latency(report: Report, by: str) -> list[str]:
    table = report.summary.get("latency", pd.DataFrame())
    if table.empty:
        return []
    rows = [
        [
            str(r[by]),
            METRICS.get(r["metric"], (r["metric"],))[0],
            f"{r['n']:,}",
            _num(r["p50"]),
            f"{_num(r['p50_lo'])}-{_num(r['p50_hi'])}",
            _num(r["p90"]),
            _num(r["p95"]),
            _num(r["max"]),
        ]
        for _, r in table.iterrows()
    ]
    headers = [label(by) if report.by else "Group", "Measured as", "Replies", "Median"]
    headers += ["Median 95% CI", "p90", "p95", "Slowest"]
    return [
        "Voice-to-voice latency, seconds (the caller's wait for each reply)",
        _table(headers, rows),
    ]


def _breakdown(report: Report, by: str) -> list[str]:
    table = report.summary.get("breakdown", pd.DataFrame())
    if table.empty:
        return []
    out = [
        "Where the time goes, seconds, over the turns with every stage measured\n"
        "  (the stages' means add up to the mean total; their medians need not add up to\n"
        "  the median total, which is given too)"
    ]
    for name, frame in table.groupby(by, sort=False):
        rows = [
            [
                "Total" if r["part"] == "total" else PARTS[r["part"]][0],
                _num(r["median"]),
                _num(r["mean"]),
                percent(r["share"], 1),
            ]
            for _, r in frame.iterrows()
        ]
        turns = count(int(frame["n"].iloc[0]), "turn")
        out.append(f"  {name} ({turns})" if report.by else f"  All calls ({turns})")
        out.append(_table(["Stage", "Median", "Mean", "Share"], rows, indent="    "))
    return out


def _checks(report: Report) -> list[str]:
    table = report.summary.get("checks", pd.DataFrame())
    if table.empty:
        return []
    out = ["Scenario checks (calls that passed each check)"]
    for scenario, frame in table.groupby("scenario", sort=False):
        out.append(f"  {scenario}")
        for _, r in frame.iterrows():
            turn = None if pd.isna(r["turn"]) else int(r["turn"])
            verdict = "FAIL" if r["failed"] else "PASS" if r["passed"] else "n/a "
            tally = f"{r['passed']:,} of {count(int(r['calls']), 'call')} passed"
            tally += f", {r['undecided']:,} not measured" if r["undecided"] else ""
            out.append(f"    {verdict}  {check_label(r['check'], turn, r['what'])}: {tally}")
            out += [f"          {failure}" for failure in r["failures"][:3]]
            if len(r["failures"]) > 3:
                out.append(f"          ... and {len(r['failures']) - 3:,} more")
    return out


def _rules(report: Report, by: str) -> list[str]:
    table = report.summary.get("quality", pd.DataFrame())
    table = table[~table["check"].astype("str").str.startswith("expect.")] if len(table) else table
    if table.empty:
        return []
    rows = [
        [
            *([str(r[by])] if report.by else []),
            RULES.get(r["check"], (r["check"],))[0],
            f"{r['checked']:,}",
            f"{r['passed']:,}",
            percent(r["passed"], r["checked"]),
        ]
        for _, r in table.iterrows()
    ]
    headers = [*([label(by)] if report.by else []), "Rule", "Checked", "Passed", "Pass rate"]
    return ["Reply rules (heuristics on every reply)", _table(headers, rows)]


def _calls(report: Report) -> list[str]:
    table = report.summary["per_call"]
    bad = table[(table["checks_passed"] < table["checks"]) | (table["errors"].fillna(0) > 0)]
    if bad.empty:
        return ["Calls: none failed a check or logged an error."]
    rows = [
        [
            str(r["call_sid"]),
            "" if pd.isna(r["scenario_id"]) else str(r["scenario_id"]),
            f"{r['checks_passed']}/{r['checks']}",
            f"{int(r['errors'] or 0):,}",
            _num(r["v2v_max_s"]),
            str(r["call_dir"]),
        ]
        for _, r in bad.head(_SHOWN_CALLS).iterrows()
    ]
    out = [f"Calls needing attention: {count(len(bad), 'call')} failed a check or logged an error"]
    out.append(_table(["Call", "Scenario", "Checks", "Errors", "Slowest (s)", "Directory"], rows))
    if len(bad) > _SHOWN_CALLS:
        out.append(f"  ... and {len(bad) - _SHOWN_CALLS:,} more: see the HTML report")
    return out


def render(report: Report) -> str:
    """The whole text report."""
    head = report.headline
    n = head.calls if head else 0
    title = f"voicelab report: {report.root} ({count(n, 'call')}"
    title += f", grouped by {in_sentence(report.by)})" if report.by else ")"
    parts = [title]
    if head is not None:
        width = max(len(k) for k, _ in summary_lines(head))
        parts.append("\n".join(f"  {k.ljust(width)}  {v}" for k, v in summary_lines(head)))
    by = report.by or "group"
    for section in (
        _latency(report, by),
        _breakdown(report, by),
        _checks(report),
        _rules(report, by),
        _calls(report) if "per_call" in report.summary else [],
    ):
        if section:
            parts.append("\n".join(section))
    wer = report.summary.get("wer", pd.DataFrame())
    if not wer.empty and wer["ref_words"].sum():
        words, errors = int(wer["ref_words"].sum()), int(wer["errors"].sum())
        parts.append(
            f"Speech recognition: word error rate {100 * errors / words:.1f}% "
            f"({count(errors, 'error')} in {count(words, 'word')} the callers said)"
        )
    if report.warnings:
        listed = "\n".join(f"  - {w}" for w in report.warnings)
        parts.append(f"{count(len(report.warnings), 'warning')}\n{listed}")
    if report.html_path is not None:
        parts.append(f"HTML report: {report.html_path}")
    elif report.unwritten:
        parts.append(f"HTML report not written: {report.unwritten}")
    return "\n\n".join(parts)
