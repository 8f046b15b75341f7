"""The reference agent acts in real calls: it hangs up after its goodbye, transfers an angry
guest, and leaves a message on an answering machine.

Real calls to the real server over the Media Streams websocket, on the ``instant`` providers
(Silero VAD, turn-taking, the scripted LLM with its function calls, transport and recorder
are real); the agents are the reference agent with its instant STT hearing a chosen line
(``custom_agents.reference_agent_hearing``). Twilio's REST API is a fake on 127.0.0.1 that
records what the bot asks of it (``_doubles.updating_twilio``): the serializer's hang-up, the
transfer's ``<Say><Dial>`` update. What the emulator will do with them (dial, end the stream)
is the emulator's to show.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _doubles import ACCOUNT, TOKEN, updating_twilio
from helpers import read_events, serve_app, stream_token, wait_for_record
from twilio.request_validator import RequestValidator

from voicelab.bot.tools import TRANSFER_LINE
from voicelab.config import Settings
from voicelab.recording.store import find_call_dir
from voicelab.server.runner import CallServer
from voicelab.simulator._script import Pause, Say
from voicelab.simulator.caller import CallerResult, MediaStreamsCaller
from voicelab.simulator.models import CallerModels
from voicelab.simulator.voices import CallerVoice
from voicelab.telephony import mulaw
from voicelab.telephony.media import TwilioStreamMessages

pytestmark = pytest.mark.slow

DUTY_MANAGER = "+15550100104"


@pytest.fixture(scope="module")
def voice(caller_models: CallerModels) -> CallerVoice:
    return CallerVoice(models=caller_models)


@pytest.fixture
def twilio_updates() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    app, updates = updating_twilio()
    with serve_app(app) as url:
        yield url, updates


def server(root: Path, api_base: str, agent: str) -> CallServer:
    settings = Settings(
        providers="instant",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_api_base=api_base,
        duty_manager_number=DUTY_MANAGER,
        recordings_dir=root,
        log_dir=root / "logs",
    )
    return CallServer(settings, agent=f"custom_agents:{agent}")


def place_call(
    server: CallServer, actions: list[Any], root: Path, direction: str = "inbound"
) -> tuple[CallerResult, Path, str]:
    call_sid = "CA" + uuid.uuid4().hex
    ws_url = server.url.replace("http://", "ws://") + "/ws"
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(ws_url, {})}
    caller = MediaStreamsCaller(actions, recordings_dir=root)
    result = asyncio.run(
        caller.run(
            ws_url,
            call_sid=call_sid,
            stream_sid="MZ" + uuid.uuid4().hex,
            account_sid=ACCOUNT,
            custom_parameters={
                "direction": direction,
                "stream_token": stream_token(server.url, call_sid, TOKEN),
            },
            headers=headers,
        )
    )
    directory = find_call_dir(root, call_sid)
    assert directory is not None
    wait_for_record(directory)
    return result, directory, call_sid


def server_events(directory: Path, type: str) -> list[dict[str, Any]]:
    return [e for e in read_events(directory) if e["source"] == "server" and e["type"] == type]


def manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "call.json").read_text())


def test_the_bot_says_goodbye_then_hangs_up_itself(tmp_path, voice, twilio_updates):
    api, updates = twilio_updates
    lines = ["No, that was all. Goodbye.", "Hello? Are you still there?"]
    with server(tmp_path, api, "goodbye_agent") as bot:
        result, directory, call_sid = place_call(
            bot, [Say(line, voice.speak(line)) for line in lines], tmp_path
        )
    # The server closed the call after one exchange: the caller never got to its second line.
    assert result.ended_by == "server"
    assert [text for _, text, _, _ in result.utterances] == lines[:1]
    assert manifest(directory)["end_reason"] == "bot_hangup"
    # The goodbye was said whole before the end...
    spoken = server_events(directory, "bot.speech_stopped")
    assert spoken[-1]["data"]["text"].endswith("Goodbye."), spoken
    assert not spoken[-1]["data"].get("cut_off")
    # ...and the call hung up through Twilio's REST API (pipecat's serializer, on EndFrame).
    assert [(u["call_sid"], u.get("Status")) for u in updates] == [(call_sid, "completed")]


def test_an_angry_guest_is_transferred_after_the_bot_says_so(tmp_path, voice, twilio_updates):
    api, updates = twilio_updates
    line = "This is unacceptable, I want to speak to a manager."
    with server(tmp_path, api, "angry_agent") as bot:
        _, directory, call_sid = place_call(
            bot, [Say(line, voice.speak(line)), Pause(3.0)], tmp_path
        )
    # (A hang-up may follow the caller's own, racing its stop: only the transfer matters.)
    (update,) = [u for u in updates if "Twiml" in u]
    assert update["call_sid"] == call_sid and "Status" not in update
    assert not any(u.get("Status") for u in updates if u["at"] < update["at"])
    twiml = ET.fromstring(update["Twiml"])
    assert [(verb.tag, verb.text) for verb in twiml] == [
        ("Say", TRANSFER_LINE),
        ("Dial", DUTY_MANAGER),
    ]
    assert manifest(directory)["transferred_to"] == DUTY_MANAGER
    # The bot had said it was putting the guest through before the call was handed over.
    # (A pause inside the caller's line may end its turn early: the instant STT hears the
    # whole line again, the bot's first answer is cut off and its transfer cancelled.)
    announced = [
        e
        for e in server_events(directory, "bot.speech_stopped")
        if "duty manager" in e["data"]["text"]
    ]
    assert announced and not announced[-1]["data"].get("cut_off")
    assert datetime.fromisoformat(announced[-1]["wall"]) <= update["at"]
    # The fake does not stop the stream (the emulator will): the caller hung up.
    assert manifest(directory)["end_reason"] == "stop"


def test_an_answering_machine_gets_the_voicemail_message_and_the_bot_hangs_up(
    tmp_path, voice, twilio_updates
):
    """An outbound call a machine answers: its greeting starts at once, before the bot's."""
    api, updates = twilio_updates
    greeting = voice.speak("Hi, you have reached Taylor. Please leave a message after the beep.")
    with server(tmp_path, api, "answering_machine_agent") as bot:
        call_sid = "CA" + uuid.uuid4().hex
        heard = asyncio.run(_machine_answers(bot, call_sid, greeting))
    directory = find_call_dir(tmp_path, call_sid)
    assert directory is not None
    wait_for_record(directory)
    record = manifest(directory)
    message = record["voicemail_detection"]["message"]
    assert record["voicemail_detection"]["detected"] is True and "Compass Group" in message
    assert [e["data"]["message"] for e in server_events(directory, "voicemail.detected")] == [
        message
    ]
    # The greeting meant for a person was never played; the message was, then the bot hung up.
    spoken = [e["data"]["text"] for e in server_events(directory, "bot.speech_stopped")]
    assert spoken == [message], spoken
    assert record["end_reason"] == "bot_hangup"
    assert [u.get("Status") for u in updates] == ["completed"]
    assert heard > 1.0  # seconds of bot audio the machine recorded


async def _machine_answers(bot: CallServer, call_sid: str, greeting: np.ndarray) -> float:
    """Play a machine: its greeting at once, then silence (recording) until the bot hangs up.

    Returns:
        Seconds of audio the bot sent.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ws_url = bot.url.replace("http://", "ws://") + "/ws"
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(ws_url, {})}
    twilio = TwilioStreamMessages(
        stream_sid="MZ" + uuid.uuid4().hex, call_sid=call_sid, account_sid=ACCOUNT
    )
    params = {"direction": "outbound", "stream_token": stream_token(bot.url, call_sid, TOKEN)}
    pcm = (np.clip(greeting, -1, 1) * 32767).astype(np.int16).tobytes()
    audio = mulaw.encode(pcm) + b"\xff" * 8000 * 30  # the greeting, then up to 30 s of silence
    received = 0
    async with connect(ws_url, additional_headers=headers) as ws:
        await ws.send(twilio.connected())
        await ws.send(twilio.start(params))

        async def listen() -> None:
            nonlocal received
            async for raw in ws:
                message = json.loads(raw)
                if message.get("event") == "media":
                    received += len(base64.b64decode(message["media"]["payload"]))

        listener = asyncio.create_task(listen())
        try:
            for i in range(len(audio) // 160):
                if listener.done():
                    break  # the bot hung up
                chunk = audio[i * 160 : (i + 1) * 160]
                await ws.send(twilio.media(chunk, chunk=i + 1, timestamp_ms=i * 20))
                await asyncio.sleep(0.02)
        except ConnectionClosed:
            pass
        listener.cancel()
    return received / 8000
