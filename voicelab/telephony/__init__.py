"""Everything Twilio-specific: TwiML, signatures, the REST client, Media Streams messages.

Imports nothing of voicelab but :mod:`voicelab.config` and :mod:`voicelab.errors`. The
names below load on first use, so :mod:`voicelab.config` can import
:mod:`voicelab.telephony.ids` (which imports nothing of voicelab) without a cycle, and the
simulator's caller can use :mod:`voicelab.telephony.media` without loading the twilio SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicelab.telephony.rest import create_twilio_client
    from voicelab.telephony.signature import PublicURL, TwilioSignatureChecker
    from voicelab.telephony.twiml import stream_twiml

__all__ = ["PublicURL", "TwilioSignatureChecker", "create_twilio_client", "stream_twiml"]

_HOMES = {
    "PublicURL": "voicelab.telephony.signature",
    "TwilioSignatureChecker": "voicelab.telephony.signature",
    "create_twilio_client": "voicelab.telephony.rest",
    "stream_twiml": "voicelab.telephony.twiml",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'voicelab.telephony' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
