"""A small load test: simultaneous and back-to-back calls on the instant stack (real Silero VAD).

The full version is ``make soak`` (``bench/soak.py``: 64 at once, 500 in a row). Both use the
same harness: every caller says the same Piper line mixed with a pilot tone of its own, and
each server recording's caller channel must hold that tone and no other call's. Here the
bot greets in three words (``short_greeting_prompts``): the greeting is not under test.
"""

from __future__ import annotations

import asyncio

import pytest
import soak  # bench/soak.py: the load harness
from helpers import short_greeting_prompts

from voicelab.network import LocalNetwork

pytestmark = pytest.mark.slow

# Two batches of four after the simultaneous eight: the memory check compares the last
# batch with the first; every batch is a few seconds of CI's time budget.
SEQUENTIAL = 8


def test_simultaneous_and_sequential_calls_stay_apart_complete_and_flat(tmp_path):
    harness = soak.LoadHarness(tmp_path, prompts_dir=short_greeting_prompts(tmp_path / "prompts"))

    async def run() -> tuple[soak.Phase, soak.Phase]:
        async with LocalNetwork(harness.settings) as network:
            together = await harness.run_phase(network, "8 at once", 8, 8)
            in_a_row = await harness.run_phase(network, f"{SEQUENTIAL} in a row", SEQUENTIAL, 4)
        return together, in_a_row

    together, in_a_row = asyncio.run(run())
    for phase in (together, in_a_row):
        assert phase.failures() == [], phase.name
        assert len(phase.checks) == phase.completed
        # Every call was answered: the caller heard the bot reply to its line.
        assert len(phase.latencies) == len(phase.checks)
    # Eight different tones were on the line at once, each recording holds only its own.
    assert len({soak.pilot_hz(c.index) for c in together.checks}) == 8
    # Loose in CI (few calls, other jobs on the box): no runaway growth after the first batch.
    assert in_a_row.rss_mb[-1] <= in_a_row.rss_mb[0] * 1.25, in_a_row.rss_mb
