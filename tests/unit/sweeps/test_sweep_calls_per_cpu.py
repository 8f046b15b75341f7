"""A Ray sweep worker's default calls at once follow its variant's provider bundle."""

from __future__ import annotations

import pytest

from voicelab._bundles import BUNDLES
from voicelab.bot.providers import calls_per_cpu
from voicelab.sweeps._ray import worker_calls


def test_every_bundle_has_its_calls_per_cpu_and_the_offline_stack_the_fewest():
    per_cpu = {name: calls_per_cpu(name) for name in BUNDLES}
    # The offline stack (Whisper, SmolLM2, Hibari in-process) holds 2-3 calls on 2 cores.
    assert per_cpu["offline"] == 1
    assert per_cpu["offline"] < per_cpu["scripted"] < per_cpu["instant"] == per_cpu["cloud"]
    assert calls_per_cpu(None) == per_cpu["offline"]  # the settings' default without keys


@pytest.mark.parametrize(
    ("providers", "cpus", "calls"),
    [
        ("offline", 1.0, 1),
        ("offline", 0.5, 1),
        ("scripted", 1.0, 2),
        ("instant", 1.0, 4),
        ("instant", 0.5, 2),
        ("cloud", 0.25, 1),
    ],
)
def test_a_worker_plays_what_its_cpus_hold_of_its_providers(providers, cpus, calls):
    assert worker_calls(providers, cpus) == calls
