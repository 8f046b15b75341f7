"""CallServer: the real server on its own thread and loop, restartable in one process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from voicelab.config import Settings
from voicelab.errors import VoicelabError
from voicelab.server.runner import CallServer


def test_start_stop_start_in_one_process(tmp_path):
    server = CallServer(Settings(providers="instant", recordings_dir=tmp_path), port=0)
    with pytest.raises(VoicelabError, match="not running"):
        _ = server.url
    for _ in range(2):
        server.start()
        assert server.running and server.port and server.port > 0
        assert httpx.get(server.url + "/health").status_code == 200
        server.stop()
        server.stop()  # idempotent
        assert not server.running
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=2)


def test_works_inside_a_running_event_loop(tmp_path):
    """Jupyter runs an event loop already: start() must not need (or break) it."""

    async def notebook_cell() -> int:
        with CallServer(Settings(providers="instant", recordings_dir=tmp_path)) as server:
            async with httpx.AsyncClient() as client:
                return (await client.get(server.url + "/health")).status_code

    assert asyncio.run(notebook_cell()) == 200


def test_a_taken_port_is_a_clear_error(tmp_path):
    with CallServer(Settings(providers="instant", recordings_dir=tmp_path)) as first:
        second = CallServer(
            Settings(providers="instant", recordings_dir=tmp_path), port=first.port or 0
        )
        with pytest.raises(VoicelabError, match=r"cannot listen on .*in use"):
            second.start()


def test_a_restarted_network_runs_its_own_server_again(tmp_path):
    """The lab's own server's URL used to stay behind after stop(), so a restarted network
    took its stopped server for an outside agent (black-box callers, no server of its own)."""
    from voicelab.network import LocalNetwork

    async def twice() -> list[tuple[bool, int]]:
        network = LocalNetwork(Settings(providers="instant", recordings_dir=tmp_path))
        seen = []
        for _ in range(2):
            await network.start()
            assert network.server is not None and network.server_url == network.server.url
            async with httpx.AsyncClient() as client:
                health = await client.get(f"{network.server_url}/health")
            seen.append((network.agent_url is None, health.status_code))
            await network.stop()
            assert network.server_url is None
        return seen

    assert asyncio.run(twice()) == [(True, 200), (True, 200)]


def test_an_outside_agents_url_stays_what_it_was(tmp_path):
    from voicelab.network import LocalNetwork

    network = LocalNetwork(Settings(recordings_dir=tmp_path), server_url="http://127.0.0.1:9")
    assert network.server_url == network.agent_url == "http://127.0.0.1:9"
    assert network.server is None
