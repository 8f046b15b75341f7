"""voicelab.analysis over calls the emulator really made (not hand-written fixtures)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from voicelab.analysis import (
    BREAKDOWN,
    calls_df,
    events_df,
    latency_summary,
    plot_breakdown,
    plot_latency_cdf,
    plot_timeline,
    plot_waveform,
    scores_df,
    turn_wer,
)
from voicelab.lab import CallResult, Lab

matplotlib.use("Agg")
pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"


@pytest.fixture(scope="module")
def played(tmp_path_factory, lab_models) -> tuple[Path, list[CallResult]]:
    root = tmp_path_factory.mktemp("recordings")
    with Lab(providers="scripted", recordings_dir=root, models=lab_models) as lab:
        calls = lab.simulate_many(
            [SCENARIOS / "cold_food.yaml", SCENARIOS / "billing_refund.yaml"],
            concurrency=2,
            progress=False,
        )
    assert [c.status for c in calls] == ["completed", "completed"]
    return root, calls


@pytest.fixture(scope="module")
def recordings(played) -> Path:
    return played[0]


@pytest.fixture(scope="module")
def turns(recordings) -> pd.DataFrame:
    from voicelab.analysis import turns_df

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a simulated call must load without any warning
        return turns_df(recordings)


def test_tables_have_one_row_per_call_turn_and_event(recordings, turns):
    calls = calls_df(recordings)
    assert len(calls) == 2 and set(calls["scenario_id"]) == {"cold_food", "billing_refund"}
    assert calls["simulated"].all()
    # Each scenario says two lines, and each line has the row of the reply the caller heard
    # after it. (The server may also end a turn at a pause inside a line, a cut-in: that
    # turn keeps a row of its own, with no caller line.)
    replies = _line_replies(turns)
    assert len(replies) == 4
    assert list(replies.groupby("call_sid", observed=True)["caller_turn"].apply(list)) == [
        [1, 2],
        [1, 2],
    ]
    assert (
        replies["caller_text"].str.len().gt(0).all() and replies["bot_text"].str.len().gt(0).all()
    )
    greeting = turns[turns["turn"] == 0]["bot_text"]
    assert greeting.str.contains("Compass Group").all()
    events = events_df(recordings)
    assert {"server", "caller"} <= set(events["source"])
    # One row per turn the server counted: every user.speech_stopped, plus the greeting.
    stops = events[events["type"] == "user.speech_stopped"].groupby("call_sid", observed=True)
    rows = turns[turns["turn"].notna()].groupby("call_sid", observed=True)
    assert (rows.size() == stops.size() + 1).all(), (rows.size(), stops.size())
    assert calls.set_index("call_sid")["n_turns"].to_dict() == stops.size().to_dict()
    assert str(events["wall"].dtype).startswith("datetime64") and events["wall"].dt.tz is not None


def _line_replies(turns: pd.DataFrame) -> pd.DataFrame:
    """The rows answering a caller's line (``caller_turn`` N), in call and line order."""
    replies = turns[turns["caller_turn"] > 0]
    return replies.sort_values(["call_sid", "caller_turn"])


def test_event_and_recording_latency_agree_and_the_breakdown_fits_inside(turns):
    replies = _line_replies(turns)
    diff = (replies["v2v_caller_s"] - replies["v2v_recording_s"]).abs()
    assert (diff <= 0.02).mean() >= 0.95, replies[["v2v_caller_s", "v2v_recording_s"]]
    assert replies["v2v_caller_s"].between(0.2, 5).all()
    parts = replies[list(BREAKDOWN)]
    assert parts.notna().all().all()
    assert (parts[["vad_stop_s", "stt_s", "llm_ttft_s", "tts_ttfa_s"]] >= 0).all().all()
    # transport_s is the remainder of v2v_caller_s, so "the parts add up" cannot fail; what
    # can: the measured parts overrunning what the caller felt (a negative remainder).
    assert (parts["transport_s"] >= 0).all(), parts
    summary = latency_summary(replies, col="v2v_caller_s")
    assert summary.loc[0, "n"] == 4 and summary.loc[0, "p50"] <= summary.loc[0, "max"]


def test_stt_accuracy_against_the_callers_script(turns):
    wer = turn_wer(turns)
    assert len(wer.dropna(subset=["wer"])) == 4
    assert wer["wer"].max() < 0.5  # Whisper tiny.en on a clean synthetic voice


def test_scenario_expectations_and_rules_are_scored(recordings):
    scores = scores_df(recordings)
    expectations = scores[scores["check"].str.startswith("expect.")]
    assert not expectations.empty
    failed = expectations[expectations["passed"] == False]  # noqa: E712 (None = undecided)
    assert failed.empty, failed[["call_sid", "check", "turn", "detail"]]
    assert "apology" in set(scores["check"])


def test_plots_render_to_png(recordings, turns, tmp_path):
    from matplotlib import pyplot as plt

    for name, draw in {
        "cdf": lambda ax: plot_latency_cdf(turns[turns["turn"] > 0], ax=ax),
        "timeline": lambda ax: plot_timeline(turns, call_sid=turns["call_sid"].iloc[0], ax=ax),
        "waveform": lambda ax: plot_waveform(
            next(p for p in recordings.iterdir() if p.is_dir() and not p.name.startswith(".")),
            turns,
            ax=ax,
        ),
        "breakdown": lambda ax: plot_breakdown(turns[turns["turn"] > 0], ax=ax),
    }.items():
        fig, ax = plt.subplots()
        assert draw(ax) is ax
        fig.savefig(tmp_path / f"{name}.png")
        plt.close(fig)
        assert (tmp_path / f"{name}.png").stat().st_size > 5000


def test_every_surface_shows_the_same_figure_for_each_reply(played, turns):
    """One latency truth: ``turns_df`` (through ``turn_v2v``), ``CallResult``, ``voicelab
    simulate``'s summary and the report give each reply the same voice-to-voice."""
    from voicelab._cli_output import reply_latencies as summary_figures
    from voicelab.analysis import build_report
    from voicelab.analysis.latency import turn_v2v

    root, calls = played
    replies = turns[(turns["turn"] > 0) & ~turns["overlaps_next_line"].astype(bool)]
    truth = {
        str(sid): [turn_v2v(r) for _, r in group.iterrows() if pd.notna(turn_v2v(r))]
        for sid, group in replies.sort_values("turn").groupby("call_sid", observed=True)
    }
    assert sum(len(v) for v in truth.values()) >= 4
    for call in calls:
        sid = str(call.call_sid)
        assert [v for _, v in call._latencies()] == pytest.approx(truth[sid])
        lines = [line for line, _ in call._latencies()]
        assert lines == sorted(lines) and set(lines) <= {1, 2}  # numbered by caller line
    summary = summary_figures(calls)
    assert {sid: pytest.approx(v) for sid, v in truth.items()} == summary
    report = build_report(root, path=root / "surfaces.html")
    per_call = report.summary["per_call"].set_index("call_sid")
    for sid, values in truth.items():
        assert per_call.loc[sid, "v2v_median_s"] == pytest.approx(float(pd.Series(values).median()))
        assert per_call.loc[sid, "v2v_max_s"] == pytest.approx(max(values))
    # Each reply's parts add up to what the caller felt, in the table every view reads.
    measured = replies.dropna(subset=["v2v_caller_s"])
    assert (measured[list(BREAKDOWN)].sum(axis=1) - measured["v2v_caller_s"]).abs().max() < 1e-9


def _onsets(channel, sample_rate: int, gap_s: float = 0.5) -> list[float]:
    """Seconds at which sound starts after at least ``gap_s`` of quiet (audible rule)."""
    from voicelab.recording.audible import WINDOW_S, audible, window_samples

    flags = audible(channel, window_samples(sample_rate))
    out, quiet = [], gap_s / WINDOW_S
    for i, loud in enumerate(flags):
        if loud and quiet >= gap_s / WINDOW_S:
            out.append(i * WINDOW_S)
        quiet = 0 if loud else quiet + 1
    return out


def test_the_server_recording_holds_the_call_as_the_caller_heard_it(played):
    # The server's WAV and the caller's ear start at different moments (the caller hears
    # ringing first), but between them nothing may drift: every reply and every line
    # begins the same time after its file's start, give or take the two clocks' 10 ms
    # windows and the network between them. (pipecat's AudioBufferProcessor padded one
    # track whenever the other got ahead: up to 2.8 s by the end of a 30 s call.)
    from voicelab.analysis import load_audio

    _, calls = played
    for call in calls:
        server, caller = load_audio(call.directory, "server"), load_audio(call.directory, "caller")
        for side in ("bot", "caller"):
            on_server = _onsets(server.channels[side], server.sample_rate)
            heard = _onsets(caller.channels[side], caller.sample_rate)
            assert len(on_server) == len(heard) >= 2, (side, on_server, heard)
            offsets = [s - h for s, h in zip(on_server, heard, strict=True)]
            assert max(offsets) - min(offsets) <= 0.06, (call.call_sid, side, offsets)
