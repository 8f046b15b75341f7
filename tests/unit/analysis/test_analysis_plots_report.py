"""Every plot renders to PNG; the report writes a self-contained HTML file."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import INBOUND, INBOUND_DIR, OUTBOUND
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from voicelab.analysis import (
    build_report,
    calls_df,
    plot_breakdown,
    plot_latency_cdf,
    plot_latency_hist,
    plot_timeline,
    plot_waveform,
    turns_df,
)
from voicelab.errors import NotFoundError

PNG = b"\x89PNG\r\n\x1a\n"


def _render(draw: Callable[[Axes], Axes]) -> tuple[Axes, Axes, bytes]:
    figure = Figure(figsize=(6, 3))
    ax = figure.add_subplot()
    returned = draw(ax)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return ax, returned, buffer.getvalue()


@pytest.fixture
def frames(good_root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    calls = calls_df(good_root)
    turns = turns_df(good_root)  # its variant column: the calls' tag, no merge needed
    assert list(turns["variant"].dropna().unique()) != []
    return calls, turns


def test_every_plot_renders_to_png(good_root: Path, frames: tuple) -> None:
    calls, turns = frames
    draws: dict[str, Callable[[Axes], Axes]] = {
        "cdf": lambda ax: plot_latency_cdf(turns, "v2v_server_s", by="variant", ax=ax),
        "hist": lambda ax: plot_latency_hist(turns, "v2v_server_s", by="variant", bins=5, ax=ax),
        "breakdown": lambda ax: plot_breakdown(turns, by="variant", ax=ax),
        "breakdown per turn": lambda ax: plot_breakdown(turns, ax=ax),
        "timeline caller clock": lambda ax: plot_timeline(turns, INBOUND, ax=ax),
        "timeline server clock": lambda ax: plot_timeline(turns, OUTBOUND, ax=ax),
        "waveform": lambda ax: plot_waveform(calls.iloc[0], turns, ax=ax),
        "server waveform": lambda ax: plot_waveform(good_root / INBOUND_DIR, which="server", ax=ax),
    }
    for name, draw in draws.items():
        ax, returned, png = _render(draw)
        assert returned is ax, name
        assert png.startswith(PNG) and len(png) > 5000, name


def test_plots_draw_what_they_say(frames: tuple) -> None:
    _, turns = frames
    ax, _, _ = _render(lambda ax: plot_latency_cdf(turns, "v2v_server_s", by="variant", ax=ax))
    labels = [line.get_label() for line in ax.get_lines()]
    # Group A: 0.79 and 0.57 -> median 0.68; group B: 0.98 and 1.06 -> 1.02.
    assert labels == ["A (n=2, p50=0.68 s)", "B (n=2, p50=1.02 s)"]
    ax, _, _ = _render(lambda ax: plot_timeline(turns, INBOUND, ax=ax))
    labels = [t.get_text() for t in ax.texts if t.get_text()]  # the arrows have no text
    assert labels == ["0.95 s", "0.72 s"]  # v2v_caller_s of turns 1 and 2
    ax, _, _ = _render(lambda ax: plot_breakdown(turns, by="variant", ax=ax))
    stacked = sum(p.get_height() for p in ax.patches[::2])  # group A's bars, bottom to top
    # Means of group A's replies (the greeting has no breakdown): the bar ends at their mean
    # voice-to-voice, (0.95 + 0.72) / 2. Medians of the parts (the greeting's TTS among them)
    # stacked to 0.85 s, a figure no table shows.
    assert stacked == pytest.approx((0.95 + 0.72) / 2)
    ax, _, _ = _render(lambda ax: plot_waveform(frames[0].iloc[0], turns, ax=ax))
    # Speech ends 2.00 and 4.40, answers heard 0.30, 2.95, 5.12 (caller clock).
    marks = sorted(round(line.get_xdata()[0], 2) for line in ax.get_lines())
    assert marks == [0.30, 2.0, 2.95, 4.4, 5.12]


def test_timeline_needs_a_call_when_there_are_several(frames: tuple) -> None:
    with pytest.raises(ValueError, match="pass call_sid"):
        plot_timeline(frames[1])


def test_build_report_writes_html_and_summaries(good_root: Path) -> None:
    report = build_report(good_root, by="variant")
    assert report.html_path == good_root / "report.html"
    html = report.html_path.read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) == 1 and base64.b64decode(images[0]).startswith(PNG)  # the CDF
    assert html.count("<svg class='timeline'") == 2  # one per call, drawn inline
    assert "<script" not in html and "http" not in html.split("<body>")[0]  # self-contained
    assert set(report.summary) == {
        "calls",
        "latency",
        "breakdown",
        "quality",
        "wer",
        "checks",
        "per_call",
        "compare",
    }
    latency = report.summary["latency"].set_index(["variant", "metric"])
    assert latency.loc[("B", "v2v_server_s"), "p50"] == pytest.approx(1.02)  # (0.98 + 1.06) / 2
    assert ("B", "v2v_caller_s") not in latency.index  # real calls: no caller-side figure
    quality = report.summary["quality"].set_index(["variant", "check"])
    assert quality.loc[("B", "apology"), "pass_rate"] == 0.0
    assert report.summary["wer"].iloc[0]["wer"] == pytest.approx(1 / 24)
    compared = report.summary["compare"].iloc[0]
    assert compared["variant"] == "B" and compared["diff"] == pytest.approx(1.02 - 0.68)
    text = report.to_text()
    assert "Voice-to-voice latency" in text and "0.885" not in text and "1.02" in text
    assert text.count(str(report.html_path)) == 1


def test_build_report_without_grouping_and_on_an_empty_root(
    good_root: Path, tmp_path: Path
) -> None:
    report = build_report(good_root)
    latency = report.summary["latency"].set_index("metric")
    assert latency.loc["v2v_server_s", "p50"] == pytest.approx(0.885)  # all four answers
    assert "compare" not in report.summary
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(NotFoundError, match="no call records under"):
        build_report(tmp_path / "empty")  # a report of nothing is an error, not a header
    assert not (tmp_path / "empty" / "report.html").exists()
    with pytest.raises(ValueError, match="cannot group by 'nope'"):
        build_report(good_root, by="nope")


def test_the_report_never_writes_through_a_planted_symlink(good_root: Path, tmp_path: Path) -> None:
    # Records come from CI artifacts and colleagues: links planted at the old fixed
    # temporary name and at report.html itself must not let the report overwrite a file.
    victims = {name: tmp_path / name for name in ("tmp_victim", "report_victim")}
    for victim in victims.values():
        victim.write_text("precious", encoding="utf-8")
    (good_root / ".report.html.tmp").symlink_to(victims["tmp_victim"])
    (good_root / "report.html").symlink_to(victims["report_victim"])
    report = build_report(good_root)
    assert all(v.read_text(encoding="utf-8") == "precious" for v in victims.values())
    target = good_root / "report.html"
    assert report.html_path == target and not target.is_symlink()  # the link was replaced
    assert "<html" in target.read_text(encoding="utf-8")
    assert not list(good_root.glob(".report.html.*.tmp"))  # no temporary file left
    plain = tmp_path / "plain.txt"  # the mode open() gives here (0o666 less the umask)
    plain.write_text("")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not mkstemp's 0600
