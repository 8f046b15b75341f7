"""The small sweep on a local Ray cluster (one per module): records copied back or written
to a shared store, the comparison, and a worker killed mid-sweep.

The module's cluster starts where an earlier one left its traces: ``RAY_ADDRESS`` and the
address file (``$RAY_TMPDIR/ray/ray_current_cluster``) name dead clusters. ``ray.init()``
joined whatever they named and, given ``num_cpus``, failed: "When connecting to an existing
cluster, num_cpus and num_gpus must not be provided". ``--ray local`` starts its own, on
127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_record_complete
from sweep_helpers import SWEEP_NAME, VARIANTS, write_sweep

from voicelab.analysis import calls_df
from voicelab.config import Settings
from voicelab.sweeps import CellOutcome, sweep
from voicelab.sweeps._ray import LOOPBACK_SWITCH, LocalCluster, worker_name

pytestmark = pytest.mark.slow
# Looked for, not imported: importing ray costs a second, and every pytest run collects this
# module (`make check` too). The fixture and tests import it.
if importlib.util.find_spec("ray") is None:
    pytest.skip("make install installs voicelab-phone[ray]", allow_module_level=True)


def _dead_address() -> str:
    # A port nothing listens on: what a killed cluster's address file names.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[Path]:
    """One local cluster for the module (starting one takes seconds): 2 CPUs, as here, in a
    Ray temp directory of its own (others' runs keep /tmp/ray) where a dead cluster left its
    address file, with ``RAY_ADDRESS`` naming another dead one."""
    import ray

    assert not ray.is_initialized()
    # Short: Ray's unix socket paths live under it (at most 107 characters).
    root = Path(tempfile.mkdtemp(prefix="vl-ray-", dir="/tmp"))
    (root / "ray").mkdir()
    (root / "ray" / "ray_current_cluster").write_text(_dead_address())
    switch = os.environ.get(LOOPBACK_SWITCH)
    enabled = ray._private.ray_constants.ENABLE_RAY_CLUSTER
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", str(root))
        env.setenv("RAY_ADDRESS", _dead_address())
        cluster = LocalCluster(num_cpus=2).start()
        try:
            # A new cluster, on 127.0.0.1, in this temp directory: not the dead ones.
            gcs = ray.get_runtime_context().gcs_address
            assert gcs.startswith("127.0.0.1:") and gcs != os.environ["RAY_ADDRESS"]
            assert ray.util.get_node_ip_address() == "127.0.0.1"
            assert list((root / "ray").glob("session_2*"))
            yield root
        finally:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
    # The loopback switch is this process's again (a later --ray auto joins a cluster of
    # several nodes with the host's address).
    assert os.environ.get(LOOPBACK_SWITCH) == switch
    assert ray._private.ray_constants.ENABLE_RAY_CLUSTER is enabled


def _manifests(store: Path) -> list[dict]:
    return [json.loads((Path(d) / "call.json").read_text()) for d in calls_df(store)["call_dir"]]


def test_a_ray_sweep_copies_every_call_back_to_the_drivers_store(tmp_path: Path) -> None:
    import ray

    path = write_sweep(tmp_path / "sweep")
    store = tmp_path / "recordings"
    # No store given: workers record in scratch directories and send each call back.
    nodes: list[str] = []

    def where(outcome: CellOutcome) -> None:  # on the driver, while the cluster is up
        nodes.append(ray.util.get_node_ip_address())

    result = sweep(
        path,
        settings=Settings(recordings_dir=store),
        ray="local",
        progress=False,
        on_outcome=where,
    )
    assert nodes and set(nodes) == {"127.0.0.1"}
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
    import ray

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
