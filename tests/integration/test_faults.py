"""Provider faults through the whole phone network: the bot apologises, then goes on or hangs up.

Each test places a real call through the carrier (``LocalNetwork``) with faults injected by
settings (``VOICELAB_FAULTS``), as a drill would. The faults act on the pipeline's frames, not on
what a model hears or says, so the providers are ``instant`` (a fixed transcript per speech
segment, the scripted LLM, a synthetic tone as speech; Silero VAD, turn-taking, transport and
recorder are real), and the bot's greeting is three words. Faults are server settings, so
each test starts its own network; the callers say one line unless a test needs a turn after
the faulty one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from helpers import assert_record_complete, read_events, short_greeting_prompts, wait_for_record

from voicelab.bot.faults import FALLBACK_LINE
from voicelab.bot.services.instant_stt import INSTANT_TRANSCRIPT
from voicelab.bot.services.scripted_llm import scripted_reply
from voicelab.config import Settings, load_settings
from voicelab.errors import ConfigError
from voicelab.network import LabModels, LocalNetwork
from voicelab.simulator.scenario import Scenario, load_scenario
from voicelab.simulator.simulator import CallResult

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
# Two short caller lines (the instant STT hears the same either way; the scenario's
# expectations are about Whisper and Hibari)...
_COLD_FOOD = load_scenario(SCENARIOS / "cold_food.yaml")
TWO_LINES = _COLD_FOOD.model_copy(
    update={
        "turns": [
            turn.model_copy(update={"say": say})
            for turn, say in zip(_COLD_FOOD.turns, ["My lunch was cold.", "Thanks."], strict=True)
        ],
        "expect": [],
    }
)
# ...and one, for faults whose effect shows on the first turn.
ONE_LINE = TWO_LINES.model_copy(update={"turns": TWO_LINES.turns[:1]})
# What the instant stack answers every caller line when nothing fails.
REAL_REPLY = scripted_reply(INSTANT_TRANSCRIPT)


def play(
    tmp_path: Path, models: LabModels, scenario: Scenario, **overrides: Any
) -> tuple[CallResult, Path]:
    """One call on a fresh local network; returns it once the server's record is finished."""
    overrides.setdefault("prompts_dir", short_greeting_prompts(tmp_path / "short_greeting"))
    settings = Settings(providers="instant", recordings_dir=tmp_path / "rec", **overrides)

    async def run() -> CallResult:
        async with LocalNetwork(settings, models=models) as network:
            return await network.simulate(scenario)

    call = asyncio.run(run())
    assert call.directory is not None, call.error
    wait_for_record(call.directory)
    return call, call.directory


def server_events(directory: Path, type: str) -> list[dict[str, Any]]:
    return [e for e in read_events(directory) if e["source"] == "server" and e["type"] == type]


def spoken(directory: Path) -> list[str]:
    """What the bot said, one entry per bot speech (the greeting first)."""
    return [e["data"]["text"] for e in server_events(directory, "bot.speech_stopped")]


def test_a_failed_llm_reply_gets_a_fallback_line_and_the_next_turn_works(tmp_path, lab_models):
    call, directory = play(tmp_path, lab_models, TWO_LINES, faults={"llm": "error"}, fault_times=1)
    errors = server_events(directory, "error")
    assert [e["data"]["fatal"] for e in errors] == [False], errors
    assert "llm fault" in errors[0]["data"]["message"]
    said = spoken(directory)
    # The greeting, the fallback instead of the failed answer to line 1, then the real
    # answer to line 2.
    assert len(said) >= 3, said
    assert FALLBACK_LINE in said[1], said
    assert any(REAL_REPLY in text for text in said[2:]), said
    assert call.status == "completed"
    assert_record_complete(directory)


def test_a_failed_transcription_gets_the_fallback_and_the_next_line_is_heard(tmp_path, lab_models):
    _, directory = play(tmp_path, lab_models, TWO_LINES, faults={"stt": "error"}, fault_times=1)
    errors = server_events(directory, "error")
    assert len(errors) == 1 and "stt fault" in errors[0]["data"]["message"], errors
    said = spoken(directory)
    fallback = next(i for i, text in enumerate(said) if FALLBACK_LINE in text)
    assert fallback >= 1, said  # after the greeting
    # The lost line never reached the LLM; the next one did, and was answered.
    assert len(server_events(directory, "llm.started")) == 1
    assert any(REAL_REPLY in text for text in said[fallback + 1 :]), said
    assert_record_complete(directory)


def test_a_hung_llm_is_cut_off_by_the_first_token_timeout(tmp_path, lab_models):
    _, directory = play(
        tmp_path, lab_models, ONE_LINE, faults={"llm": "timeout"}, fault_delay=60, llm_timeout=1.0
    )
    errors = server_events(directory, "error")
    assert errors and "no first token within 1 s" in errors[0]["data"]["message"], errors
    assert not errors[0]["data"]["fatal"]
    # The fallback was said, long before the hung provider's 60 s.
    said = spoken(directory)
    assert any(FALLBACK_LINE in text for text in said[1:]), said
    assert not any(REAL_REPLY in text for text in said), said
    asked = server_events(directory, "llm.started")[0]
    fallback = next(e for e in server_events(directory, "tts.started") if e["t"] > asked["t"])
    assert fallback["t"] - asked["t"] < 10
    assert_record_complete(directory)


def test_a_failing_tts_ends_the_call_politely_with_a_complete_record(tmp_path, lab_models):
    call, directory = play(tmp_path, lab_models, ONE_LINE, faults={"tts": "error"})
    errors = server_events(directory, "error")
    # The greeting failed, then the fallback line did too.
    assert len(errors) == 2 and all("tts fault" in e["data"]["message"] for e in errors), errors
    assert not any(e["data"]["fatal"] for e in errors)
    # Nothing could be said, so the bot hung up (over Twilio's REST API) instead of
    # leaving the caller in silence.
    assert spoken(directory) == []
    assert call.status == "completed"
    manifest = assert_record_complete(directory, "error", wav=False)
    # The instant TTS fails at once, so the call may end before the first caller audio is
    # recorded: its recording must still be there and open as stereo.
    assert sf.info(directory / manifest["recording"]).channels == 2


def test_a_tts_that_fails_once_says_the_fallback_and_the_call_goes_on(tmp_path, lab_models):
    call, directory = play(tmp_path, lab_models, ONE_LINE, faults={"tts": "error"}, fault_times=1)
    assert len(server_events(directory, "error")) == 1
    said = spoken(directory)
    # The greeting was lost; the fallback took its place and the caller was answered.
    assert FALLBACK_LINE in said[0] and any(REAL_REPLY in text for text in said[1:]), said
    assert call.status == "completed"
    assert_record_complete(directory, "stop")


def test_a_slow_first_byte_under_the_timeout_only_delays_the_reply(tmp_path, lab_models):
    _, directory = play(
        tmp_path,
        lab_models,
        ONE_LINE,
        faults={"llm": "slow_first_byte"},
        fault_delay=1.5,
        fault_times=1,
    )
    assert server_events(directory, "error") == []
    # The LLM's own first token is on time (the record keeps the service's timing); its
    # text reaches the TTS 1.5 s later.
    asked = server_events(directory, "llm.started")[0]
    voiced = next(e for e in server_events(directory, "tts.started") if e["t"] > asked["t"])
    assert voiced["t"] - asked["t"] >= 1.5
    said = spoken(directory)
    assert any(REAL_REPLY in text for text in said[1:]), said  # a real reply
    assert not any(FALLBACK_LINE in text for text in said), said
    assert_record_complete(directory)


def test_a_broken_persona_file_ends_the_call_cleanly(tmp_path, lab_models, caplog):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "inbound.md").write_text("no front matter here\n")
    with caplog.at_level(logging.ERROR):
        call, directory = play(tmp_path, lab_models, ONE_LINE, prompts_dir=prompts)
    manifest = assert_record_complete(directory, "error", wav=False)
    assert manifest["call_sid"] == call.call_sid
    errors = server_events(directory, "error")
    assert errors and "front matter" in errors[0]["data"]["message"]
    assert server_events(directory, "call.started")
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]


def test_fault_settings_are_validated():
    assert load_settings(faults={"llm": "timeout", "tts": "slow_first_byte"}).faults == {
        "llm": "timeout",
        "tts": "slow_first_byte",
    }
    with pytest.raises(ConfigError, match="VOICELAB_FAULTS"):
        load_settings(faults={"llm": "explode"})
    with pytest.raises(ConfigError, match="VOICELAB_FAULTS"):
        load_settings(faults={"database": "error"})


def test_the_fallback_line_is_short_and_speakable():
    assert len(FALLBACK_LINE.split()) < 20 and FALLBACK_LINE.isascii()
