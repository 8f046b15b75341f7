"""Loguru logging as the guide sets it up: stderr plus daily-rotated files kept 30 days.

:class:`LogSinks` are voicelab's own sinks, added and removed as a pair: an in-process
server (:class:`~voicelab.server.runner.CallServer`, so ``Lab``) adds them on start and
removes only them on stop, leaving the host application's sinks and settings alone.
``voicelab serve`` owns its process: :func:`configure_logging` replaces every sink.

With ``VOICELAB_MASK_PHONE_NUMBERS`` every phone number in a message voicelab's sinks
write is masked (``+15551234567`` -> ``+1555***4567``) by their format, so stderr and
the files get the same text and no other sink is changed.
"""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from voicelab.telephony.ids import E164_NUMBER

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["LogSinks", "configure_logging", "mask_phone_number", "mask_phone_numbers"]

# An E.164 number standing on its own: not the tail of a longer run of digits or a word.
_PHONE_IN_TEXT = re.compile(rf"(?<![\w+]){E164_NUMBER}(?![0-9])")


# loguru's default format, with the message taken from where the sink's format put it.
_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan>:<cyan>{function}</cyan>:<cyan>{line}</cyan> - "
    "<level>{extra[voicelab_message]}</level>\n{exception}"
)


def _plain_format(record: Record) -> str:
    record["extra"]["voicelab_message"] = record["message"]
    return _FORMAT


def _masked_format(record: Record) -> str:
    record["extra"]["voicelab_message"] = mask_phone_numbers(record["message"])
    return _FORMAT


class LogSinks:
    """voicelab's stderr and file sinks; :meth:`remove` takes away only these.

    Args:
        log_dir: Where log files go (created when the sinks are added).
        level: The files' level (and stderr's, unless ``console_level`` is given).
        console_level: stderr's level if not the file's (an in-process server in a
            notebook keeps stderr to warnings; the file still has everything).
        mask_numbers: Mask phone numbers in every message (``VOICELAB_MASK_PHONE_NUMBERS``).
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        level: str = "INFO",
        console_level: str | None = None,
        mask_numbers: bool = False,
    ) -> None:
        self.log_dir = log_dir
        self.level = level
        self.console_level = console_level or level
        self.mask_numbers = mask_numbers
        self._ids: list[int] = []

    def add(self) -> LogSinks:
        """Add the sinks (once; adding again is a no-op)."""
        if self._ids:
            return self
        fmt = _masked_format if self.mask_numbers else _plain_format
        self._ids.append(logger.add(sys.stderr, level=self.console_level, format=fmt))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._ids.append(
            logger.add(
                str(self.log_dir / "app_{time}.log"),
                level=self.level,
                format=fmt,
                rotation="1 day",
                retention="30 days",
                enqueue=True,
            )
        )
        return self

    def remove(self) -> None:
        """Remove the sinks this object added (idempotent); others stay."""
        while self._ids:
            # Code that owns the process's logging (`voicelab serve`'s configure_logging, or
            # the host) may already have removed every sink, ours included: nothing to undo.
            with contextlib.suppress(ValueError):
                logger.remove(self._ids.pop())


def configure_logging(
    log_dir: Path,
    *,
    debug: bool = False,
    console_level: str | None = None,
    mask_numbers: bool = False,
) -> LogSinks:
    """Make voicelab's sinks the process's only ones (``voicelab serve`` owns its process).

    Args:
        log_dir: Where log files go (created if missing).
        debug: Log the pipeline at DEBUG level (``voicelab serve --test``).
        console_level: stderr's level if not the file's.
        mask_numbers: Mask phone numbers in every message (``VOICELAB_MASK_PHONE_NUMBERS``).
    """
    logger.remove()
    sinks = LogSinks(
        log_dir,
        level="DEBUG" if debug else "INFO",
        console_level=console_level,
        mask_numbers=mask_numbers,
    )
    return sinks.add()


def mask_phone_number(number: str) -> str:
    """``+15551234567`` -> ``+1555***4567``: country and area code, last digits."""
    digits = number[1:]
    tail = 4 if len(digits) >= 10 else 2
    head = max(1, min(4, len(digits) - tail - 3))
    return f"+{digits[:head]}***{digits[-tail:]}"


def mask_phone_numbers(text: str) -> str:
    """``text`` with every E.164 number in it masked (see :func:`mask_phone_number`)."""
    return _PHONE_IN_TEXT.sub(lambda match: mask_phone_number(match.group()), text)
