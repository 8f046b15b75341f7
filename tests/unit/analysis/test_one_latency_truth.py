"""One latency truth: ``voicelab simulate``'s summary shows the figures ``voicelab report`` does.

The summary took the caller's own running tally, which counted a reply heard while the
caller was already saying its next line as the previous turn's latency (8.63 s beside the
report's 0.53 s for the same calls). Both now read the turns of ``turns_df``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic_tree import write_synthetic_tree

from voicelab._cli_output import print_summary, reply_latencies
from voicelab.analysis import turns_df
from voicelab.analysis._report_tables import reply_v2v
from voicelab.simulator.simulator import CallResult


def _calls(root: Path) -> list[CallResult]:
    return [
        CallResult(
            scenario_id="order",
            call_sid=json.loads((d / "call.json").read_text())["call_sid"],
            status="completed",
            directory=d,
        )
        for d in sorted(root.iterdir())
        if (d / "call.json").is_file()
    ]


def test_the_summary_has_the_reports_latency_for_every_reply(tmp_path: Path, capsys) -> None:
    write_synthetic_tree(tmp_path, 3, turns=3, seed=4, scenario={"id": "order", "expectations": []})
    calls = _calls(tmp_path)
    turns = turns_df(tmp_path)
    report = reply_v2v(turns).assign(call_sid=turns["call_sid"].astype("str")).dropna()
    ours = reply_latencies(calls)
    assert set(ours) == {str(c.call_sid) for c in calls}
    for sid, values in ours.items():
        assert values == pytest.approx(list(report[report["call_sid"] == sid]["v2v_s"]))
    # No caller tally at all (a call read back from disk): the summary still has the figures.
    print_summary(calls)
    out = capsys.readouterr().out
    assert "v2v_p50_s" in out and "v2v_p90_s" in out
    p50 = float(np.quantile(report["v2v_s"], 0.5))
    row = next(line for line in out.splitlines() if line.startswith("order"))
    assert float(row.split()[-2]) == pytest.approx(p50, abs=0.0006)


def test_a_call_results_repr_numbers_replies_by_the_callers_line(tmp_path: Path) -> None:
    write_synthetic_tree(tmp_path, 1, turns=3, seed=5, scenario={"id": "order", "expectations": []})
    (call,) = _calls(tmp_path)
    turns = turns_df(tmp_path)
    figures = reply_v2v(turns).assign(line=turns["caller_turn"]).dropna(subset=["v2v_s"])
    expected = ", ".join(f"turn {int(r.line)}: {r.v2v_s:.2f}s" for r in figures.itertuples())
    assert expected.count("turn") == 3
    assert repr(call) == f"<CallResult order {call.call_sid} completed v2v[{expected}]>"


def test_the_demos_latency_table_is_by_caller_line_in_time_order(tmp_path: Path) -> None:
    import pandas as pd

    from voicelab._cli_output import latency_by_line

    write_synthetic_tree(tmp_path, 1, turns=3, seed=6, scenario={"id": "order", "expectations": []})
    replies = turns_df(tmp_path).query("turn > 0")
    # The server split line 1 ("Hi, ..."): two server turns answer it; rows arrive shuffled.
    split = replies.assign(line=replies["line"].where(replies["turn"] != 2, 1))
    table = latency_by_line(split.sample(frac=1, random_state=1))
    assert list(table.index) == [1, 1, 3] and list(table["server_turn"]) == [1, 2, 3]
    assert table.index.name == "line"
    assert table.loc[3, "v2v_caller_s"] == pytest.approx(
        float(replies.set_index("turn").loc[3, "v2v_caller_s"]), abs=5e-4
    )
    assert isinstance(table, pd.DataFrame)
