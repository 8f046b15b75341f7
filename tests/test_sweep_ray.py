"""The small sweep on a local Ray cluster (one per module): records copied back or written
to a shared store, the comparison, and a worker killed mid-sweep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_record_complete
from sweep_helpers import SWEEP_NAME, VARIANTS, write_sweep

from voicelab.analysis import calls_df
from voicelab.config import Settings
from voicelab.sweeps import CellOutcome, sweep
from voicelab.sweeps._ray import LocalCluster, worker_name

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="make install installs voicelab-phone[ray]")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """One local cluster for the module (starting one takes seconds): 2 CPUs, as here."""
    cluster = LocalCluster(num_cpus=2).start()
    yield
    cluster.stop()


def _manifests(store: Path) -> list[dict]:
    return [json.loads((Path(d) / "call.json").read_text()) for d in calls_df(store)["call_dir"]]


def test_a_ray_sweep_copies_every_call_back_to_the_drivers_store(tmp_path: Path) -> None:
    path = write_sweep(tmp_path / "sweep")
    store = tmp_path / "recordings"
    # No store given: workers record in scratch directories and send each call back.
    result = sweep(path, settings=Settings(recordings_dir=store), ray="local", progress=False)
    assert len(result.outcomes) == 4 and not result.failures
    calls = calls_df(store)
    assert len(calls) == 4 and set(calls["sweep"]) == {SWEEP_NAME}
    assert set(calls["variant"]) == set(VARIANTS)
    for directory in calls["call_dir"]:
        assert_record_complete(Path(directory))
    runners = [m["runner"] for m in _manifests(store)]
    assert all(r["kind"] == "ray" and r["node_id"] and r["actor"] for r in runners)
    # Variants have their own workers.
    by_variant = {m["sweep"]["variant"]: m["runner"]["actor"] for m in _manifests(store)}
    assert len(set(by_variant.values())) == 2
    table = result.compare()
    assert list(table["variant"]) == ["patient"] and table["diff"].iloc[0] > 0.3


def test_a_worker_killed_mid_sweep_is_replaced_and_its_calls_retried(tmp_path: Path) -> None:
    path = write_sweep(tmp_path / "sweep", repeats=3, name="kill-test")
    store = tmp_path / "shared"
    killed: list[str] = []

    def kill_first_worker(outcome: CellOutcome) -> None:
        # After the first call: the worker of that variant still has cells to play.
        if not killed:
            name = worker_name("kill-test", outcome.cell.variant, 0)
            ray.kill(ray.get_actor(name))
            killed.append(outcome.cell.variant)

    result = sweep(
        path,
        store=store,  # a shared store: workers write into it directly
        ray="local",
        workers=1,
        concurrency=1,
        progress=False,
        on_outcome=kill_first_worker,
    )
    assert killed and not result.failures, result.failures
    lost = [o for o in result.attempts if o.error and o.error.startswith("worker lost")]
    assert lost and all(o.attempt == 1 for o in lost)
    assert {o.cell.variant for o in lost} == set(killed)
    calls = calls_df(store)
    assert len(calls) == 6  # every cell recorded once, none dropped, none twice
    assert sorted(zip(calls["variant"], calls["repeat"], strict=True)) == sorted(
        (v, r) for v in VARIANTS for r in (1, 2, 3)
    )
    actors = {m["runner"]["actor"] for m in _manifests(store) if m["sweep"]["variant"] in killed}
    assert len(actors) == 2  # the killed worker's calls, then its replacement's

    resumed = sweep(path, store=store, ray="local", progress=False)
    assert len(resumed.skipped) == 6 and resumed.outcomes == []
