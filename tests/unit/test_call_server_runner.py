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
