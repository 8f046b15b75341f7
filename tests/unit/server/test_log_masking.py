"""Phone numbers in logs: masked with VOICELAB_MASK_PHONE_NUMBERS, kept without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from loguru import logger

from voicelab.server.logging import (
    LogSinks,
    configure_logging,
    mask_phone_number,
    mask_phone_numbers,
)


@pytest.mark.parametrize(
    "number, masked",
    [
        ("+15551234567", "+1555***4567"),
        ("+442079460958", "+4420***0958"),
        ("+8613800138000", "+8613***8000"),
        ("+1234567", "+12***67"),
    ],
)
def test_mask_keeps_the_country_and_the_last_digits(number, masked):
    assert mask_phone_number(number) == masked


def test_every_number_in_a_text_is_masked_and_nothing_else():
    text = (
        "call CA0123456789abcdef0123456789abcdef from +15551234567 to +442079460958, "
        "port 8765, 12345678901 digits, sid 9+15550001111x"
    )
    assert mask_phone_numbers(text) == (
        "call CA0123456789abcdef0123456789abcdef from +1555***4567 to +4420***0958, "
        "port 8765, 12345678901 digits, sid 9+15550001111x"
    )


def _logged(log_dir: Path, *, mask: bool) -> str:
    configure_logging(log_dir, mask_numbers=mask)
    logger.info("Outbound call initiated to {}", "+15551234567")
    logger.complete()
    return "".join(path.read_text() for path in log_dir.glob("*.log"))


def test_the_cli_logging_masks_numbers_only_when_asked(tmp_path):
    masked = _logged(tmp_path / "masked", mask=True)
    assert "+1555***4567" in masked and "+15551234567" not in masked
    # Reconfiguring without masking stops masking again.
    plain = _logged(tmp_path / "plain", mask=False)
    assert "+15551234567" in plain


def test_an_in_process_server_leaves_the_hosts_sinks_alone(tmp_path):
    from voicelab.config import Settings
    from voicelab.server.runner import CallServer

    seen: list[str] = []
    user_sink = logger.add(seen.append, level="INFO", format="{message}")
    try:
        settings = Settings(providers="instant", recordings_dir=tmp_path, log_dir=tmp_path / "logs")
        with CallServer(settings, port=0):
            logger.info("during the server")
        logger.info("after the server")
        logger.complete()
        # configure_logging's logger.remove() would have taken the user's sink with it.
        mine = [line.strip() for line in seen if line.strip().endswith("the server")]
        assert mine == ["during the server", "after the server"]
        logged = "".join(path.read_text() for path in (tmp_path / "logs").glob("*.log"))
        assert "during the server" in logged and "after the server" not in logged
    finally:
        logger.remove(user_sink)


def test_masking_is_only_voicelabs_sinks_business(tmp_path):
    seen: list[str] = []
    user_sink = logger.add(seen.append, level="INFO", format="{message}")
    sinks = LogSinks(tmp_path, console_level="ERROR", mask_numbers=True).add()
    try:
        logger.info("call to {}", "+15551234567")
        logger.complete()
    finally:
        sinks.remove()
        logger.remove(user_sink)
    logged = "".join(path.read_text() for path in tmp_path.glob("*.log"))
    assert "+1555***4567" in logged and "+15551234567" not in logged
    assert seen[0].strip() == "call to +15551234567"  # the host's own sink: its own policy


# --- quiet by default (issue 16) -----------------------------------------------------------------


def _voicelab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICELAB_")}
    return subprocess.run(
        [sys.executable, "-m", "voicelab", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_prints_no_pipecat_banner_and_no_debug_lines(tmp_path):
    # `voicelab simulate nope.yaml` printed pipecat's import banner (INFO, through loguru's
    # default DEBUG handler) before its one-line error.
    result = _voicelab("simulate", "nope.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        next(line for line in result.stderr.splitlines() if line.startswith("voicelab:"))
    ], result.stderr
    assert "Pipecat" not in result.stderr and "DEBUG" not in result.stderr


def test_the_console_replaces_only_logurus_default_handler():
    # Fresh processes: loguru's default handler (id 0, DEBUG) is what printed pipecat's lines.
    code = (
        "from loguru import logger; "
        "from voicelab.server.logging import use_console; use_console('WARNING'); "
        "logger.debug('hidden-debug'); logger.warning('shown-warning')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "shown-warning" in result.stderr and "hidden-debug" not in result.stderr
    assert "\x1b[" not in result.stderr  # no colour codes where stderr is not a terminal
    host = (
        "import sys; from loguru import logger; logger.remove(); "
        "logger.add(sys.stderr, level='DEBUG', format='{message}'); "
        "from voicelab.server.logging import use_console; use_console('WARNING'); "
        "logger.debug('host-debug')"
    )
    result = subprocess.run([sys.executable, "-c", host], capture_output=True, text=True)
    assert "host-debug" in result.stderr  # a host that configured loguru keeps its sinks


def test_a_routine_pipecat_error_stays_off_the_console_but_a_real_one_shows():
    # pipecat logs an empty-message disconnect while closing a websocket the caller already
    # closed as ERROR on every such call; one with a reason is still an error worth seeing.
    code = (
        "from loguru import logger; "
        "from voicelab.server.logging import use_console; use_console('WARNING'); "
        "ws = logger.patch(lambda r: r.update(name='pipecat.transports.websocket.fastapi')); "
        "ws.error('<client> exception while closing the websocket: '); "
        "ws.error('<client> exception while closing the websocket: disk full'); "
        "logger.patch(lambda r: r.update(name='pipecat.other')).error("
        "'<x> exception while closing the websocket: ')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if "closing the websocket" in line]
    assert len(lines) == 2 and "disk full" in lines[0], result.stderr
