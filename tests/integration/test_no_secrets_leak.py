"""A real call with every credential set leaves no credential behind; the live-call cap holds.

One outbound call through the whole local network (server, carrier, simulated callee)
with distinctive values for every secret, recordings and logs in ``tmp_path``. The
providers are ``instant`` (no model reads a credential either way; the callee says one
line, the bot greets in three words): what is checked is everything around them. While
the call is live, the server is at ``VOICELAB_MAX_CALLS=1``: a second inbound call gets
busy TwiML, ``POST /outbound`` answers 503 and the carrier (Twilio) never hears of it.
Afterwards every byte under the recordings and log directories is searched for each
secret.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import short_greeting_prompts
from loguru import logger
from twilio.request_validator import RequestValidator

from voicelab.config import Settings, secret_value
from voicelab.network import LocalNetwork
from voicelab.server.logging import mask_phone_number
from voicelab.simulator.scenario import load_scenario

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).resolve().parents[2] / "evals" / "scenarios" / "outbound_followup.yaml"
SECRETS = {
    "VOICELAB_API_KEY": "sekret-api-key-Zq81xv0Wd4",
    "OPENAI_API_KEY": "sk-sekret-openai-Hj2k99Qp",
    "DEEPGRAM_API_KEY": "sekret-deepgram-Lm3n77Rt",
    "CARTESIA_API_KEY": "sekret-cartesia-Vb5c11Xy",
}
OTHER_CALL = "CA" + "e" * 32


async def _probe_at_the_cap(network: LocalNetwork, token: str) -> dict[str, Any]:
    """While the one allowed call is live: ring again and dial again."""
    assert network.server_url is not None and network.carrier is not None
    url = network.server_url
    auth = {"Authorization": f"Bearer {SECRETS['VOICELAB_API_KEY']}"}
    async with httpx.AsyncClient(timeout=10) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = (await client.get(url + "/health", headers=auth)).json()
            if health["active_calls"] >= 1:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the call never went live")
        calls_before = len(network.carrier.calls)
        form = {"CallSid": OTHER_CALL, "From": "+15557770000", "To": "+15550001000"}
        webhooks = {}
        for path in ("/", "/outbound-twiml"):
            signature = RequestValidator(token).compute_signature(url + path, form)
            response = await client.post(
                url + path, data=form, headers={"X-Twilio-Signature": signature}
            )
            webhooks[path] = (response.status_code, response.text)
        outbound = await client.post(
            url + "/outbound", json={"to_number": "+15550004444"}, headers=auth
        )
        return {
            "webhooks": webhooks,
            "outbound": (outbound.status_code, outbound.json()),
            "new_carrier_calls": len(network.carrier.calls) - calls_before,
        }


@pytest.fixture(scope="module")
def run(tmp_path_factory, lab_models) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("secrets")
    settings = Settings(
        providers="instant",
        recordings_dir=root / "recordings",
        log_dir=root / "logs",
        api_key=SECRETS["VOICELAB_API_KEY"],
        openai_api_key=SECRETS["OPENAI_API_KEY"],
        deepgram_api_key=SECRETS["DEEPGRAM_API_KEY"],
        cartesia_api_key=SECRETS["CARTESIA_API_KEY"],
        cartesia_voice_id="voice-id-not-secret",
        max_calls=1,
        mask_phone_numbers=True,
        prompts_dir=short_greeting_prompts(tmp_path_factory.mktemp("prompts")),
    )

    scenario = load_scenario(SCENARIO)
    one_line = scenario.model_copy(update={"turns": scenario.turns[:1], "expect": []})

    async def play() -> dict[str, Any]:
        async with LocalNetwork(settings, models=lab_models) as network:
            assert network.server is not None
            token = secret_value(network.server.settings.twilio_auth_token)
            assert token
            call = asyncio.create_task(network.simulate(one_line))
            try:
                probe = await _probe_at_the_cap(network, token)
            finally:
                result = await call
            return {"call": result, "probe": probe, "token": token}

    outcome = asyncio.run(play())
    logger.complete()  # the log file sink is enqueued: let it drain
    return {**outcome, "root": root}


def test_the_call_itself_went_through_with_the_key(run):
    call = run["call"]
    assert call.error is None and call.status == "completed"
    assert (call.directory / "call.json").exists()


def test_no_secret_in_any_log_event_manifest_or_recording(run):
    root: Path = run["root"]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files), "the server wrote no log file"
    assert any(p.name == "events.jsonl" for p in files)
    secrets = {**SECRETS, "TWILIO_AUTH_TOKEN": run["token"]}
    leaks = [
        f"{name} in {path.relative_to(root)}"
        for path in files
        for name, value in secrets.items()
        if value.encode() in path.read_bytes()
    ]
    assert leaks == []


def test_phone_numbers_are_masked_in_the_log(run):
    manifest = json.loads((run["call"].directory / "call.json").read_text())
    dialled = manifest["to"]
    log = "".join(p.read_text() for p in (run["root"] / "logs").glob("*.log"))
    assert mask_phone_number(dialled) in log
    assert dialled not in log


def test_at_the_cap_inbound_webhooks_get_busy_twiml(run):
    for path, (status, body) in run["probe"]["webhooks"].items():
        assert status == 200, path
        assert '<Reject reason="busy"' in body and "<Stream" not in body, body


def test_at_the_cap_outbound_is_503_and_never_reaches_twilio(run):
    status, body = run["probe"]["outbound"]
    assert status == 503 and "VOICELAB_MAX_CALLS" in body["detail"]
    assert run["probe"]["new_carrier_calls"] == 0
