"""pipecat's Twilio serializer, made to drop a malformed message instead of ending the call."""

from __future__ import annotations

import binascii

from loguru import logger
from pipecat.frames.frames import Frame
from pipecat.serializers.twilio import TwilioFrameSerializer

__all__ = ["TolerantTwilioFrameSerializer"]


class TolerantTwilioFrameSerializer(TwilioFrameSerializer):
    """``TwilioFrameSerializer`` that survives bad input.

    The stock serializer raises on a media frame with a bad payload; the transport's
    receive loop then stops and the call ends. Input from outside is validated: a
    message that is not Twilio's is logged and dropped, and the call goes on.
    """

    dropped = 0

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            return await super().deserialize(data)
        # JSONDecodeError and binascii.Error are ValueErrors; a wrong shape is Key/Type/Attribute.
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            self.dropped += 1
            preview = data[:80] if isinstance(data, str | bytes) else type(data).__name__
            logger.warning(f"dropped a malformed Media Streams message ({exc!r}): {preview!r}")
            return None
