"""SigtermStop: stop gracefully on SIGTERM, chain to the previous handler, restore it."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from voicelab.server.runner import SigtermStop


@pytest.fixture
def previous_handler():
    calls: list[int] = []

    def handler(signum: int, _: Any) -> None:
        calls.append(signum)

    original = signal.signal(signal.SIGTERM, handler)
    yield handler, calls
    signal.signal(signal.SIGTERM, original)


def test_sigterm_stops_first_then_chains_to_the_previous_handler(previous_handler):
    handler, calls = previous_handler
    order: list[str] = []
    stopper = SigtermStop(lambda: order.append("stopped"))
    assert stopper.install()
    os.kill(os.getpid(), signal.SIGTERM)
    assert order == ["stopped"] and calls == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is handler, "the previous handler is back"


def test_restore_gives_sigterm_back_untouched(previous_handler):
    handler, calls = previous_handler
    stopped: list[bool] = []
    stopper = SigtermStop(lambda: stopped.append(True))
    stopper.install()
    assert signal.getsignal(signal.SIGTERM) != handler
    stopper.restore()
    assert signal.getsignal(signal.SIGTERM) is handler
    os.kill(os.getpid(), signal.SIGTERM)
    assert calls == [signal.SIGTERM] and stopped == []


def test_off_the_main_thread_nothing_is_installed(previous_handler):
    handler, _ = previous_handler
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(SigtermStop(lambda: None).install()))
    thread.start()
    thread.join()
    assert results == [False] and signal.getsignal(signal.SIGTERM) is handler
