"""A recordings tree shaped like a team's, for the report tests (test scaffolding).

Built from the hand-written fixtures (tests/fixtures/calls):

    <root>/20250301-110000_<OUTBOUND>/          a real call (no scenario)
    <root>/01_quickstart/20250301-101500_<INBOUND>/  the good simulated call, one level down
    <root>/01_quickstart/20250301-103000_<FAILING>/  a copy whose turn-2 reply has no apology
                                                 (fails its scenario's regex) and carries
                                                 markup: records are untrusted
    <root>/02_latency/20250301-104500_<CORRUPT>/ a call.json that is not JSON
    <root>/.failed/...                           a failed attempt: never loaded
"""

from __future__ import annotations

import shutil
from pathlib import Path

from analysis_fixtures import FIXTURES, INBOUND, INBOUND_DIR, OUTBOUND_DIR

__all__ = ["CORRUPT_MANIFEST", "FAILING", "HOSTILE", "write_report_tree"]

FAILING = "CAf00dbad0000000000000000000000001"
HOSTILE = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
CORRUPT_MANIFEST = "02_latency/20250301-104500_CAc0rrupt000000000000000000000001/call.json"


def write_report_tree(root: Path) -> Path:
    """Write the tree above under ``root`` (created) and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FIXTURES / OUTBOUND_DIR, root / OUTBOUND_DIR)
    group = root / "01_quickstart"
    shutil.copytree(FIXTURES / INBOUND_DIR, group / INBOUND_DIR)
    failing = group / f"20250301-103000_{FAILING}"
    shutil.copytree(FIXTURES / INBOUND_DIR, failing)
    for name in ("call.json", "events.jsonl"):
        path = failing / name
        text = path.read_text(encoding="utf-8").replace(INBOUND, FAILING)
        text = text.replace("2025-03-01T10:15:", "2025-03-01T10:30:")
        text = text.replace("I'm so sorry the soup was cold.", f"Noted. {HOSTILE}")
        path.write_text(text, encoding="utf-8")
    corrupt = root / CORRUPT_MANIFEST
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"call_sid": "CAc0rrupt', encoding="utf-8")
    shutil.copytree(FIXTURES / INBOUND_DIR, root / ".failed" / INBOUND_DIR)
    return root
