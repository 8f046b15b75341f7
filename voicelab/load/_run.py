"""``run_load``: the callers split over spawned worker processes, their results summarized."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from voicelab.errors import ConfigError, VoicelabError
from voicelab.load._line import CallerLine
from voicelab.load._plan import LoadPlan
from voicelab.load._report import LoadReport, summarize
from voicelab.load._worker import WorkerJob, play_worker

__all__ = ["DEFAULT_LINE", "STARTUP_S", "caller_line", "default_workers", "run_load"]

DEFAULT_LINE = "Hi, I have some feedback about the lunch I had today."
"""What a load caller says by default (the soak benchmark's line), in the Piper voice."""

STARTUP_S = 3.0
"""Time given to the spawned workers to start before the run's ``t = 0`` (a late worker's
first callers start as soon as it is up)."""


def default_workers() -> int:
    """One worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def caller_line(wav: Path | None = None, text: str = DEFAULT_LINE) -> CallerLine:
    """The callers' line: ``wav`` (any rate, made mono 8 kHz), else ``text`` in the
    simulated caller's Piper voice, synthesised once here for every worker.

    Raises:
        ScenarioError: ``wav`` cannot be read.
        ConfigError: The audio is silent.
    """
    from voicelab.simulator.voices import CallerVoice, load_wav

    samples = load_wav(wav) if wav is not None else CallerVoice().speak(text)
    return CallerLine.from_samples(samples)


def run_load(plan: LoadPlan, line: CallerLine) -> LoadReport:
    """Play ``plan``: ``plan.calls`` callers over ``plan.workers`` spawned processes.

    Blocks until every call has ended (about ``STARTUP_S + ramp_s + duration_s``).

    Raises:
        VoicelabError: A worker process died.
    """
    if plan.workers > plan.calls:
        raise ConfigError("more workers than calls")
    start_at = time.time() + STARTUP_S
    jobs = [WorkerJob(w, plan, line, start_at) for w in range(plan.workers)]
    try:
        with ProcessPoolExecutor(plan.workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(play_worker, jobs))
    except BrokenProcessPool as exc:
        raise VoicelabError(f"a load worker process died: {exc}") from exc
    return summarize(plan, results)
