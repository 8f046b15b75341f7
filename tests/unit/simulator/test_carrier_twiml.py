"""The carrier's TwiML reader: what it runs and what it refuses."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Connect, VoiceResponse

from voicelab.simulator._carrier_twiml import (
    Connect as ConnectVerb,
)
from voicelab.simulator._carrier_twiml import (
    Hangup,
    Pause,
    Redirect,
    Sound,
    TwimlError,
    parse_twiml,
)


def test_reads_what_the_twilio_sdk_writes() -> None:
    response = VoiceResponse()
    response.say("Hello")
    connect = Connect(action="https://bot.test/after")
    stream = connect.stream(url="wss://bot.test/ws")
    stream.parameter(name="persona", value="dentist")
    stream.parameter(name="empty", value="")
    response.append(connect)
    response.pause(length=2)
    response.redirect("/next", method="GET")
    response.hangup()

    assert parse_twiml(str(response)) == [
        Sound("Say"),
        ConnectVerb(
            stream_url="wss://bot.test/ws",
            parameters={"persona": "dentist", "empty": ""},
            action="https://bot.test/after",
        ),
        Pause(2.0),
        Redirect("/next", "GET"),
        Hangup(),
    ]


def test_skips_verbs_the_emulator_does_not_run() -> None:
    assert parse_twiml("<Response><Gather/><Play>x.wav</Play></Response>") == [Sound("Play")]


@pytest.mark.parametrize(
    "document",
    [
        "",
        "<Response>",
        "<Reply/>",
        "<Response><Dance/></Response>",
        "<Response><Connect/></Response>",
        "<Response><Connect><Stream/></Connect></Response>",
        '<Response><Connect><Stream url="wss://x"><Parameter/></Stream></Connect></Response>',
        "<Response><Pause length='forever'/></Response>",
        "<Response><Redirect/></Response>",
        "<Response><Redirect method='PUT'>/x</Redirect></Response>",
        "<Response>" + "<Say>hi</Say>" * 6000 + "</Response>",
    ],
)
def test_refuses_broken_documents(document: str) -> None:
    with pytest.raises(TwimlError):
        parse_twiml(document)
