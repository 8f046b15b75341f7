"""Loguru logging as the guide sets it up: stderr plus daily-rotated files kept 30 days.

With ``VOICELAB_MASK_PHONE_NUMBERS`` every phone number in a log message is masked
(``+15551234567`` -> ``+1555***4567``) by a loguru patcher, which sees each message
once, formatted, before any sink does: stderr and the files get the same text.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from voicelab.telephony.ids import E164_NUMBER

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["configure_logging", "mask_phone_number", "mask_phone_numbers"]

# An E.164 number standing on its own: not the tail of a longer run of digits or a word.
_PHONE_IN_TEXT = re.compile(rf"(?<![\w+]){E164_NUMBER}(?!\d)")


def configure_logging(
    log_dir: Path,
    *,
    debug: bool = False,
    console_level: str | None = None,
    mask_numbers: bool = False,
) -> None:
    """Send logs to stderr and ``<log_dir>/app_{time}.log``.

    Args:
        log_dir: Where log files go (created if missing).
        debug: Log the pipeline at DEBUG level (``voicelab serve --test``).
        console_level: stderr's level if not the file's (an in-process server in a
            notebook keeps stderr to warnings; the file still has everything).
        mask_numbers: Mask phone numbers in every message (``VOICELAB_MASK_PHONE_NUMBERS``).
    """
    level = "DEBUG" if debug else "INFO"
    logger.remove()
    # configure(patcher=None) would keep a previous patcher: set one either way.
    logger.configure(patcher=_mask_record if mask_numbers else _keep_record)
    logger.add(sys.stderr, level=console_level or level)
    log_dir.mkdir(parents=True, exist_ok=True)
    logger.add(
        str(log_dir / "app_{time}.log"),
        level=level,
        rotation="1 day",
        retention="30 days",
        enqueue=True,
    )


def mask_phone_number(number: str) -> str:
    """``+15551234567`` -> ``+1555***4567``: country and area code, last digits."""
    digits = number[1:]
    tail = 4 if len(digits) >= 10 else 2
    head = max(1, min(4, len(digits) - tail - 3))
    return f"+{digits[:head]}***{digits[-tail:]}"


def mask_phone_numbers(text: str) -> str:
    """``text`` with every E.164 number in it masked (see :func:`mask_phone_number`)."""
    return _PHONE_IN_TEXT.sub(lambda match: mask_phone_number(match.group()), text)


def _mask_record(record: Record) -> None:
    record["message"] = mask_phone_numbers(record["message"])


def _keep_record(record: Record) -> None:
    pass
