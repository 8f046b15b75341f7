"""Reading a call directory's manifest and events, tolerantly (finding them: ``_scan``).

Plain Python over the files the recorder writes (DESIGN.md section 3). A directory
that cannot be read is described by :class:`MalformedCall`; the loaders turn that
into a :class:`CallRecordWarning` naming the path and skip the call, so one broken
directory never stops an analysis of thousands.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicelab.errors import MalformedCall

__all__ = [
    "CALLER_WAV",
    "CALL_FILES",
    "EVENTS",
    "MANIFEST",
    "CallDir",
    "CallRecordWarning",
    "MalformedCall",
    "ParsedCall",
    "Stat",
    "parse_call",
    "read_events_bytes",
    "read_manifest",
    "valid_event",
]

# The file names voicelab.recording.store writes. Spelled out rather than imported: the
# analysis side depends only on recording.events, recording.contract and errors (DESIGN.md
# section 2).
MANIFEST = "call.json"
EVENTS = "events.jsonl"
CALLER_WAV = "caller.wav"
# The server's recording, named by voicelab.bot.pipeline.recording_filename.
SERVER_WAV_RE = re.compile(r"^server_\d+_(?:inbound|outbound)_recording_.+\.wav$")

_NUMBER = (int, float)
CALL_FILES = frozenset((MANIFEST, EVENTS))
Stat = tuple[int, int]  # (size, mtime_ns): what cache invalidation compares


class CallRecordWarning(UserWarning):
    """A call directory was skipped, or part of it dropped, while loading."""


@dataclass(frozen=True, slots=True)
class CallDir:
    """A call directory and the stat of the files the loaders read.

    Attributes:
        location: The directory (a string: 10,000 ``Path`` objects cost a scan 10 %).
        name: Its name.
        stats: ``(size, mtime_ns)`` of the manifest, the events and every WAV, by file name.
    """

    location: str
    name: str
    stats: dict[str, Stat] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def server_wavs(self) -> list[str]:
        """File names of the server recordings, oldest first (names end in a timestamp)."""
        return sorted(name for name in self.stats if SERVER_WAV_RE.match(name))

    def signature(self, *names: str) -> list[Any]:
        """The stats of ``names`` (``None`` when absent): equal signatures, same content."""
        return [list(self.stats[n]) if n in self.stats else None for n in names]


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as file:  # no Path objects: this runs twice per call of a load
        return file.read()


def read_manifest(directory: Path | str) -> dict[str, Any]:
    """The parsed ``call.json`` of ``directory``.

    Raises:
        MalformedCall: Missing, not JSON, not an object, or without a string ``call_sid``.
    """
    path = os.path.join(directory, MANIFEST)
    try:
        manifest = json.loads(_read_bytes(path))
    except FileNotFoundError:
        raise MalformedCall(f"{path}: missing manifest; call skipped") from None
    except (OSError, ValueError) as exc:
        raise MalformedCall(f"{path}: unreadable manifest ({exc}); call skipped") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("call_sid"), str):
        raise MalformedCall(f"{path}: manifest has no call_sid; call skipped")
    return manifest


@dataclass(slots=True)
class ParsedCall:
    """One call directory, read.

    Attributes:
        dir: Where it was read from.
        manifest: ``call.json``.
        events: The JSON objects of ``events.jsonl`` in file order, each checked to have a
            numeric ``t`` and string ``wall``, ``source`` and ``type``; ``data`` is a dict.
        warnings: Problems that did not stop the call from loading (a dropped last line).
    """

    dir: CallDir
    manifest: dict[str, Any]
    events: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    @property
    def call_sid(self) -> str:
        return str(self.manifest["call_sid"])


def valid_event(event: Any) -> bool:
    """Is ``event`` a call event (:func:`_all_valid` of one)?"""
    return _all_valid([event])


def _all_valid(events: list[Any]) -> bool:
    """Do all ``events`` have the CallEvent fields, typed? (Fills a missing ``data``.)

    One loop with exact type checks: this runs on every line of every call, so it avoids
    a function call per event.
    """
    try:
        for event in events:
            if (
                type(event["t"]) not in _NUMBER
                or type(event["wall"]) is not str
                or type(event["source"]) is not str
                or type(event["type"]) is not str
            ):
                return False
            data = event.get("data")
            if type(data) is not dict:
                if data is not None:
                    return False
                event["data"] = {}
    except (KeyError, TypeError):  # not a dict, or a field missing
        return False
    return True


def read_events_bytes(path: str) -> bytes:
    """The bytes of an ``events.jsonl`` (none when it is missing: a call with no events yet).

    Raises:
        MalformedCall: It cannot be read.
    """
    try:
        return _read_bytes(path)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise MalformedCall(f"{path}: unreadable events ({exc}); call skipped") from None


def _read_events(path: str, warnings: list[str]) -> list[dict[str, Any]]:
    raw = read_events_bytes(path)
    try:
        # One parse for the whole file is several times faster than one per line; the
        # lines joined by commas in one replace (a blank line makes ",,", which fails and
        # goes the careful way). Per-line parsing below only runs to find the culprit.
        events = json.loads(b"[" + raw.rstrip(b"\n").replace(b"\n", b",") + b"]")
        if isinstance(events, list) and _all_valid(events):
            return events
    except ValueError:
        pass
    lines = [line for line in raw.split(b"\n") if line.strip()]
    events = []
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if valid_event(event):
            events.append(event)
        elif number == len(lines):
            # The writer appends one whole line per write, so only the line being written
            # when a process died can be cut short: drop it and keep the call.
            warnings.append(f"{path}: dropped a truncated last line ({number})")
        else:
            raise MalformedCall(f"{path}: line {number} is not a call event; call skipped")
    return events


def parse_call(directory: CallDir) -> ParsedCall:
    """Read the manifest and events of ``directory``.

    Raises:
        MalformedCall: The manifest is missing or invalid, or a line other than the last
            one of ``events.jsonl`` is not a call event.
    """
    manifest = read_manifest(directory.location)
    warnings: list[str] = []
    events = _read_events(os.path.join(directory.location, EVENTS), warnings)
    return ParsedCall(directory, manifest, events, warnings)
