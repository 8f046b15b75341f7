"""Loguru logging: quiet on the console, everything in a daily file kept 30 days.

pipecat logs every frame decision at DEBUG through loguru, whose default handler prints
DEBUG to stderr (with colour codes, even in Jupyter): a demo's summary drowned in ~100
lines. So voicelab keeps one console sink per process (:func:`use_console`): it replaces
loguru's default handler, when that is still installed, by one at WARNING (INFO for
voicelab's own lines under ``voicelab serve``); a host that configured loguru itself is
left alone. ``--verbose`` (``VOICELAB_LOG_LEVEL=DEBUG``) shows everything; the file in
``VOICELAB_LOG_DIR`` (``voicelab_<date>.log``, one per day for every process) has it all.

:class:`LogSinks` add the file sink, removed again on stop: an in-process server
(:class:`~voicelab.server.runner.CallServer`, so ``Lab``) leaves the host's sinks alone.
``voicelab serve`` owns its process: :func:`configure_logging` replaces every sink.

With ``VOICELAB_MASK_PHONE_NUMBERS`` every phone number in a message voicelab's sinks
write is masked (``+15551234567`` -> ``+1555***4567``) by their format, so stderr and
the files get the same text and no other sink is changed.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from voicelab.telephony.ids import E164_NUMBER

if TYPE_CHECKING:
    from loguru import Record

__all__ = [
    "LogSinks",
    "configure_logging",
    "mask_phone_number",
    "mask_phone_numbers",
    "use_console",
]

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


def _format(mask_numbers: bool) -> Callable[[Record], str]:
    return _masked_format if mask_numbers else _plain_format


def _in_jupyter() -> bool:
    return "ipykernel" in sys.modules


_console: dict[str, int] = {}  # voicelab's one console sink of the process: {"id": ...}


def use_console(
    level: str = "WARNING", *, own_lines: str | None = None, mask_numbers: bool = False
) -> None:
    """Give the process voicelab's console sink (stderr) at ``level``.

    Replaces loguru's default handler (DEBUG) if it is still installed, or voicelab's own
    console from before; a host application that configured loguru (removed the default
    handler) keeps its sinks, untouched.

    Args:
        level: The lowest level shown (``WARNING``: warnings and errors, pipecat's included).
        own_lines: A lower level for voicelab's own lines (``INFO`` under ``voicelab serve``:
            a line per call), or ``None`` for ``level``.
        mask_numbers: Mask phone numbers (``VOICELAB_MASK_PHONE_NUMBERS``).
    """
    if "id" in _console:
        with contextlib.suppress(ValueError):
            logger.remove(_console.pop("id"))
    else:
        try:
            logger.remove(0)  # loguru's default handler: id 0, added at its import
        except ValueError:
            return  # the host configured loguru: its sinks decide
    _console["id"] = _add_console(level, own_lines, mask_numbers)


# pipecat lines at ERROR that report nothing wrong: kept in the log file, off the console.
_ROUTINE_ERRORS = (
    # The caller hung up first: closing its websocket raises a disconnect with no message,
    # which pipecat 1.14 logs as an error on every such call (seen under `voicelab simulate`).
    (
        "pipecat.transports.websocket.fastapi",
        re.compile(r"exception while closing the websocket: $"),
    ),
)


def _routine(record: Record) -> bool:
    name, message = record["name"] or "", record["message"]
    return any(name == module and rule.search(message) for module, rule in _ROUTINE_ERRORS)


def _add_console(level: str, own_lines: str | None, mask_numbers: bool) -> int:
    floor = logger.level(level).no
    own = logger.level(own_lines).no if own_lines else floor

    def shown(record: Record) -> bool:
        mine = (record["name"] or "").startswith("voicelab")
        return record["level"].no >= (own if mine else floor) and not _routine(record)

    return logger.add(
        sys.stderr,
        level=min(floor, own),
        filter=shown,
        format=_format(mask_numbers),
        # Colour codes only on a terminal: Jupyter shows them raw.
        colorize=sys.stderr.isatty() and not _in_jupyter(),
    )


class LogSinks:
    """voicelab's log file, and the console (:func:`use_console`); :meth:`remove` takes
    away only the file.

    Args:
        log_dir: Where log files go (created when the sinks are added).
        level: The file's level.
        console_level: The console's level (an in-process server in a notebook keeps it
            to warnings; the file still has everything); ``None``: leave the console be.
        mask_numbers: Mask phone numbers in every message (``VOICELAB_MASK_PHONE_NUMBERS``).
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        level: str = "INFO",
        console_level: str | None = "WARNING",
        mask_numbers: bool = False,
    ) -> None:
        self.log_dir = log_dir
        self.level = level
        self.console_level = console_level
        self.mask_numbers = mask_numbers
        self._ids: list[int] = []

    def add(self) -> LogSinks:
        """Add the file sink (once; adding again is a no-op) and the console."""
        if self._ids:
            return self
        if self.console_level is not None:
            use_console(self.console_level, mask_numbers=self.mask_numbers)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._ids.append(
            logger.add(
                # One file a day that every process appends to (the date is the file's).
                str(self.log_dir / "voicelab_{time:YYYY-MM-DD}.log"),
                level=self.level,
                format=_format(self.mask_numbers),
                rotation="00:00",
                retention="30 days",
                enqueue=True,
                colorize=False,
            )
        )
        return self

    def remove(self) -> None:
        """Remove the file sink this object added (idempotent); others stay."""
        while self._ids:
            # Code that owns the process's logging (`voicelab serve`'s configure_logging, or
            # the host) may already have removed every sink, ours included: nothing to undo.
            with contextlib.suppress(ValueError):
                logger.remove(self._ids.pop())


def configure_logging(
    log_dir: Path, *, verbose: bool = False, mask_numbers: bool = False
) -> LogSinks:
    """Make voicelab's sinks the process's only ones (``voicelab serve`` owns its process).

    The console shows voicelab's own lines from INFO (a line per call) and everyone
    else's warnings; ``verbose`` shows everything, and puts DEBUG in the file too.

    Args:
        log_dir: Where log files go (created if missing).
        verbose: DEBUG everywhere (``voicelab serve --verbose``).
        mask_numbers: Mask phone numbers in every message (``VOICELAB_MASK_PHONE_NUMBERS``).
    """
    logger.remove()
    _console["id"] = _add_console(
        "DEBUG" if verbose else "WARNING", None if verbose else "INFO", mask_numbers
    )
    sinks = LogSinks(
        log_dir,
        level="DEBUG" if verbose else "INFO",
        console_level=None,
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
