from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

# `pytester`: the plugin's own pytest runs, in-process (a pytest process of their own costs
# seconds of interpreter and plugin imports each).
pytest_plugins = ["pytester"]

if TYPE_CHECKING:
    from voicelab.bot.models import ModelPool
    from voicelab.network import LabModels
    from voicelab.simulator.models import CallerModels

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# Keep the developer's own .env and environment out of the tests.
for name in [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_PHONE_NUMBER",
    "OPENAI_API_KEY",
    "DEEPGRAM_API_KEY",
    "CARTESIA_API_KEY",
    "CARTESIA_VOICE_ID",
    *[key for key in os.environ if key.startswith("VOICELAB_")],
]:
    os.environ.pop(name, None)


# One owner of every model for the whole suite: servers, labs, networks and callers that
# tests start are given these, so each model loads once per test process (nothing in
# voicelab caches a model on a class or a module). Imported in the fixtures: collecting a
# test that needs none loads no server.


@pytest.fixture(scope="session")
def lab_models() -> LabModels:
    """The suite's models: the bot's pool and the callers' (borrowing its Whisper)."""
    from voicelab.network import LabModels

    return LabModels()


@pytest.fixture(scope="session")
def model_pool(lab_models: LabModels) -> ModelPool:
    """The suite's bot-side pool, for ``CallServer(pool=...)``/``create_app(pool=...)``."""
    return lab_models.bot


@pytest.fixture(scope="session")
def caller_models(lab_models: LabModels) -> CallerModels:
    """The suite's caller-side models, for ``CallerVoice``/``CallerEars``/``actions``."""
    return lab_models.caller


@pytest.fixture(scope="session")
def voicelab_models(lab_models: LabModels) -> LabModels:
    """The plugin's session lab shares the suite's models."""
    return lab_models


@pytest.fixture(scope="module")
def twilio_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Twilio's Calls API faked at the HTTP layer (``_doubles.fake_twilio``), served for the
    module: its base URL, and every call creation it received."""
    from _doubles import fake_twilio
    from helpers import serve_app

    app, created = fake_twilio()
    with serve_app(app) as url:
        yield url, created
