"""A report over a recordings tree: a page a team can share, and the same in a terminal.

``build_report(root)`` is what ``voicelab report [DIR] [--by COLUMN]`` runs: it loads every
call under ``root`` (at any depth), summarises latency, scenario checks, reply rules and STT
accuracy (per group of ``by`` when given), and writes ``<root>/report.html``: one
self-contained file (inline CSS, plots as data URIs, no script) with a summary, the
per-scenario checks, one row per call that opens to its transcript, audio players and
timeline, and every record that could not be read. Audio is linked by a path relative to
the page, never inlined, so the folder can be zipped and shared as is.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from voicelab._files import atomic_write_text
from voicelab.analysis import _report_html, _report_text
from voicelab.analysis._files import CallRecordWarning
from voicelab.analysis._report_checks import quote_replies
from voicelab.analysis._report_tables import Headline, headline, summaries
from voicelab.analysis.load import calls_df, events_df, turns_df
from voicelab.analysis.quality import manifest_expectations, scores_df
from voicelab.errors import InvalidArgumentError, NotFoundError, ScenarioError
from voicelab.expectations import Expectation

__all__ = ["BY_ALIASES", "Report", "build_report", "resolve_by"]

BY_ALIASES: dict[str, str] = {
    "scenario": "scenario_id",
    "persona": "persona_id",
    "prompt": "persona_hash",
    "stt": "stt_model",
    "llm": "llm_model",
    "tts": "tts_model",
}
"""Friendly names for ``by`` (``voicelab report --by scenario``): name -> ``calls_df`` column."""

MAX_CALLS = 200
"""Calls given a row of their own on the page by default (failing ones first)."""


@dataclass
class Report:
    """What ``build_report`` produced.

    Attributes:
        root: The recordings root.
        by: The ``calls_df`` column grouped by (an alias resolved), if any.
        summary: Named tables: ``calls``, ``latency``, ``breakdown`` (per stage: median and
            mean over the turns with every stage measured), ``quality`` (every check's pass
            rate), ``wer``, ``checks`` (per scenario and expectation: calls passed, failed,
            undecided), ``per_call`` and, with two groups or more, ``compare``.
        headline: The summary's numbers.
        warnings: Every record that was skipped or partly dropped, one line each.
        html_path: The HTML file written (``None`` if it could not be written).
        unwritten: Why the HTML could not be written, when it could not.
    """

    root: Path
    by: str | None
    summary: dict[str, pd.DataFrame] = field(default_factory=dict)
    headline: Headline | None = None
    warnings: list[str] = field(default_factory=list)
    html_path: Path | None = None
    unwritten: str | None = None

    def to_text(self) -> str:
        """The report for a terminal: summary, latency, checks, failing calls, warnings."""
        return _report_text.render(self)


def resolve_by(by: str | None, columns: pd.Index) -> str | None:
    """The ``calls_df`` column ``by`` names: itself, or the column of an alias.

    Raises:
        InvalidArgumentError: Neither (the message lists the aliases and the columns).
    """
    if by is None or by in columns:
        return by
    if by in BY_ALIASES and BY_ALIASES[by] in columns:
        return BY_ALIASES[by]
    aliases = ", ".join(f"{k} ({v})" for k, v in BY_ALIASES.items())
    raise InvalidArgumentError(
        f"cannot group by {by!r}; use one of {aliases} or a calls_df column: "
        + ", ".join(c for c in columns if c not in BY_ALIASES.values())
    )


def _expectations(calls: pd.DataFrame, notes: list[str]) -> dict[str, list[Expectation]]:
    """Each call's recorded expectations, validated one call at a time.

    A manifest's expectations come from whoever wrote the file: an invalid one costs that
    call its checks (and says so), not the whole report.
    """
    dirs = dict(zip(calls["call_sid"].astype("str"), calls["call_dir"], strict=True))
    valid: dict[str, list[Expectation]] = {}
    for sid, items in manifest_expectations(calls).items():
        try:
            valid[sid] = [Expectation.from_dict(i) for i in items if isinstance(i, dict)]
        except ScenarioError as exc:
            where = os.path.join(str(dirs.get(sid, sid)), "call.json")
            notes.append(f"{where}: invalid scenario expectations ({exc}); not checked")
    return valid


def _collect(caught: list[warnings.WarningMessage], notes: list[str]) -> None:
    """Record warnings in ``notes`` (once each); re-issue the ones that are not ours."""
    for item in caught:
        if issubclass(item.category, CallRecordWarning):
            if str(item.message) not in notes:
                notes.append(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _load(root: Path, cache: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """Calls, turns, error events and the loaders' warnings, each issued once.

    Raises:
        NotFoundError: No call could be loaded (the message says why).
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        # "always": a warning already shown once in this process (a notebook's second
        # report) must still reach this report's list.
        warnings.simplefilter("always")
        calls = calls_df(root, cache=cache)
        turns = turns_df(root, cache=cache)
        events = events_df(root, cache=cache)  # the same cache: a parquet read
    _collect(caught, notes)
    for note in notes:  # before anything can fail: the skipped records must be seen
        warnings.warn(note, CallRecordWarning, stacklevel=3)
    if calls.empty and notes:
        raise NotFoundError(
            f"no call could be loaded under {root}: {len(notes)} skipped ({notes[0]})"
        )
    if calls.empty:
        raise NotFoundError(
            f"no call records under {root} (no directory in it holds a call.json or events.jsonl)"
        )
    errors = events.loc[events["type"] == "error", ["call_sid", "t", "source", "message", "fatal"]]
    return calls, turns, errors, notes


def build_report(
    root: str | os.PathLike[str],
    by: str | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    cache: bool = True,
    max_calls: int = MAX_CALLS,
) -> Report:
    """Summarise every call under ``root`` and write the HTML report.

    Records that cannot be read are listed in :attr:`Report.warnings` and on the page (and
    each is issued once as a :class:`CallRecordWarning`), whatever the warning filters.

    Args:
        root: The recordings root (searched at any depth) or one call directory.
        by: A ``calls_df`` column to compare groups by (``scenario_id``, ``persona_hash``,
            ``llm_model``, ``variant``, a manifest tag...) or an alias of one
            (:data:`BY_ALIASES`: ``scenario``, ``persona``, ``prompt``, ``llm``...).
        path: Where to write the HTML; default ``<root>/report.html``. Audio is linked
            relative to it.
        cache: Use the loaders' parquet cache.
        max_calls: Calls given their own row (transcript, audio, timeline); failing calls
            first, then the most recent. The summaries always cover every call.

    Raises:
        InvalidArgumentError: ``by`` is neither a column nor an alias (the message lists
            them), or ``max_calls`` is negative.
        NotFoundError: No call could be loaded under ``root``.
    """
    if max_calls < 0:
        raise InvalidArgumentError(f"max_calls must be 0 or more, not {max_calls}")
    root = Path(root)
    calls, turns, errors, notes = _load(root, cache)
    by = resolve_by(by, calls.columns)
    if by is not None and by not in turns.columns:  # turns carry the sweep cell already
        turns = turns.merge(calls[["call_sid", by]], on="call_sid", how="left")
    loaded = len(notes)
    listed = _expectations(calls, notes)
    scores = scores_df(root, expectations=listed, calls=calls, turns=turns)
    scores = quote_replies(scores, turns, listed)
    report = Report(root, by, warnings=notes)
    report.summary = summaries(calls, turns, by, scores, listed)
    report.headline = headline(calls, turns, scores)
    target = Path(path) if path is not None else root / "report.html"
    frames = _report_html.Frames(calls, turns, scores, errors)
    page = _report_html.render(report, frames, target.parent, max_calls)
    for note in notes[loaded:]:
        warnings.warn(note, CallRecordWarning, stacklevel=2)
    try:
        # Through a fresh temporary file and a rename: the records' directory may hold a
        # planted symlink (at a fixed temporary name, or at report.html itself).
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, page)
        report.html_path = target
    except OSError as exc:
        report.unwritten = f"{target}: {exc.strerror or exc}"
    return report
