"""``sweep()``: load the sweep, skip what the store already holds, run the rest, summarise.

The driver owns the store: before a run it finds the cells already recorded there (by the
manifests' ``sweep``), sets aside call directories an interrupted run left incomplete,
and plays only the remaining cells, locally or on Ray. One progress bar counts the whole
grid (cells found recorded start it off); a cell counts once it is recorded or has
failed twice.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from voicelab.config import Settings, load_settings
from voicelab.errors import InvalidArgumentError
from voicelab.network import LabModels
from voicelab.sweeps._file import SweepFile, load_sweep
from voicelab.sweeps._grid import Cell, build_grid, recorded_cells, set_aside
from voicelab.sweeps._local import ATTEMPTS, run_local
from voicelab.sweeps._play import CellOutcome

__all__ = ["SweepResult", "sweep"]

DEFAULT_CONCURRENCY = 2


@dataclass
class SweepResult:
    """What a sweep did, and its calls ready to analyse.

    Attributes:
        sweep: The sweep that ran.
        store: The recordings store its calls are in.
        cells: Every cell of the grid.
        skipped: Cells already recorded in the store before this run (not played again).
        outcomes: The last attempt of each cell played in this run.
        attempts: Every attempt, retries included, in the order they finished.
        set_aside: Incomplete call directories of an earlier run, moved to ``.failed/``.
    """

    sweep: SweepFile
    store: Path
    cells: list[Cell]
    skipped: list[Cell] = field(default_factory=list)
    outcomes: list[CellOutcome] = field(default_factory=list)
    attempts: list[CellOutcome] = field(default_factory=list)
    set_aside: list[Path] = field(default_factory=list)

    @property
    def failures(self) -> list[CellOutcome]:
        """Cells whose retry failed too: reported, never dropped."""
        return [o for o in self.outcomes if o.failed]

    @property
    def retried(self) -> list[CellOutcome]:
        """Attempts that failed and were played again."""
        return [o for o in self.attempts if o.failed and o.attempt < ATTEMPTS]

    def calls_df(self) -> pd.DataFrame:
        """The store's calls of this sweep (see :func:`voicelab.analysis.calls_df`)."""
        from voicelab.analysis import calls_df

        calls = _quietly(calls_df, self.store)
        return calls[calls["sweep"] == self.sweep.name].reset_index(drop=True)

    def turns_df(self) -> pd.DataFrame:
        """The store's turns of this sweep (see :func:`voicelab.analysis.turns_df`)."""
        from voicelab.analysis import turns_df

        turns = _quietly(turns_df, self.store)
        return turns[turns["sweep"] == self.sweep.name].reset_index(drop=True)

    def compare(self, col: str = "v2v_caller_s", baseline: str | None = None) -> pd.DataFrame:
        """Each variant's median ``col`` against the baseline variant's (bootstrap CI), see
        :func:`voicelab.analysis.compare`; the baseline defaults to the sweep's first."""
        from voicelab.analysis import compare

        chosen = baseline or self.sweep.variants[0].name
        return compare(self.turns_df(), by="variant", col=col, baseline=chosen)

    def summary(self, col: str = "v2v_caller_s") -> pd.DataFrame:
        """Per variant: calls, turns and ``col``'s p50 / p90 / p95 / max."""
        from voicelab.analysis import latency_summary

        return latency_summary(self.turns_df(), col=col, by="variant")


def _quietly(loader: Callable[..., pd.DataFrame], store: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return loader(store)


def sweep(
    source: str | Path | SweepFile,
    *,
    settings: Settings | None = None,
    store: str | Path | None = None,
    ray: str | None = None,
    concurrency: int | None = None,
    workers: int | None = None,
    progress: bool = True,
    on_outcome: Callable[[CellOutcome], None] | None = None,
    models: LabModels | None = None,
    **overrides: Any,
) -> SweepResult:
    """Run a sweep: every scenario × variant × repeat, locally or on Ray.

    Args:
        source: A sweep file (see :mod:`voicelab.sweeps`) or a loaded :class:`SweepFile`.
        settings: The settings every variant starts from (default: the environment).
        store: Recordings root the calls go to (default ``settings.recordings_dir``).
            On Ray, a store given here is taken as shared: workers write into it
            directly, so it must be the same path on every node. Without it, each call
            directory is copied back to the driver's store.
        ray: ``None``: run in this process; ``"local"``: start a new Ray cluster on this
            machine, listening on 127.0.0.1 (whatever ``RAY_ADDRESS`` says); else the address
            of one to join (``auto``: ``RAY_ADDRESS`` or the last ``ray start``'s,
            ``ray://host:10001``).
        concurrency: Calls at once (in this process), or per worker (on Ray); default
            the sweep file's, else 2 (on Ray: what a worker's CPUs hold of its variant's
            providers, :func:`voicelab.bot.providers.calls_per_cpu`).
        workers: Ray workers (actors) per variant (default: the cluster's CPUs shared
            out among the variants).
        progress: Show a progress bar over the grid.
        on_outcome: Called on the driver with every attempt as it finishes.
        models: The models this process's labs share (without Ray; default: new ones).
        **overrides: Setting overrides on top of ``settings``.

    Returns:
        What ran; cells already recorded in the store are skipped (a restart resumes).

    Raises:
        SweepError: The sweep file is invalid, or the Ray cluster cannot be reached.
        MissingDependencyError: ``ray`` is given but Ray is not installed.
    """
    from tqdm.auto import tqdm

    loaded = source if isinstance(source, SweepFile) else load_sweep(source)
    base = settings if settings is not None else load_settings()
    if overrides:
        base = load_settings(**{**base.model_dump(), **overrides})
    root = Path(store) if store is not None else base.recordings_dir
    calls_at_once = concurrency or loaded.concurrency
    if calls_at_once is not None and calls_at_once < 1:
        raise InvalidArgumentError(f"concurrency must be at least 1, not {calls_at_once}")
    scenarios = {s.id: s for s in loaded.load_scenarios()}
    cells = build_grid(loaded, scenarios)
    done, incomplete = recorded_cells(root, loaded.name)
    result = SweepResult(loaded, root, cells)
    result.set_aside = [set_aside(d, root) for d in incomplete]
    result.skipped = [c for c in cells if c.id in done]
    pending = [c for c in cells if c.id not in done]
    bar = tqdm(
        total=len(cells),
        initial=len(result.skipped),
        desc=f"sweep {loaded.name}",
        unit="call",
        disable=not progress,
    )

    def report(outcome: CellOutcome) -> None:
        result.attempts.append(outcome)
        if not outcome.failed or outcome.attempt >= ATTEMPTS:
            bar.update()
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        if not pending:
            return result
        if ray is None:
            result.outcomes = asyncio.run(
                run_local(
                    loaded,
                    pending,
                    scenarios,
                    base=base,
                    store=root,
                    concurrency=calls_at_once or DEFAULT_CONCURRENCY,
                    report=report,
                    models=models,
                )
            )
        else:
            from voicelab.sweeps._ray import run_ray

            result.outcomes = run_ray(
                loaded,
                pending,
                scenarios,
                address=ray,
                base=base,
                store=root,
                shared_store=store is not None,
                calls_per_worker=calls_at_once,
                workers=workers,
                report=report,
            )
    finally:
        bar.close()
    return result
