"""What the CLI prints: a call's transcript, its per-turn latency, the files it left."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import typer

__all__ = [
    "call_turns",
    "latency_by_line",
    "print_actions",
    "print_call",
    "print_checks",
    "print_pass_rates",
    "print_summary",
    "reply_latencies",
    "server_errors",
]

from voicelab.analysis import BREAKDOWN

# Caller-side and server-side voice-to-voice, then the parts that add up to the former.
LATENCY_COLUMNS = ["v2v_caller_s", "v2v_server_s", *BREAKDOWN]


def call_turns(call: Any) -> pd.DataFrame:
    """``turns_df`` rows of one simulated call (empty if nothing was recorded)."""
    from voicelab.analysis import turns_df

    if call.directory is None:
        return pd.DataFrame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # other, half-written calls are not this call's business
        turns = turns_df(call.directory.parent)
    return turns[turns["call_sid"] == call.call_sid].reset_index(drop=True)


def print_call(call: Any, scenario: Any = None) -> bool:
    """One simulated call on a screen: transcript, errors, checks, latency, files.

    Args:
        call: The call (a ``CallResult``).
        scenario: The scenario it played: its checks are printed too.

    Returns:
        Whether the call's checks passed (``True`` without a scenario).
    """
    typer.echo(
        f"\ncall {call.call_sid}: {call.status} in {call.seconds:.1f} s ({call.scenario_id})"
    )
    if call.error:
        typer.echo(f"error: {call.error}")
    turns = call_turns(call)
    if not turns.empty:
        typer.echo("\nTranscript")
        for row in turns.itertuples():
            if isinstance(row.caller_text, str) and row.caller_text:
                heard = f'   (STT heard: "{row.stt_text}")' if isinstance(row.stt_text, str) else ""
                typer.echo(f"  caller: {row.caller_text}{heard}")
            if isinstance(row.bot_text, str) and row.bot_text:
                typer.echo(f"  bot:    {row.bot_text}")
    for message in server_errors(call):
        typer.echo(f"server error: {message}")
    print_actions(call)
    checks = print_checks([call], [scenario]) if scenario is not None else None
    passed = scenario is None or (checks is not None and bool(checks["passed"].all()))
    replies = turns[turns["turn"] > 0] if not turns.empty else turns
    if not replies.empty:
        typer.echo(
            "\nLatency per caller line, seconds (v2v = end of caller speech to first bot audio"
            " heard; vad_stop_s..transport_s add up to v2v_caller_s; a line the server took"
            " as two turns has two rows)"
        )
        typer.echo(latency_by_line(replies).to_string(na_rep="-"))
        late = replies.get("overlaps_next_line", pd.Series(dtype="boolean"))
        for row in replies[late.fillna(False).astype(bool)].itertuples():
            typer.echo(
                f"  line {row.caller_turn}: the reply was first heard after the caller had"
                " started its next line, so it has no voice-to-voice figure"
            )
    if call.directory is not None:
        typer.echo("\nFiles")
        for path in sorted(call.directory.iterdir()):
            if not path.name.startswith("."):
                typer.echo(f"  {path}")
    return passed


def latency_by_line(replies: pd.DataFrame) -> pd.DataFrame:
    """The latency columns of ``turns_df`` rows, in time order, indexed by the caller's line
    (``caller_turn``; the server's turn where no line is known) beside the server's turn."""
    ordered = replies.sort_values("turn", kind="stable")
    line = ordered["turn"]
    if "line" in ordered:  # a turn the server split off a line keeps the line's number
        line = ordered["line"].astype("Int64").fillna(ordered["turn"].astype("Int64"))
    elif "caller_turn" in ordered:
        line = ordered["caller_turn"].astype("Int64").fillna(ordered["turn"].astype("Int64"))
    table = ordered[LATENCY_COLUMNS].round(3)
    table.insert(0, "server_turn", ordered["turn"].astype("Int64").to_numpy())
    table.index = pd.Index(line.to_numpy(), name="line")
    return table


def print_actions(call: Any) -> None:
    """What the agent did: its function calls, a transfer, who ended the call, a voicemail."""
    from voicelab.analysis import tool_calls_df

    if call.directory is None or not (call.directory / "call.json").is_file():
        return
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tools = tool_calls_df(call.directory, cache=False)
    for row in tools.itertuples():
        args = json.loads(row.arguments) if isinstance(row.arguments, str) else {}
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        outcome = row.result if isinstance(row.result, str) else row.error or row.status
        mocked = " (mocked)" if row.mocked is True else ""
        turn = f"turn {row.turn}: " if not pd.isna(row.turn) else ""
        lines.append(f"{turn}{row.name}({shown}) -> {outcome}{mocked}")
    manifest = json.loads((call.directory / "call.json").read_text(encoding="utf-8"))
    if manifest.get("transferred_to"):
        status = manifest.get("transfer_status")
        lines.append(
            f"transferred to {manifest['transferred_to']}" + (f" ({status})" if status else "")
        )
    voicemail = manifest.get("voicemail") or {}
    if voicemail.get("text"):
        lines.append(f"voicemail left: {voicemail['text']!r}")
    if manifest.get("ended_by"):
        lines.append(f"ended by the {manifest['ended_by']}")
    if lines:
        typer.echo("\nActions")
        for line in lines:
            typer.echo(f"  {line}")


def server_errors(call: Any) -> list[str]:
    """The ``error`` events the server recorded for the call (a failed provider or setup)."""
    if call.directory is None or not (call.directory / "events.jsonl").is_file():
        return []
    found = []
    for line in (call.directory / "events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("source") == "server" and event.get("type") == "error":
            found.append(str(event.get("data", {}).get("message", "")))
    return found


def reply_latencies(calls: Sequence[Any]) -> dict[str, list[float]]:
    """Each call's reply voice-to-voice figures, by CallSid: ``voicelab report``'s
    (:func:`voicelab.analysis.latency.reply_latencies`), never the simulated caller's own
    running tally (it took a reply heard during the caller's next line for a latency)."""
    from voicelab.analysis import turns_df
    from voicelab.analysis.latency import reply_latencies as replies

    wanted = {str(c.call_sid) for c in calls if c.directory is not None and c.call_sid}
    out: dict[str, list[float]] = {}
    for root in sorted({c.directory.parent for c in calls if c.directory is not None}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # other, half-written calls are not these calls'
            found = replies(turns_df(root))
        for sid, group in found[found["call_sid"].isin(wanted)].groupby("call_sid"):
            out[str(sid)] = group["v2v_s"].tolist()
    return out


def print_summary(calls: Sequence[Any]) -> None:
    """One line per scenario: calls, outcomes, voice-to-voice percentiles.

    The figures are :func:`reply_latencies`: the ones ``voicelab report`` shows.
    """
    latencies = reply_latencies(calls)
    rows = []
    for call in calls:
        v2v = latencies.get(str(call.call_sid), [])
        rows.append(
            {
                "scenario": call.scenario_id,
                "status": call.status if not call.error else "error",
                "seconds": call.seconds,
                "turns": len(v2v),
                "v2v": v2v,
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        typer.echo("no calls")
        return
    summary = frame.groupby("scenario").agg(
        calls=("status", "size"),
        completed=("status", lambda s: int((s == "completed").sum())),
        statuses=("status", lambda s: ",".join(sorted(set(s)))),
        seconds=("seconds", "mean"),
    )
    flat = frame.explode("v2v").dropna(subset=["v2v"])
    if not flat.empty:
        flat["v2v"] = flat["v2v"].astype(float)
        percentiles = flat.groupby("scenario")["v2v"].quantile([0.5, 0.9]).unstack()
        percentiles.columns = ["v2v_p50_s", "v2v_p90_s"]
        summary = summary.join(percentiles)
    typer.echo("\n" + summary.round(3).to_string(na_rep="-"))


def print_checks(calls: Sequence[Any], scenarios: Sequence[Any]) -> pd.DataFrame | None:
    """Each call's checks against its scenario (``expect:`` and the outcome), printed.

    The same checks as the pytest plugin's ``assert_expectations`` and ``voicelab report``
    (:func:`voicelab.testing.expectation_checks`): a failed one is never only in a report.

    Returns:
        The checks (``passed`` says whether each held), or ``None`` when they could not run
        (``eval:``/``metrics:`` and no judge can be built: a ``ConfigError``, printed).
    """
    from voicelab.errors import ConfigError
    from voicelab.testing import expectation_checks

    try:
        checks = expectation_checks(list(calls), list(scenarios))
    except ConfigError as exc:  # eval:/metrics: need a judge: unjudged is failed, not passed
        typer.echo(f"\nChecks not run: {exc}", err=True)
        return None
    if checks.empty:
        return checks
    typer.echo("\nChecks")
    for (scenario, sid), group in checks.groupby(["scenario", "call_sid"], sort=False):
        failed = group[~group["passed"]]
        verdict = "passed" if failed.empty else "FAILED"
        typer.echo(
            f"  {scenario} {sid}: {len(group) - len(failed)} of {len(group)} passed"
            f" {'' if failed.empty else '- ' + verdict}".rstrip()
        )
        for row in failed.itertuples():
            typer.echo(f"    FAILED {row.detail}")  # the detail names the turn and the check
    return checks


def print_pass_rates(summary: Any, min_pass_rate: float | None) -> bool:
    """Each scenario's pass rate over its repeats (Wilson 95% interval, pass^k, pass@k), and
    each expectation's that did not always pass; whether every scenario meets the bar.

    Args:
        summary: A :class:`voicelab.testing._suite.SuiteSummary`.
        min_pass_rate: The least rate a scenario needs (``None``: every run must pass).
    """
    typer.echo("\nPass rates (95% Wilson interval; pass^k: all k runs pass, pass@k: any does)")
    for row in summary.scenarios.itertuples(index=False):
        typer.echo(
            f"  {row.scenario}: {row.passed}/{row.runs} = {row.rate:.0%}"
            f" [{row.ci_low:.0%}, {row.ci_high:.0%}]"
            f"  pass^{row.k} {row.pass_all_k:.0%}  pass@{row.k} {row.pass_any_k:.0%}"
        )
    shaky = summary.expectations[summary.expectations["passed"] < summary.expectations["runs"]]
    for row in shaky.itertuples(index=False):
        where = "the call" if pd.isna(row.turn) else f"turn {row.turn}"
        typer.echo(f"    {row.scenario} {where} {row.check}: {row.passed}/{row.runs}")
    below = summary.below(min_pass_rate)
    if min_pass_rate is not None:
        verdict = "all meet it" if below.empty else f"{len(below)} below it"
        typer.echo(f"  minimum pass rate {min_pass_rate:.0%}: {verdict}")
    return bool(below.empty)
