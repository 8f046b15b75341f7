"""What the bot knows about the call it is on."""

from __future__ import annotations

from dataclasses import dataclass

from voicelab.bot.persona import Direction

__all__ = ["CallInfo"]


@dataclass(frozen=True)
class CallInfo:
    """The identity of one call, from the Media Streams ``start`` message.

    Attributes:
        call_sid: Twilio's call SID (``CA...``).
        stream_sid: Twilio's media stream SID (``MZ...``).
        account_sid: The Twilio account the call belongs to.
        direction: ``inbound`` or ``outbound``.
        from_number: The caller.
        to_number: The callee.
    """

    call_sid: str
    stream_sid: str
    account_sid: str
    direction: Direction
    from_number: str
    to_number: str
