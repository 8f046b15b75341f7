"""What a suite run leaves behind: pass rates over repeats, JUnit XML and an HTML summary.

A suite is a set of scenarios each played N times (``voicelab simulate --repeat N``, or
the plugin's ``simulate_repeat``). Its checks (:func:`~voicelab.testing.expectation_checks`,
one row per check of each call) give three tables: the runs (a call passes when every one
of its checks does), each scenario's pass rate and each expectation's, with the Wilson
intervals, pass^k and pass@k of :mod:`voicelab.analysis.passrates`. CI systems read JUnit
XML (one ``testsuite`` per scenario, one ``testcase`` per call, a ``failure`` naming its
failed checks); people read the HTML page.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicelab._files import atomic_write_text
from voicelab.testing._checks import expectation_checks

if TYPE_CHECKING:  # pandas and scipy load when a suite is summarized, not on import
    import pandas as pd

__all__ = [
    "SuiteSummary",
    "assert_no_regression",
    "assert_pass_rate",
    "summarize_suite",
    "write_junit_xml",
    "write_summary_html",
]


@dataclass(frozen=True)
class SuiteSummary:
    """The checks of a suite run and their pass rates.

    Attributes:
        checks: One row per check of each call (``expectation_checks`` output).
        runs: One row per call: ``scenario``, ``call_sid``, ``passed``.
        scenarios: Each scenario's pass rate (``pass_rates`` columns).
        expectations: Each expectation's pass rate, by ``scenario``, ``check`` and ``turn``.
    """

    checks: pd.DataFrame
    runs: pd.DataFrame
    scenarios: pd.DataFrame
    expectations: pd.DataFrame

    def below(self, min_pass_rate: float | None) -> pd.DataFrame:
        """The scenarios whose pass rate is under ``min_pass_rate`` (``None``: any failed run)."""
        if min_pass_rate is None:
            return self.scenarios[self.scenarios["passed"] < self.scenarios["runs"]]
        return self.scenarios[self.scenarios["rate"] < min_pass_rate]


def summarize_suite(checks: pd.DataFrame, *, k: int | None = None) -> SuiteSummary:
    """Pass rates of a suite run's checks (``k``: of pass^k / pass@k, default each n)."""
    from voicelab.analysis.passrates import pass_rates, scenario_runs

    runs = scenario_runs(checks)
    per_check = checks.assign(turn=checks["turn"].astype("object").where(checks["turn"].notna()))
    return SuiteSummary(
        checks=checks,
        runs=runs,
        scenarios=pass_rates(runs, "scenario", k=k),
        expectations=pass_rates(per_check, ["scenario", "check", "turn"], k=k),
    )


def assert_pass_rate(
    calls: Iterable[Any], min_pass_rate: float, *, scenarios: Iterable[Any] | None = None
) -> SuiteSummary:
    """Assert that each scenario of ``calls`` passed in at least ``min_pass_rate`` of its runs.

    A run passes when every check of its call does (the scenario's ``expect:`` and its
    outcome, as in :func:`~voicelab.testing.expectation_checks`)::

        def test_cold_food_holds(simulate_repeat):
            calls = simulate_repeat("evals/scenarios/cold_food.yaml", 5)
            assert_pass_rate(calls, 0.8)

    Returns:
        The suite's summary (its tables), when the rate is met.

    Raises:
        AssertionError: A scenario's rate is under ``min_pass_rate``; the message gives the
            rate, its interval and the checks that failed, with how often.
    """
    if not 0.0 <= min_pass_rate <= 1.0:
        raise ValueError(f"min_pass_rate must be within [0, 1], not {min_pass_rate}")
    summary = summarize_suite(expectation_checks(list(calls), scenarios))
    below = summary.below(min_pass_rate)
    if below.empty:
        return summary
    lines = []
    for row in below.itertuples(index=False):
        lines.append(
            f"{row.scenario}: passed {row.passed} of {row.runs} runs = {row.rate:.0%}"
            f" (95% interval {row.ci_low:.0%}-{row.ci_high:.0%}), needs {min_pass_rate:.0%}"
        )
        checks = summary.expectations
        shaky = checks[(checks["scenario"] == row.scenario) & (checks["passed"] < checks["runs"])]
        for check in shaky.itertuples(index=False):
            where = "the call" if _missing(check.turn) else f"turn {check.turn}"
            lines.append(f"  {where} {check.check}: passed {check.passed} of {check.runs}")
    raise AssertionError("\n".join(lines))


def assert_no_regression(
    new: str | os.PathLike[str], baseline: str | os.PathLike[str], *, confidence: float = 0.95
) -> pd.DataFrame:
    """Assert that the calls under ``new`` are not worse than ``baseline``'s beyond chance.

    The gate of ``voicelab compare`` (:func:`voicelab.analysis.regression.regression_gate`):
    latency p50/p95 and pass rates per scenario played in both trees, each difference with
    a bootstrap interval; a figure fails only when its whole interval is on the worse side.

    Returns:
        The gate's table, when nothing is worse.

    Raises:
        AssertionError: Some figure is worse (the message lists them), or no scenario was
            played in both trees.
    """
    from voicelab.analysis.regression import regression_gate

    gate = regression_gate(baseline, new, confidence=confidence)
    if gate.empty:
        raise AssertionError(f"no scenario was played in both {baseline} and {new}")
    worse = gate[gate["worse"]]
    if not worse.empty:
        rows = [
            f"{r.scenario} {r.metric}: {r.base:.3f} -> {r.new:.3f}"
            f" (diff {r.diff:+.3f}, interval {r.ci_low:+.3f}..{r.ci_high:+.3f})"
            for r in worse.itertuples(index=False)
        ]
        raise AssertionError("worse than the baseline beyond chance:\n" + "\n".join(rows))
    return gate


def write_junit_xml(summary: SuiteSummary, path: Path, *, name: str = "voicelab") -> None:
    """JUnit XML of a suite run: a ``testsuite`` per scenario, a ``testcase`` per call.

    Each scenario's pass rate and interval are its ``properties``; a call with a failed
    check has a ``failure`` whose text lists the failed checks (what was expected, what
    was found).
    """
    root = ET.Element("testsuites", name=name)
    root.set("tests", str(len(summary.runs)))
    root.set("failures", str(int((~summary.runs["passed"].astype(bool)).sum())))
    rates = summary.scenarios.set_index("scenario")
    for scenario, runs in summary.runs.groupby("scenario", sort=True):
        failed_runs = int((~runs["passed"].astype(bool)).sum())
        suite = ET.SubElement(
            root, "testsuite", name=str(scenario), tests=str(len(runs)), failures=str(failed_runs)
        )
        properties = ET.SubElement(suite, "properties")
        rate = rates.loc[scenario]
        for key in ("rate", "ci_low", "ci_high", "pass_all_k", "pass_any_k"):
            ET.SubElement(properties, "property", name=key, value=f"{float(rate[key]):.4f}")
        calls = summary.checks[summary.checks["scenario"] == scenario]
        for attempt, run in enumerate(runs.itertuples(index=False), start=1):
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"voicelab.{scenario}",
                name=f"{scenario} run {attempt} ({run.call_sid})",
            )
            mine = calls[calls["call_sid"] == run.call_sid]
            failed = mine[~mine["passed"]]
            if not failed.empty:
                message = f"{len(failed)} of {len(mine)} checks failed"
                failure = ET.SubElement(case, "failure", message=message, type="expectation")
                failure.text = "\n".join(failed["detail"].astype(str))
    ET.indent(root)
    atomic_write_text(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(value != value)  # NaN is the one value unequal to itself
    except TypeError:  # pandas' NA, whose comparisons are NA and have no truth value
        return True


def _percent(value: float) -> str:
    return "-" if _missing(value) else f"{value:.0%}"


def _rate_rows(frame: pd.DataFrame, keys: list[str]) -> str:
    head = "".join(f"<th>{escape(k)}</th>" for k in keys)
    head += "<th>runs</th><th>passed</th><th>rate</th><th>95% interval</th>"
    head += "<th>pass^k</th><th>pass@k</th>"
    body = []
    for row in frame.itertuples(index=False):
        good = row.passed == row.runs
        cells = "".join(
            f"<td>{escape('' if _missing(getattr(row, k)) else str(getattr(row, k)))}</td>"
            for k in keys
        )
        cells += f"<td class=num>{row.runs}</td><td class=num>{row.passed}</td>"
        cells += f"<td class='num {'pass' if good else 'fail'}'>{_percent(row.rate)}</td>"
        cells += f"<td class=num>{_percent(row.ci_low)}–{_percent(row.ci_high)}</td>"
        cells += f"<td class=num>{_percent(row.pass_all_k)}</td>"
        cells += f"<td class=num>{_percent(row.pass_any_k)}</td>"
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


_CSS = """body{font:15px/1.5 system-ui,sans-serif;color:#1f2937;max-width:1100px;margin:24px auto;
padding:0 24px}table{border-collapse:collapse;margin:8px 0 20px}th,td{border-bottom:1px solid
#e5e7eb;padding:4px 10px;text-align:left}.num{text-align:right}.pass{color:#15803d}
.fail{color:#b91c1c;font-weight:600}code{font-size:13px}li{margin:2px 0}"""


def write_summary_html(summary: SuiteSummary, path: Path, *, title: str = "voicelab suite") -> None:
    """One self-contained HTML page: totals, each scenario's and expectation's pass rate,
    and every failed check with the call it failed in."""
    runs, passed = len(summary.runs), int(summary.runs["passed"].astype(bool).sum())
    failed = summary.checks[~summary.checks["passed"]]
    failures = "".join(
        f"<li><b>{escape(str(r.scenario))}</b> <code>{escape(str(r.call_sid))}</code>: "
        f"{escape(str(r.detail))}</li>"
        for r in failed.itertuples(index=False)
    )
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_CSS}</style><body><h1>{escape(title)}</h1>"
        f"<p>{passed} of {runs} calls passed every check "
        f"({len(summary.scenarios)} scenarios, {len(summary.checks)} checks).</p>"
        "<h2>Scenarios</h2>"
        "<p>A run passes when every check of its call does. pass^k: the chance that k runs"
        " all pass; pass@k: that at least one does (k = the runs).</p>"
        + _rate_rows(summary.scenarios, ["scenario"])
        + "<h2>Expectations</h2>"
        + _rate_rows(summary.expectations, ["scenario", "check", "turn"])
        + "<h2>Failed checks</h2>"
        + (f"<ul>{failures}</ul>" if failures else "<p>None.</p>")
        + "</body></html>\n"
    )
    atomic_write_text(path, page)
