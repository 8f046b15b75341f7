"""TwiML, built with the twilio SDK: connecting a call to the media websocket, refusing one,
handing one over to a person."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

__all__ = ["STREAM_TOKEN_PARAMETER", "reject_twiml", "stream_twiml", "transfer_twiml"]

STREAM_TOKEN_PARAMETER = "stream_token"
"""The ``<Parameter name>`` (and ``customParameters`` key) that carries a call's stream token."""


def stream_twiml(
    ws_url: str,
    *,
    direction: str,
    from_number: str,
    to_number: str,
    stream_token: str | None = None,
) -> str:
    """``<Connect><Stream>`` TwiML that streams the call to ``ws_url``.

    The call's direction and parties travel as ``<Parameter>`` elements and come
    back in the Media Streams ``start`` message's ``customParameters``; pipecat's
    ``parse_telephony_websocket`` promotes ``from_number`` / ``to_number``.

    Args:
        ws_url: The ``wss://`` (or ``ws://``) URL of the media websocket.
        direction: ``inbound`` or ``outbound``.
        from_number: The caller.
        to_number: The callee.
        stream_token: The call's one-time media-stream token (see
            ``voicelab.server.stream_tokens``); the ``start`` message must bring it back.
    """
    stream = Stream(url=ws_url)
    stream.parameter(name="direction", value=direction)
    stream.parameter(name="from_number", value=from_number)
    stream.parameter(name="to_number", value=to_number)
    if stream_token is not None:
        stream.parameter(name=STREAM_TOKEN_PARAMETER, value=stream_token)
    connect = Connect()
    connect.append(stream)
    response = VoiceResponse()
    response.append(connect)
    return str(response.to_xml(xml_declaration=True))


def reject_twiml() -> str:
    """``<Reject reason="busy">`` TwiML: the caller hears a busy signal, nothing is billed."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response.to_xml(xml_declaration=True))


def transfer_twiml(number: str, say: str | None = None, *, caller_id: str | None = None) -> str:
    """``<Say>`` then ``<Dial>``: what a call is updated with to hand it to a person.

    Updating a live call with this TwiML (REST ``calls(sid).update(twiml=...)``) ends its
    ``<Connect><Stream>``: the bot's media stream stops, Twilio says ``say`` and dials
    ``number``, and the caller talks to whoever answers.

    Args:
        number: Whom to dial (E.164).
        say: Said to the caller first (``None``: nothing).
        caller_id: The ``callerId`` the dialled party sees (``None``: Twilio's default,
            the caller's number on an inbound call).
    """
    response = VoiceResponse()
    if say:
        response.say(say)
    response.dial(number, caller_id=caller_id)
    return str(response.to_xml(xml_declaration=True))
