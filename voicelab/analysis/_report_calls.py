"""The report's per-call rows: one ``<details>`` each, opening to the call itself.

A row says what a reader scans for (scenario, length, reply latency, checks, errors, how
it ended); opened, it shows the failed checks, the transcript turn by turn with each
reply's latency, audio players for the call's recordings and its timeline. Every text
from a record is escaped: records come from CI artifacts and colleagues.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from voicelab.analysis._report_svg import timeline_svg
from voicelab.analysis._report_tables import reply_v2v
from voicelab.analysis._report_words import COLUMNS, PARTS, check_label, count, label, secs
from voicelab.analysis.latency import BREAKDOWN
from voicelab.analysis.plots import call_timeline

__all__ = ["calls_section", "pick"]

_HEAD = ["", "started_at", "scenario_id", "group", "direction", "duration_s", "turns"]
_HEAD += ["v2v_median_s", "v2v_max_s", "checks", "errors", "end_reason"]
_NUMERIC = {"duration_s", "turns", "v2v_median_s", "v2v_max_s", "checks", "errors"}


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def pick(per_call: pd.DataFrame, max_calls: int) -> tuple[pd.DataFrame, str]:
    """The calls given a row, failing ones first, and a sentence saying which."""
    failing = (per_call["checks_passed"] < per_call["checks"]) | (
        per_call["errors"].fillna(0).astype("int64") > 0
    )
    ordered = per_call.assign(_failing=failing).sort_values(
        ["_failing", "started_at"], ascending=[False, True], kind="stable", na_position="last"
    )
    bad = int(failing.sum())
    if len(ordered) <= max_calls:
        note = (
            f"{count(bad, 'call')} failed a check or logged an error: listed first." if bad else ""
        )
        return ordered, note
    shown_bad = min(bad, max_calls)
    rest = ordered[~ordered["_failing"]].sort_values("started_at", na_position="first")
    recent = rest.tail(max_calls - shown_bad).sort_values("started_at", kind="stable")
    chosen = pd.concat([ordered[ordered["_failing"]].head(shown_bad), recent])
    parts = [f"the {shown_bad:,} that failed a check or logged an error"] if shown_bad else []
    parts += [f"the {len(recent):,} most recent"] if len(recent) else []
    which = ", then ".join(parts) or "none (max_calls is 0)"
    note = (
        f"Showing {len(chosen):,} of {count(len(per_call), 'call')}: {which}. "
        "build_report(max_calls=N) or voicelab report --max-calls N shows more."
    )
    return chosen, note


def _status(row: pd.Series) -> tuple[str, str, str]:
    """The row's mark, its class and what it means."""
    if row["checks_passed"] < row["checks"]:
        return "✗", "no", "failed a scenario check"
    if not _missing(row["errors"]) and row["errors"] > 0:
        return "!", "err", "logged an error"
    if row["checks"]:
        return "✓", "ok", "passed every scenario check"
    return "·", "none", "no scenario checks"


def _link(path: Any, out_dir: Path) -> str:
    """``path`` relative to the page, URL-quoted: the page works wherever the tree goes."""
    try:
        relative = os.path.relpath(os.path.abspath(str(path)), os.path.abspath(out_dir))
    except ValueError:  # another drive (Windows): only an absolute link can reach it
        return Path(os.path.abspath(str(path))).as_uri()
    return quote(relative.replace(os.sep, "/"))


def _summary_cells(row: pd.Series, by: str | None) -> list[str]:
    mark, kind, meaning = _status(row)
    started = row["started_at"]
    when = "–" if _missing(started) else started.strftime("%Y-%m-%d %H:%M:%S")
    checks = f"{row['checks_passed']}/{row['checks']}" if row["checks"] else "–"
    cells = [
        f"<span class='st {kind}' title='{escape(meaning)}'>{mark}</span>",
        f"<span class='cell mono'>{escape(when)}</span>",
        f"<span class='cell' title='{escape(str(row['call_sid']))}'>"
        f"{escape(_text(row['scenario_id']) or 'real call')} "
        f"<span class='mono aside' style='display:inline'>…{escape(str(row['call_sid'])[-6:])}"
        "</span></span>",
    ]
    if by is not None:
        cells.append(f"<span class='cell'>{escape(_text(row[by]) or '(none)')}</span>")
    cells += [
        f"<span class='cell'>{escape(_text(row['direction']))}</span>",
        f"<span class='num'>{escape(secs(row['duration_s'], 1))}</span>",
        f"<span class='num'>{escape(_text(row['turns']))}</span>",
        f"<span class='num'>{escape(secs(row['v2v_median_s']))}</span>",
        f"<span class='num'>{escape(secs(row['v2v_max_s']))}</span>",
        f"<span class='num'>{escape(checks)}</span>",
        f"<span class='num'>{escape(_text(row['errors']) or '–')}</span>",
        f"<span class='cell'>{escape(_text(row['end_reason']) or '–')}</span>",
    ]
    return cells


def _transcript(turns: pd.DataFrame) -> str:
    if turns.empty:
        return "<p class='note'>No turns were recorded.</p>"
    rows = []
    for _, turn in turns.iterrows():
        number = turn["turn"]
        name = "–" if _missing(number) else "Greeting" if number == 0 else f"Turn {number}"
        caller, stt = _text(turn["caller_text"]), _text(turn["stt_text"])
        said = caller or stt
        cell = f"<span class='said'>Caller</span>{escape(said)}" if said else ""
        if caller and stt and caller.strip().lower() != stt.strip().lower():
            cell += f"<span class='aside'>Speech recognition heard: {escape(stt)}</span>"
        bot, heard = _text(turn["bot_text"]), _text(turn.get("heard_text"))
        reply = f"<span class='reply'>Bot</span>{escape(bot)}" if bot else ""
        if heard and heard.strip().lower() != bot.strip().lower():
            reply += f"<span class='aside'>The caller heard: {escape(heard)}</span>"
        if not _missing(turn["interrupted"]) and bool(turn["interrupted"]):
            reply += " <span class='badge warnb'>cut off by the caller</span>"
        parts = [f"{PARTS[p][0]} {secs(turn[p])}" for p in BREAKDOWN if not _missing(turn[p])]
        source = turn["v2v_from"]
        tip = (label(str(source)) + ". " if isinstance(source, str) else "") + "; ".join(parts)
        latency = secs(turn["v2v_s"])
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{cell}</td><td>{reply}</td>"
            f"<td class='num' title='{escape(tip)}'>{escape(latency)}</td></tr>"
        )
    head = (
        "<tr><th></th><th>Caller said</th><th>Bot replied</th>"
        f"<th class='num' title='{escape(COLUMNS['v2v_median_s'][1])} Hover a figure for "
        "its stages.'>Reply latency</th></tr>"
    )
    return f"<table class='transcript'>{head}{''.join(rows)}</table>"


def _players(call: pd.Series, out_dir: Path) -> str:
    players = []
    for column, caption in (
        ("caller_wav", "Caller's side (left ear: what the caller said; right: what it heard)"),
        ("server_wav", "Server's recording (left ear: the caller; right: the bot)"),
    ):
        if not _missing(call[column]):
            src = escape(_link(call[column], out_dir))
            players.append(
                f"<figure><figcaption>{escape(caption)}</figcaption>"
                f"<audio controls preload='none' src='{src}'></audio></figure>"
            )
    if not players:
        return "<p class='note'>No recording was kept for this call.</p>"
    return f"<div class='players'>{''.join(players)}</div>"


def _body(call: pd.Series, turns: pd.DataFrame, failed: list[str], out_dir: Path) -> str:
    sid = str(call["call_sid"])
    providers = [
        f"{part.upper()} {_text(call[f'{part}_model']) or _text(call[f'{part}_service'])}"
        for part in ("stt", "llm", "tts")
        if _text(call[f"{part}_model"]) or _text(call[f"{part}_service"])
    ]
    where = escape(_link(call["call_dir"], out_dir))
    meta = [f"Call <span class='mono'>{escape(sid)}</span>"]
    meta += [escape(", ".join(providers))] if providers else []
    meta += [f"<a href='{where}/'>record directory</a>"]
    out = [f"<p class='meta'>{' · '.join(meta)}</p>"]
    if failed:
        items = "".join(f"<li>{escape(f)}</li>" for f in failed)
        out.append(f"<ul class='failures'>{items}</ul>")
    out.append(_transcript(turns))
    out.append(_players(call, out_dir))
    if not turns.empty:
        svg = timeline_svg(call_timeline(turns, sid))
        out.append(svg or "<p class='note'>No speech timings were recorded.</p>")
    return "".join(out)


def _failed(scores: pd.DataFrame) -> dict[str, list[str]]:
    """Each call's failed checks in words: its scenario's first, then the reply rules."""
    bad = scores[scores["passed"].eq(False).fillna(False).astype(bool)]
    bad = bad.assign(rule=~bad["check"].astype("str").str.startswith("expect."))
    out: dict[str, list[str]] = {}
    for r in bad.sort_values("rule", kind="stable").itertuples(index=False):
        turn = None if _missing(r.turn) else int(r.turn)
        what = check_label(str(r.check), turn)
        if r.rule:  # rules count the server's turns
            what = f"Rule: {what}" + ("" if turn is None else f" (turn {turn})")
        out.setdefault(str(r.call_sid), []).append(f"✗ {what}: {r.detail}")
    return out


def _errors(errors: pd.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in errors.itertuples(index=False):
        fatal = " (fatal)" if not _missing(r.fatal) and bool(r.fatal) else ""
        line = f"Error{fatal}, {r.source} at {secs(r.t, 1)}: {_text(r.message) or 'no message'}"
        out.setdefault(str(r.call_sid), []).append(line)
    return out


def calls_section(shown: pd.DataFrame, frames: Any, out_dir: Path, by: str | None) -> str:
    """The calls' header row and one ``<details>`` per row of ``shown`` (``pick`` output).

    ``frames`` holds the loaded ``calls``, ``turns``, ``scores`` and error ``errors``
    (``_report_html.Frames``). With ``by`` (other than the scenario, which has its own
    column), a column shows each call's group.
    """
    by = None if by == "scenario_id" else by
    grouped = by is not None
    sids = set(shown["call_sid"])
    turns = frames.turns[frames.turns["call_sid"].astype("str").isin(sids)]
    turns = pd.concat([turns, reply_v2v(turns)], axis=1)  # once, not per call
    by_call = {str(k): v for k, v in turns.groupby(turns["call_sid"].astype("str"), sort=False)}
    scores = frames.scores
    failed = _failed(scores[scores["call_sid"].astype("str").isin(sids)])
    errors = _errors(frames.errors[frames.errors["call_sid"].astype("str").isin(sids)])
    calls = frames.calls
    rows = calls.assign(_sid=calls["call_sid"].astype("str")).set_index("_sid")
    head = [h for h in _HEAD if grouped or h != "group"]
    names = {h: COLUMNS[h] for h in head if h and h != "group"}
    names["group"] = (label(by) if by else "", "The value the report is grouped by.")
    cells = "".join(
        f"<span class='{'num' if h in _NUMERIC else ''}' title='{escape(names[h][1])}'>"
        f"{escape(names[h][0])}</span>"
        if h
        else "<span></span>"
        for h in head
    )
    out = [f"<div class='calls{' grouped' if grouped else ''}'><div class='row head'>{cells}</div>"]
    empty = turns.iloc[0:0]
    for _, row in shown.iterrows():
        sid = str(row["call_sid"])
        summary = "".join(_summary_cells(row, by))
        problems = failed.get(sid, []) + errors.get(sid, [])
        body = _body(rows.loc[sid], by_call.get(sid, empty), problems, out_dir)
        out.append(
            f"<details class='call' id='call-{escape(sid)}'><summary class='row'>{summary}"
            f"</summary><div class='body'>{body}</div></details>"
        )
    out.append("</div>")
    return "".join(out)
