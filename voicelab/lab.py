"""``Lab``: the notebook facade over the call server, the carrier and the analysis.

Jupyter already runs an event loop; patching it (nest_asyncio) breaks on the second
run of a cell. The lab runs its own loop on a background thread instead: the
carrier lives there, the server has its own thread (see ``CallServer``), and each
blocking method here submits a coroutine to that loop and waits. Models stay
warm across ``stop()``/``start()``: the lab owns them (:class:`LabModels`), or shares
the ones it is given with other labs. Started from the main thread, the
lab handles SIGTERM: it stops (live calls end with reason ``shutdown`` and complete
records), then the signal does what it did before (by default, the process exits).

Example::

    from voicelab import Lab

    lab = Lab(providers="offline").start()
    call = lab.simulate("evals/scenarios/cold_food.yaml")
    call.turns_df()
    call.audio()             # a player for the call's recording
    call.plot_timeline()
    lab.stop()
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pandas as pd

from voicelab.server.logging import use_console

# Before pipecat's first import below: its banner and DEBUG lines went through loguru's
# default handler, ~130 stderr outputs with raw colour codes in a notebook cell. The
# console now shows warnings (VOICELAB_LOG_LEVEL); a host that set loguru up keeps its own.
use_console()

from voicelab.bot.agent import AgentSpec  # noqa: E402
from voicelab.config import Settings, load_settings  # noqa: E402
from voicelab.errors import ScenarioError, VoicelabError  # noqa: E402
from voicelab.network import LabModels, LocalNetwork, lab_agent  # noqa: E402
from voicelab.server.runner import SigtermStop  # noqa: E402
from voicelab.simulator._call_result import CallResult  # noqa: E402
from voicelab.simulator.scenario import Scenario, load_file  # noqa: E402

__all__ = ["CallResult", "Lab"]

T = TypeVar("T")


class Lab:
    """A call server and the offline phone network, running in the background.

    Args:
        settings: voicelab settings (default: environment and ``.env``).
        server_url: Test an agent already running there instead of starting a server:
            any bot reached over Twilio's protocol (see :class:`LocalNetwork`). A bot that
            records nothing here leaves the caller's side and a black-box manifest.
        agent: The agent the lab's server runs: a factory (see :mod:`voicelab.bot.agent`)
            or its ``module:factory`` import string (default: ``VOICELAB_AGENT``, else the
            reference agent). Imported here: a broken one raises ``ConfigError`` at once.
        models: The server's and the callers' models (default: the lab's own, loaded as
            calls need them). Give several labs one :class:`LabModels` to load each once.
        **overrides: Setting overrides, e.g. ``providers="scripted"``,
            ``recordings_dir="recordings/ab-test"``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        server_url: str | None = None,
        agent: AgentSpec | None = None,
        models: LabModels | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(agent, str):
            overrides["agent"] = agent  # checked (and fingerprinted) like VOICELAB_AGENT
        # Re-validated, so overrides get the same checks (and types) as the environment.
        base = settings.model_dump() if settings is not None else {}
        self.settings = load_settings(**{**base, **overrides})
        self.agent = lab_agent(self.settings, server_url, agent)
        self.models = models if models is not None else LabModels()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._network: LocalNetwork | None = None
        self.server_url = server_url
        # Its server runs on a side thread and started from the loop's: SIGTERM is ours.
        self._sigterm = SigtermStop(self.stop)

    @property
    def url(self) -> str:
        """The call server's base URL."""
        if self._network is None or self._network.server_url is None:
            raise VoicelabError("the lab is not running: call start() first")
        return self._network.server_url

    @property
    def recordings_dir(self) -> Path:
        return self.settings.recordings_dir

    def start(self) -> Lab:
        """Start the loop thread, the carrier and the server (idempotent)."""
        if self._network is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="voicelab-lab", daemon=True
        )
        self._thread.start()
        network = LocalNetwork(
            self.settings, server_url=self.server_url, agent=self.agent, models=self.models
        )
        self._run(network.start())
        self._network = network
        self._sigterm.install()
        return self

    def stop(self) -> None:
        """Stop the server, the carrier and the loop thread (idempotent)."""
        self._sigterm.restore()
        if self._network is not None:
            self._run(self._network.stop())
            self._network = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            assert self._thread is not None
            self._thread.join(10)
            self._loop.close()
            self._loop = None

    def simulate(self, scenario: str | Path | Scenario, *, progress: bool = False) -> CallResult:
        """Play one scenario and return its :class:`CallResult` (several, or repeats:
        :meth:`simulate_many`, which always returns a list).

        Raises:
            ScenarioError: A file holding several scenarios (a pipecat eval file with more
                than one): play it with :meth:`simulate_many`.
        """
        loaded = [scenario] if isinstance(scenario, Scenario) else load_file(scenario)
        if len(loaded) != 1:
            raise ScenarioError(
                f"{scenario} holds {len(loaded)} scenarios: play them with simulate_many()"
            )
        return self.simulate_many(loaded, progress=progress)[0]

    def simulate_many(
        self,
        scenarios: Sequence[str | Path | Scenario],
        *,
        concurrency: int = 1,
        progress: bool = True,
    ) -> list[CallResult]:
        """Play several scenarios, ``concurrency`` at a time, with a progress bar."""
        from tqdm.auto import tqdm

        # A pipecat eval file stands for all its scenarios.
        loaded = [
            one for s in scenarios for one in ([s] if isinstance(s, Scenario) else load_file(s))
        ]
        network = self._require()
        bar = tqdm(total=len(loaded), desc="calls", unit="call", disable=not progress)

        played = network.simulate_many(
            loaded, concurrency=concurrency, on_done=lambda _: bar.update()
        )
        try:
            return list(self._run(played))
        finally:
            bar.close()

    def call(self, number: str) -> CallResult:
        """Place an outbound call through the server's ``/outbound``; the carrier's callee
        listens to the bot's greeting and hangs up."""
        network = self._require()
        return self._run(network.call(number))

    def sweep(self, sweep_file: str | Path | Any, *, ray: str | None = None, **options: Any) -> Any:
        """Run a sweep (see :func:`voicelab.sweep`) from this lab's settings, into its
        recordings directory unless ``store=`` says otherwise. Each variant gets a lab of
        its own (its settings differ); without Ray they share this lab's models.

        Returns:
            A :class:`voicelab.sweeps.SweepResult` (``.compare()``, ``.turns_df()``).
        """
        from voicelab.sweeps import sweep

        if ray is None:
            options.setdefault("models", self.models)
        return sweep(sweep_file, settings=self.settings, ray=ray, **options)

    def turns_df(self) -> pd.DataFrame:
        """Every call recorded under this lab's recordings directory, one row per turn."""
        from voicelab.analysis import turns_df

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return turns_df(self.recordings_dir)

    def _require(self) -> LocalNetwork:
        if self._network is None:
            self.start()
        assert self._network is not None
        return self._network

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self._network else "stopped"
        return f"<Lab {state} providers={self.settings.providers} recordings={self.recordings_dir}>"
