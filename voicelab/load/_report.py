"""The load run's report: :class:`LoadReport`, from the workers' results, as text or JSON.

Every figure is computed here, from plain numbers, so the accounting can be tested by hand:

* **held**: calls that stayed up until the generator ended them at their duration;
* **v2v p50/p95**: over every answered line of every call (:mod:`voicelab.load._caller`);
* **underruns**: silences of 40 ms or more inside replies (:mod:`voicelab.load._ear`);
* **errors**: failed calls by kind (:data:`voicelab.load._caller.ERROR_KINDS`);
* **jitter p50/p99/max**: lateness of every frame sent, all workers together: the
  generator's own lateness *and* an agent's backpressure (a caller whose agent stopped
  reading waits for its send buffer);
* **loop lag p50/p99/max**: the workers' own lateness alone (a
  :class:`~voicelab.load._worker.LoopProbe` ticks on the same grid and sends nothing):
  over :data:`JITTER_GOAL_S` at p99, the generator (or the CPU it could not get on a
  shared box) is what was late;
* **CPU per caller**: a worker's CPU seconds over its callers, and as milliseconds of CPU
  per second of call streamed (frames sent × 20 ms), all workers together; a worker whose
  busiest second used :data:`SATURATED` of a core or more was **saturated**, and the
  report says its figures may be the generator's own.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voicelab._files import atomic_write_text
from voicelab.load._line import FRAME_S
from voicelab.load._plan import LoadPlan
from voicelab.load._worker import WorkerResult

__all__ = ["JITTER_GOAL_S", "SATURATED", "LoadReport", "WorkerUsage", "percentile", "summarize"]

SATURATED = 0.9
"""A worker that used this share of a core or more in some second was saturated."""

JITTER_GOAL_S = 0.005
"""Frame pacing the generator must hold (p99) for its figures to be the agent's."""


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    """The ``q``-th percentile (numpy's linear interpolation); ``None`` for no values."""
    data = np.asarray(values, dtype=np.float64)
    return float(np.percentile(data, q)) if data.size else None


@dataclass(frozen=True)
class WorkerUsage:
    """One worker's cost.

    Attributes:
        worker: Its number.
        callers: Callers it played.
        cpu_s: CPU seconds it used.
        wall_s: Seconds it played.
        cpu_share: ``cpu_s / wall_s``: its mean share of one core.
        peak_share: Its busiest sampled second's share of one core.
        cpu_s_per_caller: ``cpu_s / callers``.
        saturated: ``peak_share >= SATURATED``.
        nice: Its scheduling priority.
    """

    worker: int
    callers: int
    cpu_s: float
    wall_s: float
    cpu_share: float
    peak_share: float
    cpu_s_per_caller: float
    saturated: bool
    nice: int = 0

    @classmethod
    def of(cls, result: WorkerResult) -> WorkerUsage:
        callers = len(result.calls)
        share = result.cpu_s / result.wall_s if result.wall_s > 0 else 0.0
        peak = max(result.cpu_samples, default=share)
        return cls(
            worker=result.worker,
            callers=callers,
            cpu_s=result.cpu_s,
            wall_s=result.wall_s,
            cpu_share=share,
            peak_share=peak,
            cpu_s_per_caller=result.cpu_s / callers if callers else 0.0,
            saturated=peak >= SATURATED,
            nice=result.nice,
        )


@dataclass(frozen=True)
class LoadReport:
    """A load run's figures (seconds unless named otherwise; ``None``: nothing measured)."""

    url: str
    calls: int
    workers: int
    ramp_s: float
    duration_s: float
    held: int
    errors: dict[str, int]
    lines: int
    answered: int
    unanswered: int
    v2v_p50_s: float | None
    v2v_p95_s: float | None
    underruns: int
    calls_with_underruns: int
    frames: int
    jitter_p50_s: float | None
    jitter_p99_s: float | None
    jitter_max_s: float | None
    loop_lag_p50_s: float | None
    loop_lag_p99_s: float | None
    loop_lag_max_s: float | None
    cpu_ms_per_caller_s: float | None
    usage: list[WorkerUsage]
    first_errors: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Why the figures may be the generator's own rather than the agent's."""
        out = [
            f"worker {u.worker} was saturated ({u.peak_share:.0%} of a core in its busiest"
            " second): its figures may be the generator's own overload; add --workers or"
            " lower --calls"
            for u in self.usage
            if u.saturated
        ]
        lag = self.loop_lag_p99_s
        if lag is not None and lag > JITTER_GOAL_S:
            out.append(
                f"the workers' own loop lag p99 {lag * 1000:.1f} ms is over"
                f" {JITTER_GOAL_S * 1000:.0f} ms: the generator did not keep real time (its"
                " own work, or a CPU shared with the agent and others)"
            )
        elif self.jitter_p99_s is not None and self.jitter_p99_s > JITTER_GOAL_S:
            out.append(
                f"frame pacing jitter p99 {self.jitter_p99_s * 1000:.1f} ms is over"
                f" {JITTER_GOAL_S * 1000:.0f} ms while the workers kept time: the agent held"
                " callers back (it stopped reading their streams)"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the warnings included; no secret is in a report)."""
        return asdict(self) | {"warnings": self.warnings}

    def write_json(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def to_text(self) -> str:
        """The human table ``voicelab load`` prints."""

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:,.0f} ms"

        def jit(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.2f} ms"

        errors = ", ".join(f"{kind} {n}" for kind, n in sorted(self.errors.items())) or "none"
        cpu = self.cpu_ms_per_caller_s
        rows = [
            ("agent", self.url),
            ("calls held", f"{self.held} of {self.calls} ({self.duration_s:g} s each)"),
            ("errors", errors),
            ("lines answered", f"{self.answered} of {self.lines} ({self.unanswered} unanswered)"),
            ("v2v p50 / p95", f"{ms(self.v2v_p50_s)} / {ms(self.v2v_p95_s)}"),
            ("underruns (>= 40 ms)", f"{self.underruns} in {self.calls_with_underruns} calls"),
            (
                "pacing jitter p50/p99/max",
                f"{jit(self.jitter_p50_s)} / {jit(self.jitter_p99_s)} / {jit(self.jitter_max_s)}"
                f" ({self.frames:,} frames)",
            ),
            (
                "workers' loop lag p50/p99/max",
                f"{jit(self.loop_lag_p50_s)} / {jit(self.loop_lag_p99_s)}"
                f" / {jit(self.loop_lag_max_s)}",
            ),
            ("generator CPU per caller", "-" if cpu is None else f"{cpu:.2f} ms per caller-second"),
        ]
        for u in self.usage:
            rows.append(
                (
                    f"worker {u.worker}",
                    f"{u.callers} caller{'s' if u.callers != 1 else ''},"
                    f" CPU {u.cpu_s:.1f} s over {u.wall_s:.1f} s"
                    f" (mean {u.cpu_share:.0%}, peak {u.peak_share:.0%} of a core),"
                    f" {u.cpu_s_per_caller * 1000:.0f} ms per caller"
                    + (f", nice {u.nice}" if u.nice else ""),
                )
            )
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += [f"error: {message}" for message in self.first_errors]
        lines += [f"WARNING: {warning}" for warning in self.warnings]
        return "\n".join(lines)


_SHOWN_ERRORS = 3


def summarize(plan: LoadPlan, results: Sequence[WorkerResult]) -> LoadReport:
    """The report of a run from its workers' results."""
    calls = sorted((c for r in results for c in r.calls), key=lambda c: c.index)
    v2v = [v for c in calls for v in c.v2v_s]
    jitter = np.concatenate([r.jitter_s for r in results] or [np.empty(0)])
    lag = np.concatenate([r.loop_lag_s for r in results] or [np.empty(0)])
    streamed_s = jitter.size * FRAME_S  # caller-seconds actually played
    cpu_s = sum(r.cpu_s for r in results)
    failed = [c for c in calls if c.error_kind is not None]
    return LoadReport(
        url=plan.shown_url,
        calls=plan.calls,
        workers=plan.workers,
        ramp_s=plan.ramp_s,
        duration_s=plan.duration_s,
        held=sum(c.held for c in calls),
        errors=dict(Counter(c.error_kind for c in failed if c.error_kind)),
        lines=sum(c.lines for c in calls),
        answered=len(v2v),
        unanswered=sum(c.unanswered for c in calls),
        v2v_p50_s=percentile(v2v, 50),
        v2v_p95_s=percentile(v2v, 95),
        underruns=sum(len(c.underruns_s) for c in calls),
        calls_with_underruns=sum(bool(c.underruns_s) for c in calls),
        frames=int(jitter.size),
        jitter_p50_s=percentile(jitter, 50),
        jitter_p99_s=percentile(jitter, 99),
        jitter_max_s=float(jitter.max()) if jitter.size else None,
        loop_lag_p50_s=percentile(lag, 50),
        loop_lag_p99_s=percentile(lag, 99),
        loop_lag_max_s=float(lag.max()) if lag.size else None,
        cpu_ms_per_caller_s=cpu_s * 1000 / streamed_s if streamed_s else None,
        usage=[WorkerUsage.of(r) for r in results],
        first_errors=[
            f"call {c.index}: {(c.error or '').replace(plan.url, plan.shown_url)}"
            for c in failed[:_SHOWN_ERRORS]
        ]
        + [r.nice_error for r in results if r.nice_error],
    )
