"""Writing a file whole, safely, in a directory voicelab does not own.

Call records come from CI artifacts and colleagues, so a directory voicelab writes into
(a report beside the recordings, a judge's verdict in a call directory) may hold planted
files. A fixed temporary name such as ``.report.html.tmp`` would be opened through a
symlink planted under that name, overwriting the file it points to. Here the temporary
file is created by :func:`tempfile.mkstemp` (``O_CREAT | O_EXCL``: a fresh name, never an
existing file or link) in the target's own directory, then renamed onto the target: a
rename replaces a symlink at the target itself, never the file it points to, and a reader
sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text"]


def atomic_write_text(path: Path, text: str, *, fsync: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a fresh temporary file and a rename.

    The file gets the mode a plain ``open(path, "w")`` would give (``0o666`` less the
    umask), not mkstemp's ``0o600``: a report is for the colleagues who read the records.

    Args:
        path: The file to write; its directory must exist.
        text: The whole content.
        fsync: Flush to the disk before the rename, so a crash leaves the old file or the
            new one, not an empty one.

    Raises:
        OSError: The directory cannot be written (the temporary file is removed).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, 0o666 & ~_umask())
            handle.write(text)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def _umask() -> int:
    # Read once per process (a manifest is rewritten many times a call), and read, not
    # set: os.umask() can only be read by setting it, which races other threads creating
    # files. Linux reports it in /proc (since 4.7); else the usual default.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
