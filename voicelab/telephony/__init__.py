"""Everything Twilio-specific: TwiML, signatures, the REST client, Media Streams messages.

Imports nothing of voicelab but :mod:`voicelab.config` and :mod:`voicelab.errors`.
"""

from voicelab.telephony.rest import create_twilio_client
from voicelab.telephony.signature import PublicURL, TwilioSignatureChecker
from voicelab.telephony.twiml import stream_twiml

__all__ = ["PublicURL", "TwilioSignatureChecker", "create_twilio_client", "stream_twiml"]
