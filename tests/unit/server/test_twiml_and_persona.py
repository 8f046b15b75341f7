import xml.etree.ElementTree as ET

import pytest

from voicelab.bot.persona import Persona, load_persona
from voicelab.errors import ConfigError
from voicelab.telephony.twiml import stream_twiml, transfer_twiml


def test_stream_twiml_connects_the_call_to_the_websocket_with_parameters():
    xml = stream_twiml(
        "wss://example.ngrok.app/ws",
        direction="outbound",
        from_number="+15550001111",
        to_number="+15550002222",
    )
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    stream = root.find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://example.ngrok.app/ws"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {
        "direction": "outbound",
        "from_number": "+15550001111",
        "to_number": "+15550002222",
    }


def test_stream_twiml_escapes_values():
    xml = stream_twiml("wss://h/ws", direction="inbound", from_number='"<x>&', to_number="")
    stream = ET.fromstring(xml).find("./Connect/Stream")
    assert stream is not None
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["from_number"] == '"<x>&'


def test_transfer_twiml_says_its_line_then_dials_escaped() -> None:
    root = ET.fromstring(
        transfer_twiml("+15550100101", "Hold on <now> & listen", caller_id="+1555")
    )
    assert [(verb.tag, verb.text) for verb in root] == [
        ("Say", "Hold on <now> & listen"),
        ("Dial", "+15550100101"),
    ]
    assert root[1].get("callerId") == "+1555"
    assert [verb.tag for verb in ET.fromstring(transfer_twiml("+15550100101"))] == ["Dial"]


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_default_personas_are_the_guides(direction):
    persona = load_persona(direction)
    assert persona.direction == direction
    assert "Compass Group" in persona.greeting
    assert "Guest Relationship Executive" in persona.system_prompt
    assert "special characters" in persona.system_prompt
    assert len(persona.text_hash) == 12


def test_inbound_and_outbound_personas_differ():
    inbound, outbound = load_persona("inbound"), load_persona("outbound")
    assert inbound.greeting.startswith("Hello! Thank you for calling Compass Group")
    assert outbound.greeting.startswith("Hello! This is calling from Compass Group")
    assert inbound.text_hash != outbound.text_hash


def test_malformed_persona_file_names_the_file(tmp_path):
    path = tmp_path / "inbound.md"
    path.write_text("---\nid: x\n---\nprompt")
    with pytest.raises(ConfigError, match=r"inbound\.md.*lacks version, direction, greeting"):
        Persona.from_file(path)
