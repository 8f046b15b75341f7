"""Media Streams messages built in one place read back as what they claim to be."""

from __future__ import annotations

import json

import pytest

from voicelab.telephony.media import (
    ClearMessage,
    ConnectedMessage,
    DtmfMessage,
    MarkMessage,
    MediaMessage,
    MediaMessageError,
    OutboundMark,
    OutboundMedia,
    StartMessage,
    StopMessage,
    TwilioStreamMessages,
    UnknownMessage,
    parse_message,
    parse_server_message,
)

STREAM, CALL, ACCOUNT = "MZ" + "a" * 32, "CA" + "b" * 32, "AC" + "c" * 32


def test_what_twilio_sends_parses_back_with_twilios_numbering() -> None:
    messages = TwilioStreamMessages(stream_sid=STREAM, call_sid=CALL, account_sid=ACCOUNT)
    sent = [
        messages.connected(),
        messages.start({"stream_token": "t"}),
        messages.media(b"\xff" * 160, chunk=1, timestamp_ms=0),
        messages.dtmf("5"),
        messages.mark("reply-1"),
        messages.stop(),
    ]
    parsed = [parse_message(raw) for raw in sent]
    kinds = [type(message) for message in parsed]
    assert kinds == [
        ConnectedMessage,
        StartMessage,
        MediaMessage,
        DtmfMessage,
        MarkMessage,
        StopMessage,
    ]
    start, media = parsed[1], parsed[2]
    assert isinstance(start, StartMessage) and isinstance(media, MediaMessage)
    assert start.start.call_sid == CALL and start.start.stream_sid == STREAM
    assert start.start.custom_parameters == {"stream_token": "t"}
    assert media.media.payload == b"\xff" * 160
    raw = [json.loads(text) for text in sent]
    # Strings counting from 1 after connected, as Twilio sends them.
    assert "sequenceNumber" not in raw[0]
    assert [m["sequenceNumber"] for m in raw[1:]] == ["1", "2", "3", "4", "5"]
    assert raw[2]["media"]["chunk"] == "1" and raw[2]["media"]["timestamp"] == "0"
    assert raw[1]["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }


def test_what_a_bot_sends_is_validated_for_the_side_that_plays_twilio() -> None:
    media = parse_server_message(
        json.dumps({"event": "media", "streamSid": STREAM, "media": {"payload": "/w=="}})
    )
    assert isinstance(media, OutboundMedia) and media.media.payload == b"\xff"
    mark = parse_server_message(json.dumps({"event": "mark", "mark": {"name": "m1"}}))
    assert isinstance(mark, OutboundMark) and mark.mark.name == "m1"
    clear = parse_server_message(json.dumps({"event": "clear", "streamSid": STREAM}))
    assert isinstance(clear, ClearMessage)
    assert isinstance(parse_server_message('{"event": "new-thing"}'), UnknownMessage)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event": "media"}',
        "not json",
        '{"event": "media", "media": {"payload": "not base64!"}}',
        '{"event": "mark", "mark": {}}',
        '{"event": "media"}',
    ],
)
def test_bad_server_messages_raise_a_short_error(raw: str | bytes) -> None:
    with pytest.raises(MediaMessageError):
        parse_server_message(raw)


@pytest.mark.parametrize(
    ("timestamp", "expected"), [("120", 120), ("abc", None), ("-5", None), ("1e3", None)]
)
def test_a_media_timestamp_is_a_hint_a_bad_one_is_dropped_not_the_audio(timestamp, expected):
    message = parse_message(
        json.dumps({"event": "media", "media": {"payload": "AAAA", "timestamp": timestamp}})
    )
    assert message.media.payload == b"\x00\x00\x00"  # the audio is kept either way
    assert message.media.timestamp == expected
