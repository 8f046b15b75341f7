"""The load generator's own accounting, against figures worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from voicelab.errors import ConfigError
from voicelab.load import (
    CallerLine,
    CallStats,
    Ear,
    FrameClock,
    JitterLog,
    LoadPlan,
    WorkerResult,
    summarize,
)
from voicelab.load._report import SATURATED, percentile

RATE = 8000
TONE = (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE) * 32767).astype(np.int16)
SILENCE = np.zeros(RATE, dtype=np.int16)


def ms(n: float) -> int:
    return round(n * RATE / 1000)


def plan(**overrides: object) -> LoadPlan:
    fields: dict[str, object] = {"url": "http://127.0.0.1:1/", "calls": 4, "workers": 2}
    return LoadPlan(**(fields | overrides))  # type: ignore[arg-type]


# --- pacing -------------------------------------------------------------------------------


def test_jitter_is_send_time_minus_deadline_per_frame():
    log = JitterLog()
    clock = FrameClock(origin=100.0)
    deadlines = [clock.deadline(100.0, k) for k in range(4)]
    assert deadlines == pytest.approx([100.0, 100.02, 100.04, 100.06])
    for deadline, late in zip(deadlines, [0.0005, 0.001, 0.004, 0.0], strict=True):
        log.record(deadline, deadline + late)
    assert log.to_numpy() == pytest.approx([0.0005, 0.001, 0.004, 0.0])
    assert len(log) == 4


def test_a_late_start_joins_the_grid_at_the_next_frame_not_a_drifted_one():
    clock = FrameClock(origin=10.0)
    # 55 ms after the grid began: frames 0-2 are past, frame 3 (60 ms) is next.
    assert clock.first_frame_after(10.0, 10.055) == 3
    assert clock.first_frame_after(10.0, 9.0) == 0
    assert clock.deadline(10.0, 3) == pytest.approx(10.06)


# --- the line -----------------------------------------------------------------------------


def test_the_line_ends_at_its_last_audible_window_and_is_sent_in_20_ms_frames():
    audio = np.concatenate([np.zeros(ms(100)), TONE[: ms(300)] / 32767, np.zeros(ms(110))])
    line = CallerLine.from_samples(audio.astype(np.float32))
    assert len(line.payloads) == 26  # 510 ms: 25 whole frames and one padded
    assert line.end_s == pytest.approx(0.4)
    assert line.seconds == pytest.approx(0.52)


def test_a_silent_line_is_refused():
    with pytest.raises(ConfigError, match="silent"):
        CallerLine.from_samples(np.zeros(RATE, dtype=np.float32))


# --- the ear --------------------------------------------------------------------------------


def play(ear: Ear, t0: float, frames: int) -> float:
    for k in range(frames):
        ear.play(t0 + k * 0.02)
    return t0 + frames * 0.02


def test_reply_onset_is_its_first_audible_window_on_the_callers_clock():
    ear = Ear()
    t = play(ear, 0.0, 10)  # 200 ms of nothing: no reply yet
    ear.hear(np.concatenate([SILENCE[: ms(30)], TONE[: ms(200)]]))
    play(ear, t, 20)
    assert ear.onsets == pytest.approx([0.23])  # 200 ms + 30 ms of queued silence
    assert ear.onset_since(0.1) == pytest.approx(0.23)
    assert ear.onset_since(0.3) is None


def test_underruns_are_silences_of_40_ms_or_more_inside_a_reply():
    ear = Ear()
    ear.hear(TONE[: ms(100)])
    t = play(ear, 0.0, 5)  # the 100 ms played; nothing more has come
    t = play(ear, t, 3)  # 60 ms absent: an underrun once the reply goes on
    ear.hear(TONE[: ms(100)])
    t = play(ear, t, 5)
    ear.hear(np.concatenate([SILENCE[: ms(20)], TONE[: ms(100)]]))  # 20 ms: not one
    t = play(ear, t, 6)
    ear.hear(np.concatenate([SILENCE[: ms(40)], TONE[: ms(60)]]))  # exactly 40 ms: one
    t = play(ear, t, 5)
    play(ear, t, 70)  # 1.4 s of silence ends the reply: not an underrun
    assert ear.underruns == pytest.approx([0.06, 0.04])
    assert len(ear.replies) == 1
    reply = ear.replies[0]
    assert reply.onset == pytest.approx(0.0)
    # 100 + 60 + 100 + 20 + 100 + 40 + 60 ms of played stretch
    assert reply.end == pytest.approx(0.48)
    assert not ear.in_reply


def test_the_silence_that_ends_a_reply_separates_two_replies():
    ear = Ear(reply_silence_s=0.2)
    ear.hear(np.concatenate([TONE[: ms(100)], SILENCE[: ms(300)], TONE[: ms(100)]]))
    play(ear, 0.0, 40)
    assert [(r.onset, r.end) for r in ear.replies] == [
        pytest.approx((0.0, 0.1)),
        pytest.approx((0.4, 0.5)),
    ]
    assert ear.underruns == []


def test_windows_that_straddle_messages_are_judged_whole():
    ear = Ear()
    ear.hear(TONE[:50])  # 6.25 ms: not yet a window
    ear.hear(TONE[50 : ms(40)])
    play(ear, 0.0, 2)
    assert ear.onsets == [0.0]
    assert ear.last_audible_end == pytest.approx(0.04)


def test_marks_come_back_once_the_audio_before_them_has_played_and_clear_returns_them():
    ear = Ear()
    ear.hear(TONE[: ms(40)])
    ear.mark("a")
    assert ear.play(0.0) == []  # 20 of 40 ms played
    assert ear.play(0.02) == ["a"]
    ear.hear(TONE[: ms(100)])
    ear.mark("b")
    assert ear.clear() == ["b"]
    ear.play(0.04)
    assert ear.last_audible_end == pytest.approx(0.04)  # the cleared audio never played


# --- the plan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"url": "ftp://agent/"}, "http"),
        ({"url": "agent"}, "http"),
        ({"calls": 0}, "--calls"),
        ({"workers": 5}, "--workers"),
        ({"workers": 0}, "--workers"),
        ({"duration_s": 0}, "--duration"),
        ({"ramp_s": -1}, "--ramp"),
    ],
)
def test_a_bad_plan_is_refused_when_built(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        plan(**overrides)


def test_callers_are_dealt_to_workers_in_turn_and_start_evenly_over_the_ramp():
    p = plan(calls=5, workers=2, ramp_s=10.0)
    assert p.callers_of(0) == [0, 2, 4] and p.callers_of(1) == [1, 3]
    assert [p.start_offset(i) for i in range(5)] == pytest.approx([0, 2, 4, 6, 8])


def test_the_token_never_shows_in_the_plans_repr():
    assert "s3cret" not in repr(plan(auth_token="s3cret"))


def test_a_password_in_the_url_never_reaches_the_report():
    url = "https://twilio:pw123@agent.example/voice?x=1"
    p = plan(url=url, calls=1, workers=1)
    assert p.shown_url == "https://twilio:<redacted>@agent.example/voice?x=1"
    failed = CallStats(0, "CA0", error_kind="unreachable", error=f"POST {url} failed: boom")
    report = summarize(p, [WorkerResult(0, [failed], np.empty(0), 0.0, 1.0)])
    assert "pw123" not in report.to_text() and "pw123" not in str(report.to_dict())
    assert plan().shown_url == "http://127.0.0.1:1/"


# --- the summary ----------------------------------------------------------------------------


def test_percentiles_interpolate_and_are_none_for_nothing():
    assert percentile([0.5, 1.0, 1.5, 2.0], 50) == pytest.approx(1.25)
    assert percentile([0.5, 1.0, 1.5, 2.0], 95) == pytest.approx(1.925)
    assert percentile([], 50) is None


def test_the_summary_counts_calls_errors_lines_underruns_jitter_and_cpu():
    p = plan(calls=4, workers=2, duration_s=10.0)
    worker0 = WorkerResult(
        worker=0,
        calls=[
            CallStats(0, "CA0", held=True, lines=3, v2v_s=[0.5, 1.0], unanswered=1),
            CallStats(2, "CA2", error_kind="refused", error="HTTP 503"),
        ],
        jitter_s=np.array([0.001] * 98 + [0.010, 0.020]),
        cpu_s=1.0,
        wall_s=10.0,
        cpu_samples=[0.05, 0.12, 0.08],
    )
    worker1 = WorkerResult(
        worker=1,
        calls=[
            CallStats(1, "CA1", held=True, lines=2, v2v_s=[1.5, 2.0], underruns_s=[0.04, 0.1]),
            CallStats(3, "CA3", error_kind="dropped", error="closed early"),
        ],
        jitter_s=np.full(100, 0.002),
        cpu_s=3.0,
        wall_s=10.0,
        cpu_samples=[0.5, SATURATED],
    )
    report = summarize(p, [worker0, worker1])
    assert report.held == 2
    assert report.errors == {"refused": 1, "dropped": 1}
    assert (report.lines, report.answered, report.unanswered) == (5, 4, 1)
    assert report.v2v_p50_s == pytest.approx(1.25)
    assert report.v2v_p95_s == pytest.approx(1.925)
    assert (report.underruns, report.calls_with_underruns) == (2, 1)
    assert report.frames == 200
    # 200 frames sorted: 98 x 1 ms, 100 x 2 ms, 10, 20 ms; p99 at rank 197.01
    assert report.jitter_p50_s == pytest.approx(0.002)
    assert report.jitter_p99_s == pytest.approx(0.002 + 0.01 * (0.010 - 0.002))
    assert report.jitter_max_s == pytest.approx(0.020)
    # 4 CPU seconds over 200 frames x 20 ms = 4 caller-seconds: 1,000 ms per caller-second
    assert report.cpu_ms_per_caller_s == pytest.approx(1000.0)
    usage0, usage1 = report.usage
    assert usage0.cpu_s_per_caller == pytest.approx(0.5)
    assert usage0.cpu_share == pytest.approx(0.1) and usage0.peak_share == pytest.approx(0.12)
    assert not usage0.saturated and usage1.saturated
    assert len(report.warnings) == 1 and "worker 1 was saturated" in report.warnings[0]
    text = report.to_text()
    assert "2 of 4" in text and "refused 1" in text and "WARNING: worker 1" in text
    assert report.to_dict()["warnings"] == report.warnings


def test_jitter_over_the_goal_is_a_warning():
    result = WorkerResult(0, [CallStats(0, "CA0", held=True)], np.full(10, 0.006), 0.1, 1.0)
    report = summarize(plan(calls=1, workers=1), [result])
    assert any("jitter p99 6.0 ms" in warning for warning in report.warnings)


def test_loop_lag_over_the_goal_blames_the_generator_and_frame_jitter_alone_the_agent():
    calls = [CallStats(0, "CA0", held=True)]
    backpressure = WorkerResult(0, calls, np.full(10, 0.030), 0.1, 1.0, loop_lag_s=np.zeros(50))
    [warning] = summarize(plan(calls=1, workers=1), [backpressure]).warnings
    assert "while the workers kept time: the agent held callers back" in warning
    starved = WorkerResult(0, calls, np.full(10, 0.030), 0.1, 1.0, loop_lag_s=np.full(50, 0.02))
    report = summarize(plan(calls=1, workers=1), [starved])
    [warning] = report.warnings
    assert "loop lag p99 20.0 ms" in warning and "did not keep real time" in warning
    assert report.loop_lag_p50_s == pytest.approx(0.02)


def test_the_loop_probe_ticks_on_the_grid_and_never_early():
    import asyncio
    import time

    from voicelab.load._worker import LoopProbe

    async def run() -> np.ndarray:
        probe = LoopProbe(FrameClock(time.monotonic()))
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return probe.lag.to_numpy()

    lag = asyncio.run(run())
    assert lag.size >= 1 and (lag >= 0).all()
