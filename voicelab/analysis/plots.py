"""Plots of latency and of single calls.

Each function draws on ``ax`` when given (so plots compose into a figure) or on a new
pyplot figure, and returns the Axes. Inputs are the loaders' DataFrames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from voicelab.analysis._audio import call_directory, load_audio
from voicelab.analysis._files import CALLER_WAV, read_manifest
from voicelab.analysis.latency import BREAKDOWN
from voicelab.errors import CallRecordError, InvalidArgumentError

__all__ = [
    "Timeline",
    "call_timeline",
    "plot_breakdown",
    "plot_latency_cdf",
    "plot_latency_hist",
    "plot_timeline",
    "plot_waveform",
]


def _axes(ax: Axes | None, size: tuple[float, float] = (7, 4)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only when no Axes is given: pyplot owns the figure

    _, new = plt.subplots(figsize=size)
    return new


def _groups(df: pd.DataFrame, by: str | None, col: str) -> list[tuple[str, np.ndarray]]:
    values = df[col].astype("float64")
    if by is None:
        return [(col, values.dropna().to_numpy())]
    grouped = values.groupby(df[by], observed=True, sort=True)
    return [(str(name), v.dropna().to_numpy()) for name, v in grouped]


def plot_latency_cdf(
    turns: pd.DataFrame, col: str = "v2v_caller_s", by: str | None = None, ax: Axes | None = None
) -> Axes:
    """Empirical CDF of a latency column, one line per group, with medians in the legend."""
    ax = _axes(ax)
    for name, values in _groups(turns, by, col):
        if not len(values):
            continue
        x = np.sort(values)
        y = np.arange(1, len(x) + 1) / len(x)
        ax.step(x, y, where="post", label=f"{name} (n={len(x)}, p50={np.median(x):.2f} s)")
    ax.set_xlabel(f"{col} (s)")
    ax.set_ylabel("fraction of turns at or below")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_latency_hist(
    turns: pd.DataFrame,
    col: str = "v2v_caller_s",
    by: str | None = None,
    bins: int = 30,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of a latency column, groups overlaid on common bins."""
    ax = _axes(ax)
    groups = [(n, v) for n, v in _groups(turns, by, col) if len(v)]
    if groups:
        every = np.concatenate([v for _, v in groups])
        edges = np.histogram_bin_edges(every, bins=bins)
        for name, values in groups:
            ax.hist(
                values,
                bins=list(edges),
                alpha=0.6 if by else 0.9,
                label=f"{name} (n={len(values)})",
            )
        ax.legend(fontsize="small")
    ax.set_xlabel(f"{col} (s)")
    ax.set_ylabel("turns")
    return ax


def plot_breakdown(turns: pd.DataFrame, by: str | None = None, ax: Axes | None = None) -> Axes:
    """Stacked bars of the latency breakdown (``BREAKDOWN``, in pipeline order).

    Without ``by``, one bar per turn that has a breakdown: it ends at the turn's
    voice-to-voice. With ``by``, one bar per group of per-part **means** over the turns
    with every part measured: means add up, so the bar ends at the group's mean
    voice-to-voice (medians of parts would not add up to anything a table shows).
    """
    ax = _axes(ax)
    if by is not None:
        complete = turns.dropna(subset=list(BREAKDOWN), how="any")
        data = complete.groupby(by, observed=True, sort=True)[list(BREAKDOWN)].mean()
        labels = [str(i) for i in data.index]
    else:
        data = turns.dropna(subset=list(BREAKDOWN), how="all")
        several = data["call_sid"].nunique() > 1
        labels = [
            f"{str(sid)[-4:]}:{turn}" if several else f"turn {turn}"
            for sid, turn in zip(data["call_sid"], data["turn"], strict=True)
        ]
    bottom = np.zeros(len(data))
    for part in BREAKDOWN:
        values = data[part].astype("float64").fillna(0.0).to_numpy()
        ax.bar(range(len(data)), values, bottom=bottom, label=part.removesuffix("_s"))
        bottom += values
    ax.set_xticks(range(len(data)), labels, rotation=45 if len(data) > 6 else 0, ha="right")
    ax.set_ylabel("seconds" + (" (mean)" if by else ""))
    ax.legend(fontsize="small", ncols=len(BREAKDOWN))
    return ax


def _one_call(turns: pd.DataFrame, call_sid: str | None) -> tuple[str, pd.DataFrame]:
    sids = turns["call_sid"].astype("str")
    if call_sid is None:
        unique = sids.unique()
        if len(unique) != 1:
            raise InvalidArgumentError(f"turns hold {len(unique)} calls; pass call_sid to pick one")
        call_sid = str(unique[0])
    return call_sid, turns[sids == call_sid]


def _spans(rows: pd.DataFrame, start: str, end: str) -> list[tuple[float, float]]:
    both = rows[[start, end]].astype("float64").dropna()
    return [(a, b - a) for a, b in both.itertuples(index=False) if b >= a]


@dataclass(frozen=True)
class Timeline:
    """Who spoke when in one call: what :func:`plot_timeline` draws (the report draws it too).

    Attributes:
        call_sid: The call.
        clock: ``caller`` (a simulated call: what the caller said and heard) or ``server``
            (user speech and bot speech as the server saw them).
        said: ``(start, duration)`` in seconds of each caller utterance.
        replies: ``(start, duration)`` of each bot reply (as heard, on the caller's clock).
        gaps: ``(end of the caller's speech, start of the reply)`` of each answered turn:
            the voice-to-voice latency on this clock.
    """

    call_sid: str
    clock: Literal["caller", "server"]
    said: list[tuple[float, float]]
    replies: list[tuple[float, float]]
    gaps: list[tuple[float, float]]


def call_timeline(turns: pd.DataFrame, call_sid: str | None = None) -> Timeline:
    """The :class:`Timeline` of one call of ``turns`` (``turns_df`` rows).

    Raises:
        InvalidArgumentError: ``call_sid`` is ``None`` and ``turns`` hold several calls.
    """
    call_sid, rows = _one_call(turns, call_sid)
    caller_clock = bool(rows["utterance_ended_t"].notna().any())
    if caller_clock:
        said, heard = (
            ("utterance_started_t", "utterance_ended_t"),
            ("heard_started_t", "heard_ended_t"),
        )
    else:
        said, heard = ("user_started_t", "user_stopped_t"), ("bot_started_t", "bot_stopped_t")
    pairs = rows[[said[1], heard[0]]].astype("float64").dropna().itertuples(index=False)
    return Timeline(
        call_sid,
        "caller" if caller_clock else "server",
        _spans(rows, *said),
        _spans(rows, *heard),
        [(end, start) for end, start in pairs if start >= end],
    )


def plot_timeline(turns: pd.DataFrame, call_sid: str | None = None, ax: Axes | None = None) -> Axes:
    """Who spoke when in one call, with each turn's voice-to-voice latency marked.

    Simulated calls are drawn on the caller's clock (what it said and heard, so the
    arrows are ``v2v_caller_s``); real calls on the server's (user speech and bot speech,
    arrows from ``user.speech_stopped`` to ``bot.speech_started``).
    """
    ax = _axes(ax, (10, 2.6))
    timeline = call_timeline(turns, call_sid)
    ax.broken_barh(timeline.said, (1.6, 0.8), color="tab:blue")
    ax.broken_barh(timeline.replies, (0.6, 0.8), color="tab:orange")
    for end, start in timeline.gaps:
        ax.annotate("", xy=(start, 1.5), xytext=(end, 1.5), arrowprops={"arrowstyle": "<->"})
        ax.text(
            (start + end) / 2,
            1.52,
            f"{start - end:.2f} s",
            ha="center",
            va="bottom",
            fontsize="small",
        )
    caller_clock = timeline.clock == "caller"
    ax.set_yticks([1, 2], ["bot" + (" (heard)" if caller_clock else ""), "caller"])
    ax.set_ylim(0.4, 2.6)
    ax.set_xlabel(f"t (s, {timeline.clock} clock)")
    ax.set_title(f"call {timeline.call_sid}", fontsize="medium")
    return ax


def _envelope(x: np.ndarray, points: int = 4000) -> tuple[np.ndarray, np.ndarray, int]:
    step = max(1, len(x) // points)
    blocks = x[: len(x) // step * step].reshape(-1, step)
    return blocks.min(axis=1), blocks.max(axis=1), step


def plot_waveform(
    call: Any,
    turns: pd.DataFrame | None = None,
    *,
    which: Literal["caller", "server"] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Both channels of a call's recording, with turn boundaries when ``turns`` are given.

    Args:
        call: A call directory or a ``calls_df`` row.
        turns: ``turns_df`` rows (of this call or more); adds the caller's speech ends
            (solid) and the bot's answer starts (dashed) of each turn.
        which: ``caller`` (``caller.wav``, caller clock) or ``server`` (the server's WAV;
            its sample 0 is taken as server ``t = 0``). Default: ``caller`` when present.
        ax: Where to draw.
    """
    ax = _axes(ax, (10, 3))
    directory = call_directory(call)
    if which is None:
        which = "caller" if (directory / CALLER_WAV).exists() else "server"
    audio = load_audio(directory, which)
    names: Sequence[str] = list(audio.channels)
    for i, name in enumerate(names):
        low, high, step = _envelope(audio.channels[name])
        t = np.arange(len(low)) * step / audio.sample_rate
        offset = (len(names) - 1) / 2 - i
        ax.fill_between(t, low + offset, high + offset, linewidth=0, label=name)
    ax.set_yticks([(len(names) - 1) / 2 - i for i in range(len(names))], names)
    if turns is not None:
        try:
            sid = read_manifest(directory)["call_sid"]
        except CallRecordError:
            sid = None
        rows = turns[turns["call_sid"].astype("str") == sid]
        ends, starts = (
            ("utterance_ended_t", "heard_started_t")
            if which == "caller"
            else ("user_stopped_t", "bot_started_t")
        )
        for col, style in ((ends, "-"), (starts, "--")):
            for x in rows[col].dropna():
                ax.axvline(float(x), color="black", linestyle=style, linewidth=0.8)
    ax.set_xlabel(f"t (s, {audio.clock} clock)")
    ax.set_title(audio.path.name, fontsize="medium")
    return ax
