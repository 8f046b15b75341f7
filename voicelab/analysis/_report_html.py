"""The report page: one self-contained HTML file (inline CSS, plots as data URIs, no script).

Sections, in reading order: the summary (cards a manager reads), the warnings, the
per-scenario checks, the figures (``_report_figures``: latency with its breakdown
explained, reply rules, speech recognition, a comparison of groups), the calls
(``_report_calls``: hundreds of rows, so last) and a glossary. Every text that comes
from a record is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from voicelab.analysis._report_calls import calls_section, pick
from voicelab.analysis._report_css import CSS
from voicelab.analysis._report_figures import figures
from voicelab.analysis._report_markup import html_table, td, th
from voicelab.analysis._report_words import (
    GLOSSARY,
    call_kinds,
    check_label,
    count,
    in_sentence,
    percent,
    secs,
)

if TYPE_CHECKING:
    from voicelab.analysis.report import Report

__all__ = ["Frames", "render"]


@dataclass(frozen=True)
class Frames:
    """The loaded frames the page draws the calls from (the summaries are in the report)."""

    calls: pd.DataFrame
    turns: pd.DataFrame
    scores: pd.DataFrame
    errors: pd.DataFrame  # events_df rows of type "error"


def _cards(report: Report) -> str:
    head = report.headline
    assert head is not None  # built with the summary
    kinds = call_kinds(head.calls, head.simulated)
    if head.checks_decided:
        checks_kind = "bad" if head.calls_failing else "good"
        checks = f"{head.checks_passed:,} of {count(head.checks_decided, 'check')}; " + (
            f"{head.calls_failing:,} of {count(head.calls_checked, 'call')} failed one"
            if head.calls_failing
            else f"all {count(head.calls_checked, 'checked call')} passed"
            if head.calls_checked > 1
            else "the checked call passed"
        )
    else:
        checks_kind, checks = "", "no scenario expectations recorded"
    latency = "no reply was timed"
    if head.replies:
        latency = (
            f"95th percentile {secs(head.v2v_p95)}, slowest {secs(head.v2v_max)}; "
            f"{count(head.replies, 'reply', 'replies')}, "
            + (
                "as the caller hears them"
                if head.caller_side == head.replies
                else "server side"
                if not head.caller_side
                else f"{head.caller_side:,} as the caller hears them"
            )
        )
    errors = "no error events"
    if head.errors:
        errors = f"{'event' if head.errors == 1 else 'events'} in "
        errors += count(head.calls_with_errors, "call")
        errors += f", {head.fatal:,} fatal" if head.fatal else ""
    cards = [
        ("", "Calls", f"{head.calls:,}", f"{kinds}; {count(head.turns, 'caller turn')}"),
        ("", "Median wait for a reply", secs(head.v2v_p50), latency),
        (
            checks_kind,
            "Scenario checks passed",
            percent(head.checks_passed, head.checks_decided),
            checks,
        ),
        ("bad" if head.errors else "good", "Errors", f"{head.errors:,}", errors),
    ]
    if report.warnings:
        cards.append(
            ("warn", "Warnings", f"{len(report.warnings):,}", "records skipped: listed below")
        )
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card {kind}'><div class='what'>{escape(what)}</div>"
            f"<div class='big'>{escape(big)}</div><div class='say'>{escape(say)}</div></div>"
            for kind, what, big, say in cards
        )
        + "</div>"
    )


def _warnings(report: Report) -> str:
    if not report.warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
    title = escape(count(len(report.warnings), "warning"))
    return (
        f"<section class='warnings' id='warnings'><h2>{title}</h2><p class='note'>These "
        "records were skipped or partly dropped: the numbers below leave them out.</p>"
        f"<ul>{items}</ul></section>"
    )


def _badge(row: pd.Series) -> str:
    if row["failed"]:
        return "<span class='badge fail'>✗ failed</span>"
    if row["passed"]:
        return "<span class='badge pass'>✓ passed</span>"
    return "<span class='badge undecided'>not measured</span>"


def _checks(report: Report) -> str:
    table = report.summary["checks"]
    out = ["<h2 id='checks'>Scenario checks</h2>"]
    if table.empty:
        out.append(
            "<p class='note'>No scenario expectations were recorded: only simulated calls "
            "carry their scenario's <code>expect:</code> list.</p>"
        )
        return "".join(out)
    out.append(
        "<p class='note'>What each scenario file expects of the replies, and how many of its "
        "calls met it. 'Reply to line N' is the bot's answer to the caller's N-th line.</p>"
    )
    for scenario, frame in table.groupby("scenario", sort=False):
        calls = int(frame["calls"].max())
        failing = int((frame["failed"] > 0).sum())
        verdict = f"{count(failing, 'check')} failing" if failing else "every check passed"
        about = escape(f"· {count(calls, 'call')} · {verdict}")
        out.append(f"<h3>{escape(str(scenario))} <span class='meta'>{about}</span></h3>")
        rows = []
        for _, r in frame.iterrows():
            turn = None if pd.isna(r["turn"]) else int(r["turn"])
            shown = "".join(f"<li>{escape(f)}</li>" for f in r["failures"][:5])
            more = len(r["failures"]) - 5
            shown += f"<li>… and {more:,} more</li>" if more > 0 else ""
            failures = f"<ul class='failures'>{shown}</ul>" if shown else ""
            tally = f"{r['passed']:,} of {count(int(r['calls']), 'call')}"
            tally += f" ({r['undecided']:,} not measured)" if r["undecided"] else ""
            what = escape(check_label(str(r["check"]), turn, str(r["what"])))
            rows.append([f"<td>{_badge(r)}</td>", f"<td>{what}{failures}</td>", td(tally, True)])
        head = ["<th></th>", th("check"), th("passed", True, "Calls passed")]
        out.append(html_table(head, rows))
    return "".join(out)


def render(report: Report, frames: Frames, out_dir: Path, max_calls: int) -> str:
    """The whole page; audio and directories are linked relative to ``out_dir``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        made_by = f"voicelab {version('voicelab')}"
    except PackageNotFoundError:
        made_by = "voicelab"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    name = report.root.resolve().name or str(report.root)
    by = report.by
    shown, note = pick(report.summary["per_call"], max_calls)
    meta = f"{count(len(frames.calls), 'call')} in <code>{escape(str(report.root))}</code>"
    meta += f" · grouped by {escape(in_sentence(by))}" if by else ""
    meta += f" · generated {escape(when)}"
    body = figures(report, frames.turns)
    links = [("warnings", "Warnings")] if report.warnings else []
    links += [("checks", "Scenario checks"), ("latency", "Latency")]
    links += [("rules", "Reply rules")] if "id='rules'" in body else []
    links += [("calls", "Calls"), ("glossary", "Glossary")]
    glossary = "".join(f"<dt>{escape(t)}</dt><dd>{escape(d)}</dd>" for t, d in GLOSSARY)
    return "\n".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{escape(f'Call report: {name}')}</title><style>{CSS}</style></head>",
            "<body><main>",
            f"<h1>Call report: {escape(name)}</h1><p class='meta'>{meta}</p>",
            "<nav>" + "".join(f"<a href='#{a}'>{escape(t)}</a>" for a, t in links) + "</nav>",
            _cards(report),
            _warnings(report),
            _checks(report),
            body,
            # The calls last: there may be hundreds of rows.
            "<h2 id='calls'>Calls</h2><p class='note'>Open a call for its transcript, "
            "recordings and timeline. " + escape(note) + "</p>",
            calls_section(shown, frames, out_dir, by),
            f"<h2 id='glossary'>Glossary</h2><dl class='glossary'>{glossary}</dl>",
            f"<footer>Made by {escape(made_by)} from the call records in "
            f"<code>{escape(str(report.root))}</code>.</footer></main></body></html>",
        ]
    )
