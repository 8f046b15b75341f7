"""What a black-box agent does, as Twilio sees it: transfers, hang-ups, keys, voicemail.

The agent is ``tests/action_bot.py``: a plain FastAPI app speaking Twilio's protocol (no
voicelab, no pipecat pipeline), which acts through the twilio SDK pointed at voicelab's
carrier. voicelab's carrier, callees and parties play the rest of the phone network; the
assertions read only the call records (``call.json``, ``events.jsonl``, ``calls_df``).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from action_bot import BotPlan, action_bot
from helpers import read_events, serve_app

from voicelab.analysis import calls_df
from voicelab.config import load_settings
from voicelab.network import LabModels, LocalNetwork
from voicelab.simulator.carrier import CarrierCall
from voicelab.simulator.models import CallerModels
from voicelab.simulator.scenario import load_scenario
from voicelab.simulator.simulator import CallResult
from voicelab.simulator.voices import CallerVoice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ACCOUNT = "AC" + "7" * 32
TOKEN = "action-bot-token"
MANAGER = "+15550100200"
LINES = {
    "greeting": "Hello, you are through to the test kitchen.",
    "transfer": "Let me put you through to the duty manager.",
    "goodbye": "Thank you for calling. Goodbye.",
    "to_person": "Hello Dana, I am calling about an invoice.",
    "message": "Hi Sam, this is the clinic. Your appointment is tomorrow at nine.",
}


@pytest.fixture(scope="module")
def lines(caller_models: CallerModels) -> dict[str, np.ndarray]:
    voice = CallerVoice(models=caller_models)
    return {name: voice.speak(text) for name, text in LINES.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _simulate(
    plan: BotPlan, scenario: str, tmp_path: Path, models: LabModels
) -> tuple[CallResult, CarrierCall, Path]:
    port = _free_port()
    plan.account_sid, plan.auth_token = ACCOUNT, TOKEN
    plan.carrier_url = f"http://127.0.0.1:{port}"
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario)
    recordings = tmp_path / "recordings"
    settings = load_settings(
        recordings_dir=recordings, twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN
    )

    async def play(url: str) -> tuple[CallResult, CarrierCall]:
        network = LocalNetwork(
            settings, server_url=url, carrier_port=port, status_callback_path=None, models=models
        )
        async with network:
            call = await network.simulate(load_scenario(path))
            assert network.carrier is not None and call.call_sid is not None
            return call, network.carrier.calls[call.call_sid]

    with serve_app(action_bot(plan)) as url:
        call, carrier_call = asyncio.run(play(url))
    assert plan.errors == [], plan.errors
    assert call.error is None and call.directory is not None, call
    return call, carrier_call, recordings


def _events(call: CallResult, kind: str, source: str | None = None) -> list[dict[str, Any]]:
    assert call.directory is not None
    return [
        e
        for e in read_events(call.directory)
        if e["type"] == kind and (source is None or e["source"] == source)
    ]


def test_a_transfer_bridges_the_caller_to_the_duty_manager(
    lines: dict[str, np.ndarray], tmp_path: Path, lab_models: LabModels
) -> None:
    scenario = f"""\
description: An angry guest asks for a manager and is transferred.
direction: inbound
turns:
  - say: I want to speak to a manager right now.
parties:
  "{MANAGER}":
    name: Duty manager
    turns:
      - say: Duty manager, Chris speaking.
      - say: I am sorry to hear that. Lunch is on us today.
after_transfer:
  - say: My lunch was cold and nobody helped me.
"""
    plan = BotPlan("transfer", lines, dial_to=MANAGER)
    call, carrier_call, recordings = _simulate(plan, scenario, tmp_path, lab_models)

    assert "stop" in plan.stream_events  # calls.update ended the stream as Twilio does
    (transfer,) = _events(call, "call.transferred", "carrier")
    assert transfer["data"]["to"] == MANAGER and transfer["data"]["status"] == "completed"
    assert transfer["data"]["duration_s"] > 2
    # The caller heard the manager (its own Whisper, after the call), and said its
    # after-transfer line to them.
    heard = " ".join(e["data"]["text"] for e in _events(call, "caller.transcript")).lower()
    assert "duty manager" in heard or "chris" in heard, heard
    assert "lunch is on us" in heard, heard
    said = [e["data"]["text"] for e in _events(call, "caller.utterance_ended")]
    assert said[-1] == "My lunch was cold and nobody helped me."
    # ...once the manager had answered: the caller lets whoever picks up speak first.
    (answered,) = [
        e for e in _events(call, "caller.transcript") if "chris" in e["data"]["text"].lower()
    ]
    (complaint,) = [e for e in _events(call, "caller.utterance_started") if e["data"]["turn"] == 2]
    assert answered["t"] < complaint["t"]
    (hangup,) = _events(call, "call.hangup", "carrier")
    assert hangup["data"] == {"by": "caller", "how": "hung_up"}

    row = calls_df(recordings).iloc[0]
    assert row["transferred_to"] == MANAGER and row["transfer_status"] == "completed"
    assert row["ended_by"] == "caller" and carrier_call.transferred_to == MANAGER


def test_a_bot_that_hangs_up_over_rest_is_the_one_that_ended_the_call(
    lines: dict[str, np.ndarray], tmp_path: Path, lab_models: LabModels
) -> None:
    scenario = """\
description: A guest says thanks; the bot says goodbye and hangs up.
direction: inbound
turns:
  - say: That is all, thank you.
  - say: Are you still there?
"""
    plan = BotPlan("hang_up", lines)
    call, _, recordings = _simulate(plan, scenario, tmp_path, lab_models)
    (hangup,) = _events(call, "call.hangup", "carrier")
    assert hangup["data"] == {"by": "bot", "how": "rest"}
    assert call.caller is not None and call.caller.end_reason == "stop"
    said = [e["data"]["text"] for e in _events(call, "caller.utterance_ended")]
    assert said == ["That is all, thank you."]  # hung up on before its second line
    row = calls_df(recordings).iloc[0]
    assert row["ended_by"] == "bot" and row["status"] == "completed"


def test_a_bot_presses_a_key_a_phone_menu_hears_and_follows(
    lines: dict[str, np.ndarray], tmp_path: Path, lab_models: LabModels
) -> None:
    scenario = """\
description: The bot calls a business and goes through its menu to billing.
direction: outbound
callee:
  kind: phone_menu
  menu:
    main:
      say: For bookings press one. For billing press two.
      options: {"1": bookings, "2": billing}
    bookings: {say: Bookings are closed. Goodbye.}
    billing: {say: Please hold., hold_s: 2, connect: true}
turns:
  - say: Billing, this is Dana.
  - say: Sure, what is the invoice number?
"""
    create = {
        "machine_detection": "Enable",
        "async_amd": "true",
        "async_amd_status_callback": "/amd",  # the bot's own route
    }
    plan = BotPlan("menu", lines, keys="2", create_args=create)
    call, carrier_call, recordings = _simulate(plan, scenario, tmp_path, lab_models)

    received = _events(call, "dtmf.received", "caller")
    assert [(e["data"]["digit"], e["data"]["node"]) for e in received] == [("2", "main")]
    said = [e["data"]["text"] for e in _events(call, "caller.utterance_ended")]
    assert said and said[0] == "Billing, this is Dana."  # the person behind the menu
    # Async AMD: the TwiML ran at once, the answer came to the callback.
    assert "AnsweredBy" not in plan.webhooks[0]
    (callback,) = plan.amd_callbacks
    assert callback["AnsweredBy"] == "machine_start" and callback["CallSid"] == call.call_sid
    row = calls_df(recordings).iloc[0]
    assert row["dtmf_received"] == "2" and row["answered_by"] == "machine_start"
    assert row["ended_by"] == "bot" and carrier_call.answered_by == "machine_start"


def test_a_bot_leaves_a_voicemail_after_the_beep(
    lines: dict[str, np.ndarray], tmp_path: Path, lab_models: LabModels
) -> None:
    scenario = """\
description: The bot calls back and reaches an answering machine.
direction: outbound
callee:
  kind: answering_machine
  greeting: Hi, you have reached Sam. Please leave a message after the beep.
"""
    plan = BotPlan("voicemail", lines, create_args={"machine_detection": "DetectMessageEnd"})
    call, _, recordings = _simulate(plan, scenario, tmp_path, lab_models)

    assert plan.webhooks[0]["AnsweredBy"] == "machine_end_beep"  # sync: in the TwiML request
    assert int(plan.webhooks[0]["MachineDetectionDuration"]) > 3000  # the greeting + beep
    (amd,) = _events(call, "amd.result", "carrier")
    assert amd["data"]["answered_by"] == "machine_end_beep"
    (message,) = _events(call, "voicemail.message", "caller")
    assert "appointment" in message["data"]["text"].lower(), message
    assert 3 < message["data"]["duration_s"] < 10
    row = calls_df(recordings).iloc[0]
    assert row["answered_by"] == "machine_end_beep" and row["ended_by"] == "bot"
    assert "appointment" in row["voicemail_text"].lower()
