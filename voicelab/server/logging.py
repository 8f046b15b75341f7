"""Loguru logging as the guide sets it up: stderr plus daily-rotated files kept 30 days."""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

__all__ = ["configure_logging"]


def configure_logging(log_dir: Path, *, debug: bool = False) -> None:
    """Send logs to stderr and ``<log_dir>/app_{time}.log``.

    Args:
        log_dir: Where log files go (created if missing).
        debug: Log the pipeline at DEBUG level (``voicelab serve --test``).
    """
    level = "DEBUG" if debug else "INFO"
    logger.remove()
    logger.add(sys.stderr, level=level)
    log_dir.mkdir(parents=True, exist_ok=True)
    logger.add(
        str(log_dir / "app_{time}.log"),
        level=level,
        rotation="1 day",
        retention="30 days",
        enqueue=True,
    )
