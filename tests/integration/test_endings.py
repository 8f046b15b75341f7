"""How calls end, each through the carrier, each leaving a complete record.

(A websocket that dies without a close is in ``test_call_e2e.py``, SIGTERM in
``test_shutdown.py``, provider failures in ``test_faults.py``.) How a call ends does not
depend on what the models hear or say: the providers are ``instant`` (a fixed transcript, the
scripted LLM, a synthetic tone of 0.02 s per character as speech; real Silero VAD).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from _doubles import not_found_twilio
from helpers import (
    assert_record_complete,
    read_events,
    serve_app,
    short_greeting_prompts,
    wait_for_record,
)

from voicelab.config import Settings
from voicelab.network import LocalNetwork
from voicelab.server.runner import CallServer
from voicelab.simulator.scenario import load_scenario

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
ACCOUNT = "AC" + "4" * 32
TOKEN = "endings-test-token"
HANG_UP_S = 1.2


def test_a_caller_hanging_up_mid_reply_leaves_a_complete_record(tmp_path, lab_models):
    prompts = short_greeting_prompts(tmp_path / "prompts")
    settings = Settings(providers="instant", recordings_dir=tmp_path, prompts_dir=prompts)
    scenario = load_scenario(SCENARIOS / "hang_up_mid_reply.yaml")
    # The instant reply starts about 0.6 s after the caller's line and lasts about 1.5 s.
    hang_up = scenario.turns[-1].model_copy(update={"hang_up": HANG_UP_S})
    mid_reply = scenario.model_copy(update={"turns": [*scenario.turns[:-1], hang_up], "expect": []})

    async def run() -> Any:
        async with LocalNetwork(settings, models=lab_models) as network:
            return await network.simulate(mid_reply)

    call = asyncio.run(run())
    assert call.status == "completed" and call.directory is not None
    wait_for_record(call.directory)
    assert_record_complete(call.directory)
    server = [e for e in read_events(call.directory) if e["source"] == "server"]
    kinds = [e["type"] for e in server]
    # Every bot speech that started was closed in the record, the cut-off one included.
    assert kinds.count("bot.speech_started") == kinds.count("bot.speech_stopped") >= 2
    stopped = [e for e in server if e["type"] == "bot.speech_stopped"]
    assert stopped[-1]["data"].get("cut_off") is True, stopped[-1]
    assert any(e["type"] == "user.speech_started" for e in server), "the caller spoke"


def test_twilio_answering_404_to_the_bots_hang_up_still_ends_the_call_cleanly(tmp_path, lab_models):
    app, updates = not_found_twilio()
    cold_food = load_scenario(SCENARIOS / "cold_food.yaml")
    one_line = cold_food.model_copy(update={"turns": cold_food.turns[:1], "expect": []})
    with serve_app(app) as twilio_url:
        # The TTS fails, so the bot hangs up over REST, and "Twilio" says 404.
        settings = Settings(
            providers="instant",
            recordings_dir=tmp_path,
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
            twilio_api_base=twilio_url,
            faults={"tts": "error"},
        )
        with CallServer(settings) as server:

            async def run() -> Any:
                async with LocalNetwork(
                    settings, server_url=server.url, models=lab_models
                ) as network:
                    return await network.simulate(one_line)

            call = asyncio.run(run())
            assert call.directory is not None
            wait_for_record(call.directory)
    assert updates and updates[0]["call_sid"] == call.call_sid
    assert updates[0]["Status"] == "completed"
    manifest = assert_record_complete(call.directory, "error", wav=False)
    # The instant TTS fails at once, so the call may end before the first caller audio is
    # recorded: its recording must still be there and open as stereo.
    assert sf.info(call.directory / manifest["recording"]).channels == 2
    assert call.status == "completed"  # the line closed when the bot's stream ended
