"""The Ray runner: workers are actors, each hosting a lab of its own on its node.

Each worker (:class:`SweepWorker`) is an async actor built with one variant's settings: it
starts a :class:`~voicelab.network.LocalNetwork` (server + carrier + warm models) where
Ray placed it and plays up to ``calls`` cells at a time (the actor's ``max_concurrency``).
Variants get their own workers, since a server runs with one set of settings.

The driver hands out cells as workers free up (:func:`run_ray`). A worker writes its calls
into the store when the store is shared (``--store`` on a path every node sees); otherwise
into a scratch directory, returning each call directory as a tar that the driver unpacks
into its own store. A failed call, or a lost worker (its calls in flight fail with
``RayActorError``; a new worker replaces it), is retried once, then reported.

A worker plays the calls its CPUs hold (:func:`~voicelab.bot.providers.calls_per_cpu` of its
variant's providers) unless ``--concurrency`` says otherwise.

Ray is optional (``pip install 'voicelab-phone[ray]'``) and imported only here, when a sweep asks
for it; the driver's process gets ``RAY_USAGE_STATS_ENABLED=0`` unless it says otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicelab._extras import install_command
from voicelab.bot.providers import calls_per_cpu
from voicelab.config import Settings
from voicelab.errors import MissingDependencyError, SweepError
from voicelab.simulator.scenario import Scenario
from voicelab.sweeps._file import SweepFile
from voicelab.sweeps._grid import Cell
from voicelab.sweeps._local import ATTEMPTS
from voicelab.sweeps._play import CellOutcome, unpack

__all__ = [
    "LOCAL_CLUSTER",
    "LocalCluster",
    "SweepWorker",
    "connect",
    "run_ray",
    "worker_calls",
    "worker_name",
]

INSTALL_HINT = f"Ray is not installed: {install_command('ray')}"
# --ray local: a new cluster whatever RAY_ADDRESS or an earlier `ray start`'s address file
# (/tmp/ray/ray_current_cluster) says, which ray.init() would join otherwise. The dashboard and
# a large object store are not what a sweep needs (call directories travel as a few hundred
# kB each), and the box may be small.
LOCAL_CLUSTER: dict[str, Any] = {
    "address": "local",
    "include_dashboard": False,
    "object_store_memory": 200 * 1024**2,
}
# Ray takes a node's address from this switch: off (as on macOS and Windows), the node is
# 127.0.0.1 and its GCS, raylet, agents and workers listen on loopback only; on, they listen on
# every interface (and ray.init(_node_ip_address="127.0.0.1") is turned into the host's address).
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry, no internet
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(INSTALL_HINT) from None
    return ray


def connect(address: str) -> tuple[Any, LocalCluster | None]:
    """Join (or, for ``local``, start) a Ray cluster: ``ray``, and the cluster started here
    (``None`` when joined), which the caller stops.

    An already initialised Ray (a notebook's, a test's) is used as it is.

    Raises:
        MissingDependencyError: Ray is not installed.
        SweepError: The cluster cannot be reached (or started).
    """
    ray = _ray()
    if ray.is_initialized():
        return ray, None
    if address == "local":
        cluster = LocalCluster().start()
        return ray, cluster
    try:
        ray.init(address=address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SweepError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    return ray, None


class LocalCluster:
    """A Ray cluster on this machine, as ``--ray local`` starts it, with this driver in it.

    ``ray.init("local", num_cpus, include_dashboard=False, object_store_memory=200 MB)``,
    listening on 127.0.0.1 only: a new cluster even when ``RAY_ADDRESS`` or an earlier
    cluster's address file names one (``--ray auto`` joins that). Starting it is retried:
    the raylet gives its agents (Python processes importing Ray, several seconds of CPU each)
    about 15 s to report their ports and aborts otherwise ("Timed out waiting for file
    .../metrics_agent_port"), which a busy 2-core machine sometimes exceeds.

    Args:
        num_cpus: CPUs the cluster offers (default: this machine's).
        attempts: How many times to try starting it.
    """

    def __init__(self, num_cpus: int | None = None, attempts: int = 3) -> None:
        self.num_cpus = num_cpus or os.cpu_count() or 1
        self.attempts = attempts

    def start(self) -> LocalCluster:
        """Start the cluster and join it.

        Raises:
            SweepError: It did not start in ``attempts`` tries.
        """
        ray = _ray()
        for attempt in range(1, self.attempts + 1):
            try:
                with _loopback():
                    ray.init(num_cpus=self.num_cpus, **LOCAL_CLUSTER)
                return self
            except Exception as exc:  # Ray raises a bare Exception for a node that timed out
                ray.shutdown()  # what did start of this attempt
                if attempt == self.attempts:
                    raise SweepError(f"the local Ray cluster did not start: {exc}") from None
        return self

    def stop(self) -> None:
        """Leave and stop the cluster (idempotent)."""
        ray = _ray()
        if ray.is_initialized():
            ray.shutdown()


@contextlib.contextmanager
def _loopback() -> Iterator[None]:
    """Ray started inside this block listens on 127.0.0.1: :data:`LOOPBACK_SWITCH` off for the
    processes started here (raylet, agents; workers inherit the raylet's environment) and for
    this one, which read it when it imported Ray. Both are restored: this process may join a
    cluster of several nodes later, which needs the host's address.
    """
    constants: Any = importlib.import_module("ray._private.ray_constants")
    saved_env, saved = os.environ.get(LOOPBACK_SWITCH), constants.ENABLE_RAY_CLUSTER
    os.environ[LOOPBACK_SWITCH], constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(LOOPBACK_SWITCH, None)
        else:
            os.environ[LOOPBACK_SWITCH] = saved_env


class SweepWorker:
    """One worker: a lab with one variant's settings, playing cells as the driver sends them.

    Ray makes it an actor (``ray.remote(SweepWorker)``); it is a plain class so that it
    can be defined without Ray installed.

    Args:
        sweep: The sweep.
        variant: The variant this worker plays.
        settings: The variant's settings.
        scenarios: The sweep's scenarios by id.
        store: The shared store to record into, or ``None``: a scratch directory here,
            each call returned as a tar.
    """

    def __init__(
        self,
        sweep: SweepFile,
        variant: str,
        settings: Settings,
        scenarios: dict[str, Scenario],
        store: str | None,
    ) -> None:
        from loguru import logger

        # A worker process is ours: its pipeline's debug lines would flood the driver.
        logger.remove()
        logger.add(lambda line: print(line, end=""), level="ERROR")
        self.sweep, self.variant, self.scenarios = sweep, variant, scenarios
        self.pack = store is None
        root = Path(store) if store is not None else Path(tempfile.mkdtemp(prefix="voicelab-"))
        self.settings = settings.model_copy(update={"recordings_dir": root})
        self.player: Any = None

    async def start(self) -> dict[str, Any]:
        """Start the lab; returns this worker's ``runner`` record."""
        import ray

        from voicelab.network import LocalNetwork
        from voicelab.sweeps._play import CellPlayer, runner_info

        context = ray.get_runtime_context()
        runner = runner_info(
            kind="ray", node_id=context.get_node_id(), actor=context.get_actor_id()
        )
        network = LocalNetwork(self.settings)
        await network.start()
        self.player = CellPlayer(network, self.sweep, self.scenarios, runner, pack=self.pack)
        return runner

    async def play(self, cell: Cell, attempt: int) -> CellOutcome:
        outcome: CellOutcome = await self.player.play(cell, attempt)
        return outcome

    async def stop(self) -> None:
        if self.player is not None:
            await self.player.network.stop()


def worker_calls(providers: str | None, cpus: float) -> int:
    """The calls a worker given ``cpus`` CPUs plays at once by default: what they hold of its
    variant's ``providers`` (offline calls are heavy), at least one."""
    return max(1, math.ceil(calls_per_cpu(providers) * cpus))


def worker_name(sweep: str, variant: str, index: int) -> str:
    """The Ray actor name of a sweep's ``index``-th worker of ``variant`` (0 first)."""
    return f"voicelab-sweep:{sweep}:{variant}:{index}"


@dataclass
class _Slot:
    """A worker as the driver sees it: its variant, its handle, its calls in flight."""

    variant: str
    handle: Any
    capacity: int
    inflight: dict[Any, tuple[Cell, int]] = field(default_factory=dict)
    lost: bool = False


def run_ray(
    sweep: SweepFile,
    cells: Sequence[Cell],
    scenarios: dict[str, Scenario],
    *,
    address: str,
    base: Settings,
    store: Path,
    shared_store: bool,
    calls_per_worker: int | None,
    workers: int | None,
    report: Callable[[CellOutcome], None],
) -> list[CellOutcome]:
    """Play ``cells`` on Ray workers; ``report`` sees every attempt on the driver.

    Raises:
        MissingDependencyError: Ray is not installed.
        SweepError: The cluster cannot be reached.
    """
    ray, cluster = connect(address)
    try:
        return _dispatch(
            ray,
            sweep,
            cells,
            scenarios,
            base,
            store,
            shared_store,
            calls_per_worker,
            workers,
            report,
        )
    finally:
        if cluster is not None:
            cluster.stop()


def _dispatch(
    ray: Any,
    sweep: SweepFile,
    cells: Sequence[Cell],
    scenarios: dict[str, Scenario],
    base: Settings,
    store: Path,
    shared_store: bool,
    calls_per_worker: int | None,
    workers: int | None,
    report: Callable[[CellOutcome], None],
) -> list[CellOutcome]:
    from ray.exceptions import RayActorError, RayError

    variants = sorted({cell.variant for cell in cells})
    cluster_cpus = float(ray.cluster_resources().get("CPU", 1.0))
    per_variant = workers or max(1, int(cluster_cpus // len(variants)))
    # Every worker fits at once: a worker asks for its share of the cluster's CPUs.
    cpus = min(1.0, cluster_cpus / (per_variant * len(variants)))
    remote = ray.remote(SweepWorker)
    settings = {name: sweep.variant_settings(name, base) for name in variants}
    calls = {v: calls_per_worker or worker_calls(s.providers, cpus) for v, s in settings.items()}
    store.mkdir(parents=True, exist_ok=True)

    spawned: dict[str, int] = dict.fromkeys(variants, 0)

    def spawn(variant: str) -> _Slot:
        # Named, so an operator (or a test) can find a sweep's workers: ray.get_actor(name).
        name = worker_name(sweep.name, variant, spawned[variant])
        spawned[variant] += 1
        handle = remote.options(num_cpus=cpus, max_concurrency=calls[variant], name=name).remote(
            sweep, variant, settings[variant], scenarios, str(store) if shared_store else None
        )
        return _Slot(variant, handle, calls[variant])

    slots = [spawn(v) for v in variants for _ in range(per_variant)]
    try:
        ray.get([slot.handle.start.remote() for slot in slots])
    except RayError as exc:
        for slot in slots:
            ray.kill(slot.handle)
        raise SweepError(f"sweep {sweep.name}: a worker could not start its lab: {exc}") from None
    queues = {v: deque((c, 1) for c in cells if c.variant == v) for v in variants}
    finals: dict[str, CellOutcome] = {}
    owner: dict[Any, _Slot] = {}

    def finish(outcome: CellOutcome) -> None:
        if outcome.archive is not None:
            unpack(outcome, store)
        report(outcome)
        if outcome.failed and outcome.attempt < ATTEMPTS:
            queues[outcome.cell.variant].appendleft((outcome.cell, outcome.attempt + 1))
        else:
            finals[outcome.cell.id] = outcome

    try:
        while any(queues.values()) or owner:
            for slot in slots:
                queue = queues[slot.variant]
                while not slot.lost and queue and len(slot.inflight) < slot.capacity:
                    cell, attempt = queue.popleft()
                    ref = slot.handle.play.remote(cell, attempt)
                    slot.inflight[ref] = (cell, attempt)
                    owner[ref] = slot
            ready, _ = ray.wait(list(owner), num_returns=1)
            ref = ready[0]
            slot = owner.pop(ref)
            cell, attempt = slot.inflight.pop(ref)
            try:
                outcome = ray.get(ref)
            except RayActorError as exc:  # the worker died (killed, OOM, node lost)
                outcome = CellOutcome(cell, attempt, "lost", f"worker lost: {type(exc).__name__}")
                if not slot.lost:
                    slot.lost = True
                    replacement = spawn(slot.variant)
                    ray.get(replacement.handle.start.remote())
                    slots.append(replacement)
            except RayError as exc:
                outcome = CellOutcome(cell, attempt, "not-placed", f"{type(exc).__name__}: {exc}")
            finish(outcome)
    finally:
        live = [s.handle.stop.remote() for s in slots if not s.lost]
        with contextlib.suppress(RayError):  # a worker that cannot stop is killed anyway
            ray.get(live, timeout=60)
        for slot in slots:
            ray.kill(slot.handle)
    return [finals[c.id] for c in cells]
