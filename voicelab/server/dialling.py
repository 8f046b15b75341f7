"""The toll-fraud guard: what ``POST /outbound`` may dial, how often, and how many at once.

An open dialler is how a Twilio account gets billed for premium-rate calls, so every
rule here runs before the twilio SDK is touched, in this order: the destination
(allow-list, then premium/special-rate deny-list: 403), the cap on live calls (503),
then the caller's rate (429 with ``Retry-After``). Only a call that passes all three
uses up a slot of the rate limit.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from voicelab.config import Settings
from voicelab.errors import OutboundRefused
from voicelab.telephony.ids import is_e164

__all__ = [
    "OUTBOUND_RESPONSES",
    "DestinationRules",
    "OutboundGuard",
    "OutboundRefused",
    "SlidingWindowLimiter",
]


OUTBOUND_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "The destination is outside the allowed or inside a denied prefix"},
    429: {"description": "Too many calls this minute; `Retry-After` says when to retry"},
    503: {"description": "Too many live calls (`VOICELAB_MAX_CALLS`), or no Twilio credentials"},
}
"""OpenAPI ``responses=`` of ``POST /outbound``'s refusals."""


class DestinationRules:
    """Allowed and denied E.164 prefixes; a denied prefix wins even inside an allowed one.

    Args:
        allowed: ``VOICELAB_OUTBOUND_ALLOWED_PREFIXES`` (empty: nothing may be dialled).
        denied: ``VOICELAB_OUTBOUND_DENIED_PREFIXES``.
    """

    def __init__(self, allowed: list[str], denied: list[str]) -> None:
        self.allowed = tuple(allowed)
        self.denied = tuple(denied)

    def check(self, number: str) -> None:
        """Return if ``number`` may be dialled.

        Raises:
            OutboundRefused: 403, naming the setting that refuses it.
        """
        # The request model checks this already; the prefixes compare ASCII strings, so
        # nothing else may ever reach them (a fullwidth "９００" would match no rule).
        if not is_e164(number):
            raise OutboundRefused(403, "the destination is not an E.164 number of ASCII digits")
        denied = next((p for p in self.denied if number.startswith(p)), None)
        if denied is not None:
            raise OutboundRefused(
                403,
                f"{denied}... is a premium- or special-rate prefix refused by "
                "VOICELAB_OUTBOUND_DENIED_PREFIXES",
            )
        if not number.startswith(self.allowed):
            allowed = ", ".join(self.allowed) or "none"
            raise OutboundRefused(
                403,
                f"{number} is outside VOICELAB_OUTBOUND_ALLOWED_PREFIXES (allowed: {allowed})",
            )


class SlidingWindowLimiter:
    """At most ``limit`` events per identity in any ``window`` seconds.

    Args:
        limit: Events allowed per window; 0 means no limit.
        window: The window in seconds.
        clock: Monotonic seconds (injectable for tests).
    """

    # Past this many identities, those idle for a whole window are dropped, so that
    # requests from many client addresses cannot grow the table without bound.
    _MAX_IDENTITIES = 10_000

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def acquire(self, identity: str) -> float | None:
        """Take a slot for ``identity``: ``None`` if granted, else seconds until one frees up."""
        if self.limit <= 0:
            return None
        now = self._clock()
        if len(self._seen) >= self._MAX_IDENTITIES:
            self._forget_idle(now)
        times = self._seen.setdefault(identity, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return times[0] + self.window - now
        times.append(now)
        return None

    def _forget_idle(self, now: float) -> None:
        for identity in [i for i, t in self._seen.items() if not t or t[-1] <= now - self.window]:
            del self._seen[identity]


class OutboundGuard:
    """Every rule an outbound call must pass before it reaches Twilio.

    Args:
        settings: The prefix lists, ``outbound_per_minute`` and ``max_calls``.
        clock: Monotonic seconds for the rate limit (injectable for tests).
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.destinations = DestinationRules(
            settings.outbound_allowed_prefixes, settings.outbound_denied_prefixes
        )
        self.per_minute = settings.outbound_per_minute
        self.max_calls = settings.max_calls
        self.limiter = SlidingWindowLimiter(settings.outbound_per_minute, 60.0, clock)

    def at_capacity(self, live_calls: int) -> bool:
        """Whether ``live_calls`` already fill ``VOICELAB_MAX_CALLS``."""
        return live_calls >= self.max_calls

    def admit(self, number: str, identity: str, live_calls: int) -> None:
        """Return if ``identity`` may call ``number`` now (and count the call).

        Raises:
            OutboundRefused: 403 (destination), 503 (too many live calls) or 429 (rate).
        """
        self.destinations.check(number)
        if self.at_capacity(live_calls):
            raise OutboundRefused(
                503,
                f"{live_calls} calls are live, the most VOICELAB_MAX_CALLS allows "
                f"({self.max_calls}): try again when one has ended",
            )
        wait = self.limiter.acquire(identity)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise OutboundRefused(
                429,
                f"at most {self.per_minute} outbound calls a minute "
                f"(VOICELAB_OUTBOUND_PER_MINUTE): retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
