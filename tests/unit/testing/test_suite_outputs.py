"""A suite run's pass rates, JUnit XML and HTML summary, and the plugin's rate and gate."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from synthetic_tree import write_synthetic_tree

from voicelab.testing import (
    assert_no_regression,
    assert_pass_rate,
    expectation_checks,
    summarize_suite,
    write_junit_xml,
    write_summary_html,
)

PASSING = {"id": "order", "expectations": [{"turn": 1, "contains": ["thanks"]}]}
FAILING = {"id": "order", "expectations": [{"turn": 1, "contains": ["refund"]}]}


def _runs(root: Path, good: int, bad: int) -> list[Path]:
    """``good`` calls of scenario ``order`` whose checks pass and ``bad`` whose one fails."""
    write_synthetic_tree(root / "good", good, turns=2, seed=1, scenario=PASSING)
    write_synthetic_tree(root / "bad", bad, turns=2, seed=2, scenario=FAILING, first=100)
    return sorted((root / "good").iterdir()) + sorted((root / "bad").iterdir())


def test_a_suite_has_a_pass_rate_per_scenario_and_per_expectation(tmp_path: Path) -> None:
    summary = summarize_suite(expectation_checks(_runs(tmp_path, 3, 1)))
    scenario = summary.scenarios.set_index("scenario").loc["order"]
    assert (scenario["runs"], scenario["passed"]) == (4, 3)
    assert scenario["rate"] == 0.75 and scenario["pass_all_k"] == 0.0
    assert 0.2 < scenario["ci_low"] < 0.75 < scenario["ci_high"] < 1.0
    contains = summary.expectations.query("check == 'expect.contains'").iloc[0]
    assert (contains["turn"], contains["runs"], contains["passed"]) == (1, 4, 3)
    assert list(summary.below(0.7)["scenario"]) == []
    assert list(summary.below(0.8)["scenario"]) == ["order"]
    assert list(summary.below(None)["scenario"]) == ["order"]  # no bar: every run must pass


def test_junit_xml_has_a_case_per_call_and_names_the_failed_check(tmp_path: Path) -> None:
    summary = summarize_suite(expectation_checks(_runs(tmp_path, 2, 1)))
    out = tmp_path / "junit.xml"
    write_junit_xml(summary, out)
    root = ET.parse(out).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "3", "1")
    (suite,) = root.findall("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["rate"] == "0.6667"
    failures = [case.find("failure") for case in suite.findall("testcase")]
    failed = [f for f in failures if f is not None]
    assert len(failed) == 1 and "turn 1 contains" in (failed[0].text or "")
    assert "refund" in (failed[0].text or "")


def test_the_html_summary_escapes_what_records_say(tmp_path: Path) -> None:
    checks = pd.DataFrame(
        {
            "scenario": ["<script>x</script>"],
            "call_sid": ["CA1"],
            "check": ["expect.contains"],
            "turn": pd.array([1], dtype="Int64"),
            "passed": [False],
            "detail": ["turn 1 contains: lacks <b>refund</b>"],
        }
    )
    out = tmp_path / "suite.html"
    write_summary_html(summarize_suite(checks), out)
    page = out.read_text()
    assert "<script>x" not in page and "&lt;script&gt;x" in page
    assert "0 of 1 calls passed every check" in page and "&lt;b&gt;refund" in page


def test_assert_pass_rate_says_which_check_let_the_scenario_down(tmp_path: Path) -> None:
    calls = _runs(tmp_path, 3, 2)
    assert_pass_rate(calls, 0.6)
    with pytest.raises(AssertionError) as failure:
        assert_pass_rate(calls, 0.8)
    message = str(failure.value)
    assert "order: passed 3 of 5 runs = 60%" in message and "needs 80%" in message
    assert "turn 1 expect.contains: passed 3 of 5" in message
    with pytest.raises(ValueError, match="within"):
        assert_pass_rate(calls, 1.5)


def test_assert_no_regression_fails_only_a_real_slowdown(tmp_path: Path) -> None:
    base, same, slower = tmp_path / "base", tmp_path / "same", tmp_path / "slower"
    write_synthetic_tree(base, 12, turns=4, seed=1, scenario=PASSING)
    write_synthetic_tree(same, 12, turns=4, seed=2, scenario=PASSING)
    write_synthetic_tree(slower, 12, turns=4, seed=3, scenario=PASSING, delay_s=0.5)
    assert not assert_no_regression(same, base)["worse"].any()
    with pytest.raises(AssertionError, match="order v2v_p50_s"):
        assert_no_regression(slower, base)
    with pytest.raises(AssertionError, match="no scenario was played in both"):
        (tmp_path / "empty").mkdir()
        assert_no_regression(tmp_path / "empty", base)


def test_checks_that_need_a_judge_nobody_can_build_are_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from voicelab._cli_output import print_checks

    judged = {"id": "order", "expectations": [{"turn": 1, "eval": "The reply thanks them."}]}
    write_synthetic_tree(tmp_path, 1, turns=1, seed=1, scenario=judged)
    monkeypatch.setenv("VOICELAB_JUDGE", "openai")
    monkeypatch.delenv("VOICELAB_JUDGE_API_KEY", raising=False)
    # None, never a table that passes: simulate then exits 2 with the reason printed.
    assert print_checks(sorted(tmp_path.iterdir()), []) is None
    assert "Checks not run" in capsys.readouterr().err
