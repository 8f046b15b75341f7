"""The carrier's TwiML reader: what it runs and what it refuses."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Connect, VoiceResponse

from voicelab.simulator._carrier_twiml import (
    Connect as ConnectVerb,
)
from voicelab.simulator._carrier_twiml import (
    Dial,
    Hangup,
    Pause,
    Play,
    Redirect,
    Say,
    TwimlError,
    normalize_number,
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
        Say("Hello"),
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
    assert parse_twiml("<Response><Gather/><Play>x.wav</Play></Response>") == [Play("x.wav")]


def test_reads_dial_say_and_play_as_the_sdk_writes_them() -> None:
    response = VoiceResponse()
    response.say("Connecting you.", loop=2)
    response.play(digits="w1#")
    response.dial("+15550100200", timeout=12, action="/after", caller_id="+15550001000")
    dial = response.dial(time_limit=60)
    dial.number("(555) 010-0300")
    response.dial("415-123-4567")
    response.say("Bye", loop=0)
    verbs = parse_twiml(str(response))
    assert verbs == [
        Say("Connecting you.", loop=2),
        Play(digits="w1#"),
        Dial("+15550100200", timeout_s=12, action="/after", caller_id="+15550001000"),
        Dial("+15550100300", time_limit_s=60),
        Dial("+14151234567"),
        Say("Bye", loop=1000),  # loop="0": until the call ends (bounded)
    ]


def test_a_dial_the_emulator_cannot_ring_fails_instead_of_breaking_the_call() -> None:
    conference, two, nonsense = parse_twiml(
        "<Response><Dial><Conference>room</Conference></Dial>"
        "<Dial><Number>+15550100200</Number><Number>+15550100300</Number></Dial>"
        "<Dial>call me maybe</Dial></Response>"
    )
    assert isinstance(conference, Dial) and conference.number is None
    assert "Conference" in str(conference.problem)
    assert isinstance(two, Dial) and two.number is None and "several" in str(two.problem)
    assert isinstance(nonsense, Dial) and nonsense.number is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("+15550100200", "+15550100200"),
        ("415-123-4567", "+14151234567"),
        ("1 (415) 123 4567", "+14151234567"),
        ("４１５１２３４５６７", None),  # fullwidth digits are no number
        ("12", None),
    ],
)
def test_dialled_numbers_are_read_as_twilio_reads_them(text: str, number: str | None) -> None:
    assert normalize_number(text) == number


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
        "<Response><Dial/></Response>",
        "<Response><Dial timeout='soon'>+15550100200</Dial></Response>",
        "<Response><Play/></Response>",
        "<Response><Play digits='12'>x.wav</Play></Response>",
        "<Response><Play digits='1x'/></Response>",
        "<Response><Say loop='-1'>hi</Say></Response>",
        "<Response>" + "<Say>hi</Say>" * 6000 + "</Response>",
    ],
)
def test_refuses_broken_documents(document: str) -> None:
    with pytest.raises(TwimlError):
        parse_twiml(document)
