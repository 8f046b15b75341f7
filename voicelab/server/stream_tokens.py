"""One-time media-stream tokens: a signed websocket upgrade alone does not open a call.

Twilio signs the websocket upgrade over its URL only, so one captured upgrade can be
replayed for ever. The TwiML served for a call therefore carries a fresh random token
as a ``<Parameter>``; Twilio hands it back in the Media Streams ``start`` message's
``customParameters``, and the media websocket opens a pipeline only for a token that
was issued for that CallSid, is used for the first time, and is still inside its
window (``VOICELAB_STREAM_TOKEN_TTL``).

A CallSid gets one token, ever: a webhook for the same call again (a replay of a
captured, signed request, or Twilio retrying) gets the same token back, still
single-use, so a replay can neither cancel the real call's token nor win a fresh one.
(The call registry refuses webhooks and streams of calls whose session ran, however
long ago: :mod:`voicelab.server.calls`.)
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from voicelab.errors import InvalidArgumentError

__all__ = ["StreamTokens"]

# 32 random bytes: 43 URL-safe characters, far beyond guessing within a token's window.
_TOKEN_BYTES = 32


@dataclass
class _Issued:
    token: str
    expires_at: float
    spent: bool = False


class StreamTokens:
    """Issues and redeems one-time tokens, one outstanding token per CallSid.

    Memory stays bounded: expired tokens are pruned whenever one is issued, and at
    most ``max_outstanding`` tokens are kept (the oldest is dropped first; only a
    flood of webhooks, which Twilio signs, can reach the cap).

    Args:
        ttl: Seconds a token stays valid after it is issued.
        max_outstanding: The most tokens kept at once.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        ttl: float,
        *,
        max_outstanding: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_outstanding < 1:
            raise InvalidArgumentError("ttl must be > 0 and max_outstanding >= 1")
        self.ttl = ttl
        self.max_outstanding = max_outstanding
        self._clock = clock
        # Insertion order = issue order, so the oldest tokens, the first to expire, are
        # always at the front.
        self._issued: OrderedDict[str, _Issued] = OrderedDict()

    def __len__(self) -> int:
        return len(self._issued)

    def issue(self, call_sid: str) -> str:
        """The token of ``call_sid``: a fresh one the first time, the same one after that
        (spent or not) until it expires."""
        now = self._clock()
        self._prune(now)
        known = self._issued.get(call_sid)
        if known is not None:
            return known.token
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        self._issued[call_sid] = _Issued(token, now + self.ttl)
        while len(self._issued) > self.max_outstanding:
            self._issued.popitem(last=False)
        return token

    def redeem(self, call_sid: str, token: object) -> bool:
        """Whether ``token`` opens ``call_sid``'s stream; a valid token is spent.

        A wrong token does not spend the right one: someone who guesses a CallSid
        cannot lock the real call out.
        """
        issued = self._issued.get(call_sid)
        if issued is None or issued.spent or not isinstance(token, str):
            return False
        if self._clock() >= issued.expires_at:
            del self._issued[call_sid]
            return False
        # Constant time: the comparison must not tell how much of a guess was right.
        # surrogatepass: a JSON string may hold lone surrogates, which plain UTF-8 refuses.
        if not hmac.compare_digest(issued.token.encode(), token.encode("utf-8", "surrogatepass")):
            return False
        issued.spent = True  # kept until it expires: a webhook replayed now gets it, spent
        return True

    def _prune(self, now: float) -> None:
        while self._issued:
            oldest = next(iter(self._issued.values()))
            if oldest.expires_at > now:
                break
            self._issued.popitem(last=False)
