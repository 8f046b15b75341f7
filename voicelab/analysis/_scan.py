"""Finding the call directories under a recordings root, and seeing cheaply that none changed.

A full scan lists every directory of the tree (one ``scandir`` each, 22,000 of them for a
million events) and stats the files the loaders read. Each loader scans on every call, so
a notebook loading ``events_df``, ``turns_df`` and ``calls_df`` listed the tree three times.
The last scan of a root is kept with the identity of every directory it listed (inode,
mtime, ctime: creating, removing or renaming an entry changes them) and the stats of every
file it found; the next scan of that root re-stats those instead of listing again (about a
third of the cost) and reuses the result when nothing differs, else scans in full.

A directory modified in the same clock tick as the scan could change again without its
mtime moving (git's "racily clean" entries): a scan that saw anything modified in the last
:data:`RACY_S` seconds is not kept, so a tree being written is always scanned in full.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from voicelab.analysis._files import CALL_FILES, EVENTS, MANIFEST, CallDir, Stat
from voicelab.errors import CallRecordError

__all__ = ["RACY_S", "scan"]

# Files or directories modified this recently are not trusted to show their next change
# in their mtime (timestamp granularity: a clock tick, 2 s on FAT).
RACY_S = 3.0
_KEPT_ROOTS = 8  # scans kept, most recent first out (one notebook rarely loads more trees)

Identity = tuple[int, int, int]  # (st_ino, st_mtime_ns, st_ctime_ns) of a directory


@dataclass(slots=True)
class _Scan:
    """A full scan's result and what to re-stat to know it still holds."""

    calls: list[CallDir]
    dirs: list[tuple[str, Identity]]
    files: list[tuple[str, Stat]]


_SCANS: dict[str, _Scan] = {}


def _identity(st: os.stat_result) -> Identity:
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


class _Walker:
    """One full scan: the calls found, and the directories and files seen on the way."""

    def __init__(self) -> None:
        self.found: list[CallDir] = []
        self.dirs: list[tuple[str, Identity]] = []
        self.newest = 0  # the latest mtime seen (ns)
        self.complete = True  # every directory could be read: the result may be kept
        self.seen: set[tuple[int, int]] = set()

    def read_dir(self, location: str) -> tuple[dict[str, Stat], list[os.DirEntry[str]]]:
        """One ``scandir`` of ``location``: the stats of the call files, and the subdirectories.

        The directory is stat'ed before it is listed, so a change while it is listed shows
        in the next check. Only the call files are stat'ed; telling a subdirectory from a
        file uses the entry's type from the listing, which costs no system call.
        """
        st = os.stat(location)
        self.dirs.append((location, _identity(st)))
        self.newest = max(self.newest, st.st_mtime_ns)
        stats: dict[str, Stat] = {}
        subdirs: list[os.DirEntry[str]] = []
        with os.scandir(location) as entries:
            for entry in entries:
                name = entry.name
                if name in CALL_FILES or name.endswith(".wav"):
                    try:
                        st = entry.stat()
                        stats[name] = (st.st_size, st.st_mtime_ns)
                        self.newest = max(self.newest, st.st_mtime_ns)
                    except OSError:  # a dangling link: kept, so the loaders name it
                        stats[name] = (-1, -1)
                        self.complete = False
                elif name[0] != "." and entry.is_dir():
                    subdirs.append(entry)
        return stats, subdirs

    def walk(self, location: str, subdirs: list[os.DirEntry[str]], prefix: str) -> None:
        """Add the calls among ``subdirs`` of ``location`` (not itself a call)."""
        # Only a symlink can lead back to a directory already walked; the directories walked
        # are the few that group calls (a call directory is never descended into), so one
        # stat each keeps a link loop from walking forever.
        st = os.stat(location)
        if (st.st_dev, st.st_ino) in self.seen:
            return
        self.seen.add((st.st_dev, st.st_ino))
        for entry in subdirs:
            name = prefix + entry.name
            try:
                stats, below = self.read_dir(entry.path)
            except OSError:  # unreadable, or gone since it was listed: not a call we can read
                self.complete = False
                continue
            if _is_call(stats):
                self.found.append(CallDir(entry.path, name, stats))
            elif below:
                self.walk(entry.path, below, name + "/")


def _is_call(stats: dict[str, Stat]) -> bool:
    return MANIFEST in stats or EVENTS in stats


def _unchanged(memo: _Scan) -> bool:
    """Do the directories and files of ``memo`` still stat the same?"""
    stat = os.stat
    try:
        for location, identity in memo.dirs:
            st = stat(location)
            if (st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != identity:
                return False
        for path, (size, mtime) in memo.files:
            st = stat(path)
            if st.st_mtime_ns != mtime or st.st_size != size:
                return False
    except OSError:
        return False
    return True


def scan(root: Path) -> list[CallDir]:
    """The call directories under ``root``, at any depth, sorted by name.

    ``root`` may be one call directory, a directory of them, or a tree grouping them
    (``recordings/01_quickstart/<call dirs>``). A directory with a manifest or an events
    file is a call (never searched further); hidden directories (``.failed/``, the index
    ``.by-sid/``, the loaders' ``.voicelab_cache/``) are skipped. A call's ``name`` is its
    path relative to ``root`` with ``/`` separators: the key of the cache, unique in the
    tree. Calls are ordered by their directory's own name (it starts with a timestamp),
    so a tree of groups still loads in time order.

    The list is shared with the scan's memo (and compared by identity): read it, never
    change it.

    Raises:
        CallRecordError: ``root`` is not a directory.
    """
    if not root.is_dir():
        raise CallRecordError(f"not a directory of call records: {root}")
    key = str(root)
    memo = _SCANS.get(key)
    if memo is not None and _unchanged(memo):
        return memo.calls  # the same list: the cache knows it has checked it already
    _SCANS.pop(key, None)
    started = time.time_ns()
    walker = _Walker()
    stats, subdirs = walker.read_dir(key)
    if _is_call(stats):
        walker.found.append(CallDir(key, root.name, stats))
    else:
        walker.walk(key, subdirs, "")
        walker.found.sort(key=lambda d: (d.name.rpartition("/")[2], d.name))
    if walker.complete and walker.newest < started - int(RACY_S * 1e9):
        join = os.path.join
        files = [(join(d.location, n), s) for d in walker.found for n, s in d.stats.items()]
        _SCANS[key] = _Scan(walker.found, walker.dirs, files)
        while len(_SCANS) > _KEPT_ROOTS:
            del _SCANS[next(iter(_SCANS))]
    return walker.found
