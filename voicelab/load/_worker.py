"""A worker process: one event loop driving its share of the callers on one frame clock.

The parent spawns one per core by default (:mod:`voicelab.load._run`); each gets a
:class:`WorkerJob` (pickled), plays its callers and hands back a :class:`WorkerResult`:
every call's stats, the lateness of every frame it sent, and its own CPU time, so that
the report can tell a slow agent from an overloaded generator.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field

import numpy as np

from voicelab.load._caller import CallStats, LoadCaller
from voicelab.load._line import FRAME_S, CallerLine
from voicelab.load._pacing import FrameClock, JitterLog
from voicelab.load._plan import LoadPlan
from voicelab.simulator._carrier_webhooks import WebhookClient

__all__ = [
    "CPU_SAMPLE_S",
    "CpuMeter",
    "LoopProbe",
    "WorkerJob",
    "WorkerResult",
    "play_worker",
]

CPU_SAMPLE_S = 1.0
"""How often a worker samples its own CPU use (its busiest second decides "saturated")."""


@dataclass(frozen=True)
class WorkerJob:
    """What one worker plays.

    Attributes:
        worker: Its number (from 0).
        plan: The run's plan.
        line: What every caller says.
        start_at: The run's ``t = 0``, wall-clock (:func:`time.time`), the same for every
            worker so that their ramps interleave.
    """

    worker: int
    plan: LoadPlan
    line: CallerLine
    start_at: float

    @property
    def callers(self) -> list[int]:
        return self.plan.callers_of(self.worker)


@dataclass
class WorkerResult:
    """What one worker saw and what it cost.

    Attributes:
        worker: Its number.
        calls: Every call's stats.
        jitter_s: Every frame's lateness (sent minus due), seconds.
        cpu_s: The process's CPU time (user + system, all threads) while it played.
        wall_s: How long it played.
        cpu_samples: Its CPU use per :data:`CPU_SAMPLE_S` interval, as a share of one core.
        loop_lag_s: Its :class:`LoopProbe`'s lateness at every 20 ms tick, seconds.
        nice: Its scheduling priority while it played.
        nice_error: Why the plan's ``nice`` could not be set.
    """

    worker: int
    calls: list[CallStats]
    jitter_s: np.ndarray
    cpu_s: float
    wall_s: float
    cpu_samples: list[float] = field(default_factory=list)
    loop_lag_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    nice: int = 0
    nice_error: str | None = None


class LoopProbe:
    """The worker's own pacing, apart from any caller: a task that wakes on the same 20 ms
    grid and records how late it woke.

    A caller's frames can also be late because its agent stopped reading (a full send
    buffer holds the caller back: backpressure); the probe sends nothing, so its lateness
    is the event loop's alone (its own work, or the CPU it could not get).
    """

    def __init__(self, clock: FrameClock) -> None:
        self.clock = clock
        self.lag = JitterLog()

    async def run(self) -> None:
        frame = 0
        while True:
            due = self.clock.deadline(self.clock.origin, frame)
            self.lag.record(due, await self.clock.until(due))
            frame = max(
                frame + 1, self.clock.first_frame_after(self.clock.origin, time.monotonic())
            )


class CpuMeter:
    """Samples the process's CPU use (share of one core) every ``interval_s`` seconds."""

    def __init__(self, interval_s: float = CPU_SAMPLE_S) -> None:
        self.interval_s = interval_s
        self.samples: list[float] = []

    async def run(self) -> None:
        cpu, wall = time.process_time(), time.monotonic()
        while True:
            await asyncio.sleep(self.interval_s)
            cpu_now, wall_now = time.process_time(), time.monotonic()
            self.samples.append((cpu_now - cpu) / max(wall_now - wall, 1e-9))
            cpu, wall = cpu_now, wall_now


def play_worker(job: WorkerJob) -> WorkerResult:
    """Play ``job``'s callers in a fresh event loop (the spawned process's entry point)."""
    nice_error = None
    if job.plan.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, job.plan.nice)
        except OSError as exc:  # a negative nice without the privilege: play at the default
            nice_error = f"worker {job.worker}: could not set nice {job.plan.nice}: {exc}"
    result = asyncio.run(_play(job))
    result.nice = os.getpriority(os.PRIO_PROCESS, 0)
    result.nice_error = nice_error
    return result


async def _play(job: WorkerJob) -> WorkerResult:
    plan = job.plan
    origin = time.monotonic() + (job.start_at - time.time())
    clock, jitter = FrameClock(origin), JitterLog()
    # No token: an agent that checks no signature (a random key signs for nobody).
    webhooks = WebhookClient(plan.auth_token or secrets.token_hex(16), timeout_s=15.0)
    indices = job.callers
    # Spread the worker's sends over the 20 ms period rather than all on one instant.
    callers = [
        LoadCaller(i, plan, job.line, webhooks, clock, jitter, phase_s=k / len(indices) * FRAME_S)
        for k, i in enumerate(indices)
    ]
    await FrameClock.until(origin)  # the CPU and wall figures start with the run
    meter, probe = CpuMeter(), LoopProbe(clock)
    cpu0, wall0 = time.process_time(), time.monotonic()
    watchers = [asyncio.create_task(meter.run()), asyncio.create_task(probe.run())]
    try:
        calls = await asyncio.gather(
            *(caller.run(origin + plan.start_offset(caller.stats.index)) for caller in callers)
        )
    finally:
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await webhooks.aclose()
    return WorkerResult(
        worker=job.worker,
        calls=list(calls),
        jitter_s=jitter.to_numpy(),
        cpu_s=time.process_time() - cpu0,
        wall_s=time.monotonic() - wall0,
        cpu_samples=meter.samples,
        loop_lag_s=probe.lag.to_numpy(),
    )
