"""Names of the hand-written call records in tests/fixtures/calls (see its README)."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "calls"
INBOUND = "CAa1b2c3d4e5f60718293a4b5c6d7e8f90"  # simulated, good replies, with WAVs
OUTBOUND = "CAb2c3d4e5f60718293a4b5c6d7e8f90a1"  # real, bad replies, barge-in
MALFORMED = "CAc3d4e5f60718293a4b5c6d7e8f90a1b2"  # events.jsonl broken on line 3
INBOUND_DIR = f"20250301-101500_{INBOUND}"
OUTBOUND_DIR = f"20250301-110000_{OUTBOUND}"
MALFORMED_DIR = f"20250301-120000_{MALFORMED}"
