"""Commands over recorded calls: the report page and the regression gate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voicelab._cli_app import (
    app,
    fail,
)
from voicelab.errors import VoicelabError

__all__ = ["compare", "report"]


@app.command()
def report(
    directory: Annotated[
        Path, typer.Argument(help="Recordings root, searched at any depth.")
    ] = Path("recordings"),
    by: Annotated[
        str | None,
        typer.Option(
            help="Group by a calls_df column or an alias: scenario, persona, prompt, stt, "
            "llm, tts (e.g. --by scenario, --by variant)."
        ),
    ] = None,
    max_calls: Annotated[
        int, typer.Option(min=0, help="Calls given their own row on the page (failing first).")
    ] = 200,
) -> None:
    """Print a summary and write report.html: checks, calls with transcripts, latency."""
    import warnings

    from voicelab.analysis import CallRecordWarning, build_report

    if not directory.is_dir():
        fail(f"no such directory: {directory}")
    try:
        with warnings.catch_warnings():
            # The report lists every unreadable record itself (printed below).
            warnings.simplefilter("ignore", CallRecordWarning)
            result = build_report(directory, by=by, max_calls=max_calls)
    except VoicelabError as exc:
        fail(str(exc))
    typer.echo(result.to_text())
    if result.html_path is None:
        raise typer.Exit(1)


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="The reference run's recordings (e.g. main's).")],
    new: Annotated[Path, typer.Argument(help="The run under test (e.g. a branch's).")],
    confidence: Annotated[
        float, typer.Option(min=0.5, max=0.999, help="Confidence of the intervals.")
    ] = 0.95,
) -> None:
    """A regression gate: latency p50/p95 and pass rates per scenario, NEW vs BASE.

    Each difference gets a bootstrap interval; exits 1 only where NEW is worse beyond it.
    """
    from voicelab.analysis.regression import regression_gate

    for path in (base, new):
        if not path.is_dir():
            fail(f"no such directory: {path}")
    try:
        gate = regression_gate(base, new, confidence=confidence)
    except VoicelabError as exc:
        fail(str(exc))
    if gate.empty:
        fail(f"no scenario was played in both {base} and {new}: nothing to compare")
    shown = gate.copy()
    shown["worse"] = shown["worse"].map({True: "WORSE", False: ""})
    typer.echo(shown.round(3).to_string(index=False, na_rep="-"))
    worse = gate[gate["worse"]]
    if not worse.empty:
        typer.echo(f"\n{len(worse)} of {len(gate)} figures are worse beyond their interval")
        raise typer.Exit(1)
    typer.echo(f"\nno figure is worse beyond its {confidence:.0%} interval")
