"""Pass rates over repeats (Wilson intervals, pass^k, pass@k) and the regression gate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from synthetic_tree import write_synthetic_tree

from voicelab.analysis.passrates import pass_at_k, pass_hat_k, pass_rates, scenario_runs
from voicelab.analysis.regression import regression_gate


def test_pass_hat_and_pass_at_k_are_the_published_estimators() -> None:
    # 10 runs, 8 passed: pass^1 = 0.8; pass^2 = C(8,2)/C(10,2) = 28/45; pass@2 = 1 - 1/45.
    assert pass_hat_k(10, 8, 1) == pytest.approx(0.8)
    assert pass_hat_k(10, 8, 2) == pytest.approx(28 / 45)
    assert pass_at_k(10, 8, 2) == pytest.approx(1 - 1 / 45)
    assert pass_hat_k(10, 8, 10) == 0.0 and pass_at_k(10, 8, 10) == 1.0


def test_pass_rates_per_scenario_with_wilson_intervals() -> None:
    checks = pd.DataFrame(
        {
            "scenario": ["a"] * 6 + ["b"] * 4,
            "call_sid": ["a1", "a1", "a2", "a2", "a3", "a3", "b1", "b2", "b3", "b4"],
            "check": ["x", "y"] * 3 + ["x"] * 4,
            "passed": [True, True, True, False, True, True, True, True, True, True],
        }
    )
    runs = scenario_runs(checks)
    assert list(runs["passed"]) == [True, False, True, True, True, True, True]
    rates = pass_rates(runs).set_index("scenario")
    assert rates.at["a", "runs"] == 3 and rates.at["a", "passed"] == 2
    assert rates.at["a", "rate"] == pytest.approx(2 / 3)
    # Wilson 95 % for 2 of 3: (0.2077, 0.9385)
    assert rates.at["a", "ci_low"] == pytest.approx(0.2077, abs=1e-3)
    assert rates.at["a", "ci_high"] == pytest.approx(0.9385, abs=1e-3)
    assert rates.at["a", "pass_all_k"] == 0.0 and rates.at["a", "pass_any_k"] == 1.0
    assert rates.at["b", "rate"] == 1.0 and rates.at["b", "pass_all_k"] == 1.0
    per_check = pass_rates(checks, by=["scenario", "check"])
    assert per_check.set_index(["scenario", "check"]).at[("a", "y"), "rate"] == pytest.approx(2 / 3)


SCENARIO = {"id": "order", "expectations": [{"turn": 1, "contains": ["thanks"]}]}


def test_the_gate_fails_a_real_slowdown_and_passes_noise(tmp_path: Path) -> None:
    base, same, slower = tmp_path / "base", tmp_path / "same", tmp_path / "slower"
    write_synthetic_tree(base, 12, turns=4, seed=1, scenario=SCENARIO)
    write_synthetic_tree(same, 12, turns=4, seed=2, scenario=SCENARIO)
    write_synthetic_tree(slower, 12, turns=4, seed=3, scenario=SCENARIO, delay_s=0.5)
    steady = regression_gate(base, same).set_index(["scenario", "metric"])
    assert not steady["worse"].any(), steady.to_string()
    assert steady.at[("order", "pass_rate"), "base"] == 1.0
    gate = regression_gate(base, slower).set_index(["scenario", "metric"])
    p50 = gate.loc[("order", "v2v_p50_s")]
    assert p50["worse"] and p50["diff"] == pytest.approx(0.5, abs=0.1) and p50["ci_low"] > 0
    assert not gate.at[("order", "pass_rate"), "worse"]  # every run still passes


def test_voicelab_compare_exits_1_only_when_new_is_worse(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from voicelab.cli import app

    base, slower = tmp_path / "base", tmp_path / "slower"
    write_synthetic_tree(base, 10, turns=3, seed=1, scenario=SCENARIO)
    write_synthetic_tree(slower, 10, turns=3, seed=3, scenario=SCENARIO, delay_s=0.5)
    runner = CliRunner()
    worse = runner.invoke(app, ["compare", str(base), str(slower)])
    assert worse.exit_code == 1, worse.output
    assert "WORSE" in worse.output and "v2v_p50_s" in worse.output
    same = runner.invoke(app, ["compare", str(base), str(base)])
    assert same.exit_code == 0 and "no figure is worse" in same.output
    missing = runner.invoke(app, ["compare", str(base), str(tmp_path / "nope")])
    assert missing.exit_code == 2
