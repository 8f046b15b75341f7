"""Finding the call directories under a recordings root, and seeing cheaply that none changed.

A full scan lists every directory of the tree (one ``scandir`` each, 22,000 of them for a
million events) and stats the files the loaders read. Each loader scans on every call, so
a notebook loading ``events_df``, ``turns_df`` and ``calls_df`` listed the tree three times.
The last scan of a root is kept with the identity of every directory it listed (inode,
mtime, ctime: creating, removing or renaming an entry changes them) and what its listing
held, and the stats of every file it found; the next scan of that root re-stats those
instead of listing again (about a third of the cost). A directory that stats otherwise is
listed again: the same entries (the loaders' own ``.voicelab_cache`` was created in the
root, say) keep the result, anything else means a full scan.

A directory modified in the same clock tick as the scan could change again without its
mtime moving (git's "racily clean" entries): one modified in the last :data:`RACY_S`
seconds is listed again at every check until it is older. Files need no such care: their
size and mtime are what the parquet cache compares anyway.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicelab.analysis._files import CALL_FILES, EVENTS, MANIFEST, CallDir, Stat
from voicelab.errors import CallRecordError

__all__ = ["RACY_S", "scan"]

# Files or directories modified this recently are not trusted to show their next change
# in their mtime (timestamp granularity: a clock tick, 2 s on FAT).
RACY_S = 3.0
_KEPT_ROOTS = 8  # scans kept, most recent first out (one notebook rarely loads more trees)

Identity = tuple[int, int, int]  # (st_ino, st_mtime_ns, st_ctime_ns) of a directory
Listing = frozenset[str]  # a directory's call files and WAVs, and its subdirectories ("/name")


@dataclass(slots=True)
class _Scan:
    """A full scan's result and what to re-stat to know it still holds."""

    calls: list[CallDir]
    dirs: list[list[Any]]  # [location, Identity, or None to list it at every check, Listing]
    files: list[tuple[str, Stat]]


_SCANS: dict[str, _Scan] = {}


def _identity(st: os.stat_result, racy_before: int) -> Identity | None:
    """``st``'s identity, or ``None`` when modified too recently to be trusted to show a change."""
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns) if st.st_mtime_ns < racy_before else None


def _listed(entry: os.DirEntry[str]) -> str | None:
    """What a listing keeps of an entry: a call file or WAV by name, a subdirectory as
    ``/name`` (hidden ones are skipped; telling a directory uses the listing's entry type,
    which costs no system call), anything else nothing."""
    name = entry.name
    if name in CALL_FILES or name.endswith(".wav"):
        return name
    return "/" + name if name[0] != "." and entry.is_dir() else None


def _list(location: str) -> Listing:
    """The listing of ``location`` as :meth:`_Walker.read_dir` keeps it, no file stat'ed."""
    with os.scandir(location) as entries:
        return frozenset(key for entry in entries if (key := _listed(entry)) is not None)


class _Walker:
    """One full scan: the calls found, and the directories and files seen on the way."""

    def __init__(self, racy_before: int) -> None:
        self.found: list[CallDir] = []
        self.dirs: list[list[Any]] = []
        self.racy_before = racy_before
        self.complete = True  # every directory could be read: the result may be kept
        self.seen: set[tuple[int, int]] = set()

    def read_dir(self, location: str) -> tuple[dict[str, Stat], list[os.DirEntry[str]]]:
        """One ``scandir`` of ``location``: the stats of the call files, and the subdirectories.

        The directory is stat'ed before it is listed, so a change while it is listed shows
        in the next check. Only the call files are stat'ed.
        """
        st = os.stat(location)
        stats: dict[str, Stat] = {}
        subdirs: list[os.DirEntry[str]] = []
        listing: list[str] = []
        with os.scandir(location) as entries:
            for entry in entries:
                key = _listed(entry)
                if key is None:
                    continue
                listing.append(key)
                if key[0] == "/":
                    subdirs.append(entry)
                    continue
                try:
                    found = entry.stat()
                    stats[key] = (found.st_size, found.st_mtime_ns)
                except OSError:  # a dangling link: kept, so the loaders name it
                    stats[key] = (-1, -1)
                    self.complete = False
        self.dirs.append([location, _identity(st, self.racy_before), frozenset(listing)])
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
    """Do the directories of ``memo`` still list and its files still stat the same?"""
    stat = os.stat
    racy_before = time.time_ns() - int(RACY_S * 1e9)
    try:
        for entry in memo.dirs:
            st = stat(entry[0])
            if (st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != entry[1]:
                if _list(entry[0]) != entry[2]:
                    return False
                entry[1] = _identity(st, racy_before)  # (stat'ed before it was listed)
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
    walker = _Walker(time.time_ns() - int(RACY_S * 1e9))
    stats, subdirs = walker.read_dir(key)
    if _is_call(stats):
        walker.found.append(CallDir(key, root.name, stats))
    else:
        walker.walk(key, subdirs, "")
        walker.found.sort(key=lambda d: (d.name.rpartition("/")[2], d.name))
    if walker.complete:
        join = os.path.join
        files = [(join(d.location, n), s) for d in walker.found for n, s in d.stats.items()]
        _SCANS[key] = _Scan(walker.found, walker.dirs, files)
        while len(_SCANS) > _KEPT_ROOTS:
            del _SCANS[next(iter(_SCANS))]
    return walker.found
