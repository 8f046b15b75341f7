"""Loguru logging as the guide sets it up: stderr plus daily-rotated files kept 30 days."""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

__all__ = ["configure_logging"]


def configure_logging(
    log_dir: Path, *, debug: bool = False, console_level: str | None = None
) -> None:
    """Send logs to stderr and ``<log_dir>/app_{time}.log``.

    Args:
        log_dir: Where log files go (created if missing).
        debug: Log the pipeline at DEBUG level (``voicelab serve --test``).
        console_level: stderr's level if not the file's (an in-process server in a
            notebook keeps stderr to warnings; the file still has everything).
    """
    level = "DEBUG" if debug else "INFO"
    logger.remove()
    logger.add(sys.stderr, level=console_level or level)
    log_dir.mkdir(parents=True, exist_ok=True)
    logger.add(
        str(log_dir / "app_{time}.log"),
        level=level,
        rotation="1 day",
        retention="30 days",
        enqueue=True,
    )
