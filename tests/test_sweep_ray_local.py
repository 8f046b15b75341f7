"""``--ray local`` starts a cluster of its own, on 127.0.0.1, whatever an earlier cluster left.

Ray's ``ray.init()`` joins the cluster named by ``RAY_ADDRESS`` or by the address file an
earlier ``ray start`` left (``$RAY_TMPDIR/ray/ray_current_cluster``), dead or alive; with
``num_cpus`` given it then failed: "When connecting to an existing cluster, num_cpus and
num_gpus must not be provided". Its own module: the other Ray tests share one cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sweep_helpers import write_sweep

from voicelab.analysis import calls_df
from voicelab.config import Settings
from voicelab.sweeps import CellOutcome, sweep
from voicelab.sweeps._ray import LOOPBACK_SWITCH

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="make install installs voicelab-phone[ray]")


def _dead_address() -> str:
    # A port nothing listens on: what a killed cluster's address file names.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def stale_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Ray temp directory of this test's (others' Ray runs keep /tmp/ray) holding a dead
    cluster's address file, and ``RAY_ADDRESS`` naming another dead one."""
    assert not ray.is_initialized()
    # Short: Ray's unix socket paths live under it (at most 107 characters).
    root = Path(tempfile.mkdtemp(prefix="vl-ray-", dir="/tmp"))
    monkeypatch.setenv("RAY_TMPDIR", str(root))
    monkeypatch.setenv("RAY_ADDRESS", _dead_address())
    (root / "ray").mkdir()
    (root / "ray" / "ray_current_cluster").write_text(_dead_address())
    yield root
    if ray.is_initialized():  # the test failed with the cluster up
        ray.shutdown()
    shutil.rmtree(root, ignore_errors=True)


def test_ray_local_starts_its_own_cluster_on_loopback_despite_a_stale_one(
    tmp_path: Path, stale_cluster: Path
) -> None:
    path = write_sweep(tmp_path / "sweep", repeats=1, name="stale")
    addresses: list[tuple[str, str]] = []

    def where(outcome: CellOutcome) -> None:  # on the driver, while the cluster is up
        addresses.append((ray.util.get_node_ip_address(), ray.get_runtime_context().gcs_address))

    switch = os.environ.get(LOOPBACK_SWITCH)
    enabled = ray._private.ray_constants.ENABLE_RAY_CLUSTER
    result = sweep(
        path,
        settings=Settings(recordings_dir=tmp_path / "recordings"),
        ray="local",
        progress=False,
        on_outcome=where,
    )
    assert len(result.outcomes) == 2 and not result.failures, result.failures
    assert len(calls_df(tmp_path / "recordings")) == 2
    # A new cluster, in this test's temp directory, on 127.0.0.1: its GCS, raylet and workers
    # listen on loopback only.
    assert addresses and all(ip == "127.0.0.1" for ip, _ in addresses)
    assert all(gcs.startswith("127.0.0.1:") for _, gcs in addresses)
    assert os.environ["RAY_ADDRESS"] not in {gcs for _, gcs in addresses}
    assert [p.name for p in (stale_cluster / "ray").glob("session_2*")]
    # Stopped with the sweep; the loopback switch is this process's again (a later --ray auto
    # joins a cluster of several nodes with the host's address).
    assert not ray.is_initialized()
    assert os.environ.get(LOOPBACK_SWITCH) == switch
    assert ray._private.ray_constants.ENABLE_RAY_CLUSTER is enabled
