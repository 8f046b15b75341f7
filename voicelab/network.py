"""The whole phone network on one machine: the call server and the carrier, wired together.

The server is the unchanged production app; the only difference from a real
deployment is its settings: Twilio credentials that the carrier accepts and
``VOICELAB_TWILIO_API_BASE`` pointing at the carrier. Signatures, webhooks,
Media Streams and status callbacks are all real.

The network owns its models (:class:`LabModels`: the server's pool and the callers'),
unless given some to share: a lab, a notebook or a test session that starts several
networks hands them one ``LabModels`` and each model loads once between them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import SecretStr

from voicelab.bot.agent import Agent, AgentSpec, load_agent
from voicelab.bot.models import ModelPool
from voicelab.config import Settings, load_settings, secret_value
from voicelab.errors import ConfigError
from voicelab.server.runner import CallServer
from voicelab.simulator.carrier import Carrier
from voicelab.simulator.models import CallerModels
from voicelab.simulator.scenario import default_completer
from voicelab.simulator.simulator import CallResult, ScenarioAnswerer, Simulator
from voicelab.telephony.ids import DEFAULT_TWILIO_NUMBER

__all__ = ["LabModels", "LocalNetwork", "lab_agent"]


class LabModels:
    """Every model a lab loads, each once: the bot's pool and the simulated callers'.

    The callers borrow the bot's Whisper (the same tiny.en model) and keep their own
    Piper voice and SmolLM2 (see :mod:`voicelab.simulator.models`). Nothing loads until
    a call needs it.

    Args:
        bot: The in-process server's offline models (default: a new pool).
        caller: The callers' voice, ears and goal LLM (default: new ones, borrowing
            ``bot``'s Whisper).

    Example::

        models = LabModels()
        with Lab(providers="scripted", models=models) as a, Lab(models=models) as b:
            ...  # Whisper and Hibari loaded once, for both labs
    """

    def __init__(self, bot: ModelPool | None = None, caller: CallerModels | None = None) -> None:
        self.bot = bot if bot is not None else ModelPool()
        self.caller = caller if caller is not None else CallerModels(shared=self.bot)

    def __repr__(self) -> str:
        bot = ", ".join(name for name, yes in self.bot.loaded.items() if yes) or "nothing"
        return f"<LabModels bot holding {bot}; {self.caller!r}>"


def lab_agent(settings: Settings, server_url: str | None, agent: AgentSpec | None) -> Agent | None:
    """The agent a lab's own server runs (``None`` when it tests one at ``server_url``).

    Raises:
        ConfigError: The agent does not import, or both ``agent`` and ``server_url``.
    """
    if server_url is None:
        return load_agent(agent, settings)
    if agent is not None:
        raise ConfigError(
            "agent= runs an agent in the lab's own server, server_url= tests one already "
            "running: give one of them"
        )
    return None


class LocalNetwork:
    """Server + carrier + simulated callers, in this process.

    Args:
        settings: Server settings (default: from the environment). Twilio
            credentials, if any, are replaced by the carrier's.
        server_url: Use an already running server instead of starting one: any bot
            reached over Twilio's protocol (a TwiML webhook at ``/`` answering
            ``<Connect><Stream>``), voicelab's or not. Outbound calls and signature checks
            need it configured with this carrier's URL and the settings' Twilio
            credentials. Its callers transcribe what they heard after each call, and a
            call it records nothing of gets a black-box manifest (DESIGN.md section 3).
        carrier_port: The carrier's port (0 picks a free one).
        status_callback_path: Where the server takes Twilio's status callbacks (``None``:
            none are sent, for a bot at ``server_url`` that has no such route).
        agent: The in-process server's agent (a factory or ``module:factory``; default:
            ``settings.agent``, else the reference agent); imported here, so a broken
            one fails before anything starts. Not with ``server_url``.
        models: The server's and the callers' models (default: the network's own,
            loaded as calls need them); share one :class:`LabModels` between networks.

    Raises:
        ConfigError: The agent does not import, or both ``agent`` and ``server_url``.

    Example::

        async with LocalNetwork() as network:
            call = await network.simulate(load_scenario("evals/scenarios/cold_food.yaml"))
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        server_url: str | None = None,
        carrier_port: int = 0,
        status_callback_path: str | None = "/status-callback",
        agent: AgentSpec | None = None,
        models: LabModels | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.agent = lab_agent(self.settings, server_url, agent)
        self.models = models if models is not None else LabModels()
        # Two URLs, kept apart: an outside agent's (given, for good) and the lab's own
        # server's (while it runs). One field for both made a restarted network take its
        # own stopped server for an outside agent.
        self.agent_url = server_url
        self.carrier_port = carrier_port
        self.status_callback_path = status_callback_path
        self.server: CallServer | None = None
        self.carrier: Carrier | None = None
        self.simulator: Simulator | None = None

    @property
    def server_url(self) -> str | None:
        """Where calls go: the outside agent, else the lab's own server while it runs."""
        if self.agent_url is not None:
            return self.agent_url
        return self.server.url if self.server is not None else None

    @property
    def recordings_dir(self) -> Path:
        return self.settings.recordings_dir

    async def start(self) -> LocalNetwork:
        """Start the carrier, then the server (pointed at the carrier)."""
        external = self.agent_url is not None
        account = self.settings.twilio_account_sid if external else None
        token = secret_value(self.settings.twilio_auth_token) if external else None
        account = account or "AC" + secrets.token_hex(16)
        token = token or secrets.token_hex(16)
        self.carrier = Carrier(
            account,
            token,
            # An outside agent's replies are known only by ear.
            answerer=ScenarioAnswerer(
                self.recordings_dir, transcribe_heard=external, models=self.models.caller
            ),
            recordings_root=self.recordings_dir,
        )
        await self.carrier.start(port=self.carrier_port)
        number = self.settings.twilio_phone_number or DEFAULT_TWILIO_NUMBER
        if not external:
            server_settings = self.settings.model_copy(
                update={
                    "twilio_account_sid": account,
                    # model_copy does not validate: the token goes in as the type it has.
                    "twilio_auth_token": SecretStr(token),
                    "twilio_phone_number": number,
                    "twilio_api_base": self.carrier.base_url,
                }
            )
            self.server = CallServer(server_settings, agent=self.agent, pool=self.models.bot)
            await asyncio.to_thread(self.server.start)
        url = self.server_url
        assert url is not None
        self.simulator = Simulator(
            url,
            self.carrier,
            recordings_dir=self.recordings_dir,
            twilio_number=number,
            # Goal-driven callers improvise with the configured LLM (an OpenAI-compatible
            # endpoint when a key is set, else SmolLM2 in-process).
            complete=default_completer(self.settings, models=self.models.caller),
            api_key=secret_value(self.settings.api_key),
            status_callback_path=self.status_callback_path,
            models=self.models.caller,
        )
        return self

    async def simulate(self, scenario: Any, manifest: dict[str, Any] | None = None) -> CallResult:
        """Play one scenario (see :mod:`voicelab.simulator.scenario`); ``manifest`` adds
        top-level ``call.json`` fields (see :meth:`Simulator.run`)."""
        if self.simulator is None:
            await self.start()
        assert self.simulator is not None
        return await self.simulator.run(scenario, manifest)

    async def simulate_many(
        self,
        scenarios: Sequence[Any],
        *,
        concurrency: int = 1,
        manifest: dict[str, Any] | None = None,
        on_done: Callable[[CallResult], None] | None = None,
    ) -> list[CallResult]:
        """Play ``scenarios``, at most ``concurrency`` at once; results in their order.

        Args:
            scenarios: What to play (one call each; repeat an item to repeat a call).
            concurrency: Calls in flight at once.
            manifest: Top-level ``call.json`` fields for every call.
            on_done: Called as each call ends (a progress bar's update).
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(scenario: Any) -> CallResult:
            async with gate:
                result = await self.simulate(scenario, manifest)
            if on_done is not None:
                on_done(result)
            return result

        return list(await asyncio.gather(*(one(scenario) for scenario in scenarios)))

    async def call(self, number: str) -> CallResult:
        """Have the server call ``number`` through the carrier; the callee only listens."""
        if self.simulator is None:
            await self.start()
        assert self.simulator is not None
        return await self.simulator.call(number)

    async def stop(self) -> None:
        """Stop the server and the carrier (idempotent)."""
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
            self.server = None
        if self.carrier is not None:
            await self.carrier.stop()
            self.carrier = None
        self.simulator = None

    async def __aenter__(self) -> LocalNetwork:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
