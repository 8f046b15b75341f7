"""The whole chain over real sockets: SDK -> carrier -> signed webhooks -> media -> callbacks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from voicelab.config import Settings
from voicelab.network import LabModels, LocalNetwork
from voicelab.recording.store import find_call_dir
from voicelab.server.runner import CallServer
from voicelab.simulator.carrier import Carrier
from voicelab.simulator.scenario import load_scenario
from voicelab.simulator.simulator import CallResult, ScenarioAnswerer
from voicelab.testing import assert_expectations

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"


def simulate(tmp_path: Path, scenario: Any, models: LabModels) -> tuple[CallResult, dict[str, Any]]:
    """Play one scenario on a fresh local network; also returns the server's /call-status."""

    async def run() -> tuple[CallResult, dict[str, Any]]:
        settings = Settings(providers="scripted", recordings_dir=tmp_path)
        async with LocalNetwork(settings, models=models) as network:
            call = await network.simulate(scenario)
            assert call.call_sid, call.error
            async with httpx.AsyncClient() as client:
                status = await client.get(f"{network.server_url}/call-status/{call.call_sid}")
            return call, status.json()

    return asyncio.run(run())


def events(directory: Path | None) -> list[dict[str, Any]]:
    assert directory is not None
    return [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]


def test_outbound_call_goes_through_outbound_carrier_webhook_media_and_callbacks(
    tmp_path, lab_models
):
    call, status = simulate(
        tmp_path, load_scenario(SCENARIOS / "outbound_followup.yaml"), lab_models
    )
    assert call.error is None and call.status == "completed"
    assert status["status"] == "completed" and status["direction"] == "outbound-api"
    assert status["duration"] is not None and status["duration"] >= 1
    log = events(call.directory)
    # Status callbacks reached the server (signed) and were filed with the call.
    statuses = [e["data"]["status"] for e in log if e["type"] == "twilio.status"]
    assert statuses[0] == "initiated" and statuses[-1] == "completed"
    assert "in-progress" in statuses
    started = next(e for e in log if e["type"] == "call.started" and e["source"] == "server")
    assert started["data"]["direction"] == "outbound"
    manifest = json.loads((call.directory / "call.json").read_text())  # type: ignore[operator]
    assert manifest["persona"]["id"] == "guest-relations-outbound"
    assert manifest["scenario"]["id"] == "outbound_followup"
    assert call.caller is not None and 1 in call.caller.v2v()


def test_inbound_call_rings_the_webhook_and_the_bot_answers(tmp_path, lab_models):
    call, status = simulate(tmp_path, load_scenario(SCENARIOS / "cold_food.yaml"), lab_models)
    assert call.status == "completed" and status["direction"] == "inbound"
    log = events(call.directory)
    transcript = " ".join(e["data"]["text"].lower() for e in log if e["type"] == "stt.transcript")
    assert "curry" in transcript and "cold" in transcript
    replies = [e["data"]["text"].lower() for e in log if e["type"] == "llm.response"]
    assert any("sorry" in reply for reply in replies)
    caller_said = [e["data"]["text"] for e in log if e["type"] == "caller.utterance_ended"]
    assert caller_said[0].startswith("Hi, the chicken curry")
    assert call.caller is not None and set(call.caller.v2v()) == {1, 2}


def test_barge_in_makes_the_server_clear_and_the_buffered_greeting_is_dropped(tmp_path, lab_models):
    call, _ = simulate(tmp_path, load_scenario(SCENARIOS / "greeting_barge_in.yaml"), lab_models)
    assert call.status == "completed" and call.caller is not None
    assert call.caller.clears >= 1
    log = events(call.directory)
    assert any(e["type"] == "interruption" and e["data"]["turn"] == 1 for e in log)
    # The full greeting is ~8 s of audio; the caller heard it only until the clear.
    greeting = [(start, end) for turn, start, end in call.caller.heard if turn == 0]
    assert greeting and greeting[0][1] - greeting[0][0] < 5.0
    assert any(turn == 1 for turn, _, _ in call.caller.heard), "the bot answered after the clear"
    # The scenario's own expect: (the regression suite's check of it, played here once).
    assert_expectations(call, load_scenario(SCENARIOS / "greeting_barge_in.yaml"))


def test_dtmf_reaches_the_pipeline(tmp_path, lab_models):
    path = tmp_path / "dtmf.yaml"
    path.write_text(
        "description: keys\ndirection: inbound\nturns:\n"
        "  - dtmf: '42'\n  - say: The soup was cold.\n"
    )
    call, _ = simulate(tmp_path / "rec", load_scenario(path), lab_models)
    assert call.status == "completed"
    digits = [
        e["data"]["digit"]
        for e in events(call.directory)
        if e["type"] == "dtmf" and e["source"] == "server"
    ]
    assert digits == ["4", "2"]


@pytest.mark.parametrize(
    ("name", "expected"), [("outbound_busy", "busy"), ("outbound_no_answer", "no-answer")]
)
def test_busy_and_no_answer_outcomes_show_in_call_status(tmp_path, lab_models, name, expected):
    call, status = simulate(tmp_path, load_scenario(SCENARIOS / f"{name}.yaml"), lab_models)
    assert call.status == expected
    assert status["status"] == expected
    log = events(call.directory)
    assert [e["data"]["status"] for e in log if e["type"] == "twilio.status"][-1] == expected
    assert not any(e["type"] == "call.started" for e in log), "nobody answered"


API_KEY = "network-test-key-0123456789"


def test_a_carrier_with_the_wrong_auth_token_is_refused_and_the_call_fails_cleanly(
    tmp_path, lab_models
):
    account = "AC" + "f" * 32

    async def run() -> tuple[str, dict[str, Any]]:
        settings = Settings(
            providers="scripted",
            twilio_account_sid=account,
            twilio_auth_token="server-token",
            twilio_api_base=None,  # not the emulator: /health's details need the key
            api_key=API_KEY,
            recordings_dir=tmp_path,
        )
        async with Carrier(
            account,
            "other-token",
            answerer=ScenarioAnswerer(tmp_path, models=lab_models.caller),
            recordings_root=tmp_path,
        ) as carrier:
            server = await asyncio.to_thread(CallServer(settings, pool=lab_models.bot).start)
            try:
                sid = await carrier.ring(server.url + "/", to="+15550001000", from_="+15557770000")
                status = await carrier.wait_for_status(sid, {"completed", "failed"}, timeout=30)
                health = httpx.get(
                    server.url + "/health", headers={"Authorization": f"Bearer {API_KEY}"}
                ).json()
            finally:
                await asyncio.to_thread(server.stop)
            return status, {"health": health, "sid": sid, "errors": carrier.calls[sid].errors}

    status, info = asyncio.run(run())
    assert status == "failed"
    assert any("403" in str(error) for error in info["errors"])
    assert info["health"]["active_calls"] == 0
    directory = find_call_dir(tmp_path, info["sid"])
    if directory is not None:  # the carrier records its failure; the server recorded no call
        assert not any(
            e["source"] == "server" and e["type"] == "call.started" for e in events(directory)
        )


def test_a_goal_driven_caller_listens_and_improvises(tmp_path, lab_models):
    scenario = load_scenario(SCENARIOS / "goal_driven_feedback.yaml")
    call, _ = simulate(tmp_path, scenario, lab_models)
    assert call.status == "completed" and call.caller is not None
    said = [text for _, text, _, _ in call.caller.utterances]
    assert said[0] == scenario.turns[0].say
    assert 2 <= len(said) <= 3, said  # the scripted line, then one or two improvised ones
    assert all(line and line != said[0] for line in said[1:])
    log = events(call.directory)
    heard = " ".join(e["data"]["text"].lower() for e in log if e["type"] == "stt.transcript")
    assert said[1].split()[0].lower().strip(",.!?") in heard  # the server heard the improvised line
