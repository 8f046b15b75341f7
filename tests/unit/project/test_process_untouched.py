"""Importing voicelab changes nothing about the process; loaders set what they need."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from voicelab._process import quiet_onnxruntime
from voicelab.bot.models import ModelPool

_IMPORT_EVERYTHING = """
import os, sys
import voicelab, voicelab.cli, voicelab.lab, voicelab.bot.models, voicelab.bot.pipeline
import voicelab.simulator.voices, voicelab.simulator.ears, voicelab.server.runner
print(os.environ.get("ORT_DISABLE_TELEMETRY"))
"""


def test_importing_voicelab_leaves_the_environment_alone() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "None"


def test_quiet_onnxruntime_sets_the_switch_but_keeps_a_users_choice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)
    quiet_onnxruntime()
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    quiet_onnxruntime()
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "0"


def test_the_model_pool_sets_it_before_a_loader_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)
    seen = ModelPool()._timed("probe", lambda: os.environ.get("ORT_DISABLE_TELEMETRY"))
    assert seen == "1"
