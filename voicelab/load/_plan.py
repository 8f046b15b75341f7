"""What a load run is asked to do: :class:`LoadPlan`, checked when it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from voicelab.errors import ConfigError
from voicelab.simulator._carrier_twilio import is_http_url
from voicelab.telephony.ids import DEFAULT_TWILIO_NUMBER

__all__ = ["MAX_CALLS", "LoadPlan"]

MAX_CALLS = 5000
"""The most callers one run places (far past what a box plays in real time)."""


@dataclass(frozen=True)
class LoadPlan:
    """A load run: who to call, how many, how fast, for how long.

    Attributes:
        url: The agent's TwiML webhook (``http(s)://``; voicelab's server: its ``/``); a
            password in it is never printed (:attr:`shown_url`).
        calls: Simultaneous callers once the ramp is over.
        workers: Worker processes the callers are split between.
        ramp_s: Callers start evenly over this many seconds (0: all at once).
        duration_s: How long each call is held once connected.
        account_sid: The ``AccountSid`` the webhooks carry.
        auth_token: Signs the webhooks and the websocket upgrades (``X-Twilio-Signature``);
            never printed nor written.
        to_number: The called number (the agent's).
        pause_s: Silence a caller leaves after a reply before it speaks again.
        reply_timeout_s: How long a caller waits for a reply to its line.
        greeting_wait_s: How long a caller waits for a greeting before it speaks first.
        nice: The workers' scheduling priority (``os.setpriority``; below 0 needs the
            privilege): on a box shared with the agent, a generator that gets the CPU
            first keeps its frames on time and leaves the rest to the agent (it needs
            little). ``None`` leaves it alone.
    """

    url: str
    calls: int
    workers: int
    ramp_s: float = 0.0
    duration_s: float = 30.0
    account_sid: str = "AC" + "0" * 32
    auth_token: str = field(default="", repr=False)
    to_number: str = DEFAULT_TWILIO_NUMBER
    pause_s: float = 0.5
    reply_timeout_s: float = 10.0
    greeting_wait_s: float = 4.0
    nice: int | None = None

    def __post_init__(self) -> None:
        if not is_http_url(self.url):
            raise ConfigError(f"the agent's URL must be http:// or https://: {self.url!r}")
        if not 1 <= self.calls <= MAX_CALLS:
            raise ConfigError(f"--calls must be between 1 and {MAX_CALLS}: {self.calls}")
        if not 1 <= self.workers <= self.calls:
            raise ConfigError(f"--workers must be between 1 and --calls: {self.workers}")
        if self.ramp_s < 0 or self.duration_s <= 0:
            raise ConfigError("--ramp must be >= 0 and --duration > 0 seconds")
        if min(self.pause_s, self.reply_timeout_s, self.greeting_wait_s) < 0:
            raise ConfigError("pause, reply timeout and greeting wait must be >= 0 seconds")
        if self.nice is not None and not -20 <= self.nice <= 19:
            raise ConfigError(f"--nice must be between -20 and 19: {self.nice}")

    @property
    def shown_url(self) -> str:
        """``url`` fit for a report: a password in it (``https://user:pw@host/``, as Twilio
        webhooks often carry) becomes ``<redacted>``."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        host = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"{parts.username}:<redacted>@{host}").geturl()

    def start_offset(self, index: int) -> float:
        """When caller ``index`` (from 0) starts, seconds after the run's start."""
        return self.ramp_s * index / self.calls

    def callers_of(self, worker: int) -> list[int]:
        """The callers worker ``worker`` plays: every ``workers``-th, so each worker's
        callers are spread over the whole ramp."""
        return list(range(worker, self.calls, self.workers))
