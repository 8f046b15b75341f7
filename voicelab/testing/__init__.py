"""pytest fixtures and assertions for regression tests of a phone agent.

A scenario file (``evals/scenarios/*.yaml``) says what the caller does and what the bot
must do (its ``expect:`` list). With this plugin, a test plays it against the real call
server and checks it::

    from voicelab.testing import assert_expectations, assert_latency, assert_replied


    def test_cold_food(simulate):
        call = simulate("evals/scenarios/cold_food.yaml")
        assert call.status == "completed"
        assert_expectations(call)  # the scenario's own expect: entries
        assert_replied(call, 2, contains=["goodbye", "thank"])
        assert_latency(call, 3.0)  # every reply, caller-side voice-to-voice

pytest loads the plugin through voicelab's ``pytest11`` entry point (or ``-p
voicelab.testing``). It adds:

Fixtures:
    ``voicelab_providers`` (session): the provider set, from ``--voicelab-providers``, the
    ``voicelab_providers`` ini option, or ``None`` (the settings decide). Override it in a
    ``conftest.py`` to change a suite's default.
    ``voicelab_agent`` (session): the agent the lab's server runs, from ``--voicelab-agent``,
    the ``voicelab_agent`` ini option, or ``None`` (``VOICELAB_AGENT``, else the reference
    agent). Override it in a ``conftest.py`` to return your factory itself
    (see :mod:`voicelab.bot.agent`).
    ``voicelab_settings`` (session): the :class:`~voicelab.config.Settings` of the lab, with
    recordings in a session temporary directory unless ``--voicelab-recordings DIR``.
    ``voicelab_models`` (session): the :class:`~voicelab.network.LabModels` the lab loads
    its models into, once for the session. Override it in a ``conftest.py`` to share the
    models of your own labs with the plugin's.
    ``voicelab_lab`` (session): a started :class:`~voicelab.lab.Lab` (the call server and
    the Twilio emulator, in this process) owning ``voicelab_models``, stopped at the end
    of the session.
    ``voicelab_server`` (session): its base URL.
    ``simulate`` (function): ``simulate(scenario) -> CallResult`` plays a scenario (a path,
    relative to the working directory or the rootdir, or a ``Scenario``) once.
    ``simulate_repeat`` (function): ``simulate_repeat(scenario, repeat, concurrency=1)``
    plays it ``repeat`` times; :func:`assert_pass_rate` then requires a pass rate
    (``min_pass_rate``) and :func:`assert_no_regression` compares a records tree with a
    stored baseline (the gate of ``voicelab compare``).

Options:
    ``--voicelab-providers {offline,scripted,cloud,instant}`` and ``--voicelab-recordings DIR``
    (ini: ``voicelab_providers``, ``voicelab_recordings``); ``--voicelab-api-key KEY``
    (default: ``VOICELAB_API_KEY``; no ini key, a secret belongs in the environment): the
    lab's server then requires it, and the lab's clients send it.
    ``--voicelab-agent MODULE:FACTORY`` (ini: ``voicelab_agent``): the agent of the lab's
    server, imported when the lab starts (a broken one fails the first test that needs it
    with one line naming ``VOICELAB_AGENT``).

Importing this module loads neither pipecat nor pandas and starts nothing: the server
starts the first time a test asks for ``voicelab_lab`` (or a fixture built on it). The
checking functions work without pytest, e.g. in a notebook: :func:`expectation_checks`
gives one row per check of many calls, :func:`regression_summary` one row per call.
When a test that placed calls fails, the report lists their call directories.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicelab._bundles import BUNDLES
from voicelab.testing._checks import (
    CallLike,
    assert_expectations,
    assert_latency,
    assert_replied,
    expectation_checks,
    regression_summary,
)
from voicelab.testing._suite import (
    SuiteSummary,
    assert_no_regression,
    assert_pass_rate,
    summarize_suite,
    write_junit_xml,
    write_summary_html,
)

try:
    import pytest
except ModuleNotFoundError:  # pragma: no cover - the checks work without pytest
    pytest = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from voicelab.bot.agent import AgentSpec
    from voicelab.config import Settings
    from voicelab.lab import CallResult, Lab
    from voicelab.network import LabModels
    from voicelab.simulator.scenario import Scenario

__all__ = [
    "CallLike",
    "SuiteSummary",
    "assert_expectations",
    "assert_latency",
    "assert_no_regression",
    "assert_pass_rate",
    "assert_replied",
    "expectation_checks",
    "regression_summary",
    "summarize_suite",
    "write_junit_xml",
    "write_summary_html",
]


# --- the pytest plugin -----------------------------------------------------------------


def _resolve(scenario: str | os.PathLike[str], rootdir: Path) -> Path:
    path = Path(scenario)
    if path.is_absolute() or path.exists() or not (rootdir / path).exists():
        return path
    return rootdir / path


if pytest is not None:
    _CALLS = pytest.StashKey[list[Any]]()

    def pytest_addoption(parser: pytest.Parser) -> None:
        """Register ``--voicelab-providers`` and ``--voicelab-recordings`` (and ini keys)."""
        group = parser.getgroup("voicelab", "voicelab: simulated calls against the call server")
        group.addoption(
            "--voicelab-providers",
            choices=list(BUNDLES),
            default=None,
            help="provider set of the voicelab_lab fixture (default: settings/environment)",
        )
        group.addoption(
            "--voicelab-recordings",
            metavar="DIR",
            default=None,
            help="keep the calls' recordings in DIR (default: a session temporary directory)",
        )
        group.addoption(
            "--voicelab-api-key",
            metavar="KEY",
            default=None,
            help="the lab server's API key, sent by its clients (default: VOICELAB_API_KEY)",
        )
        parser.addini("voicelab_providers", "default of --voicelab-providers", default="")
        group.addoption(
            "--voicelab-agent",
            metavar="MODULE:FACTORY",
            default=None,
            help="the agent of the lab's server (default: VOICELAB_AGENT, else the reference)",
        )
        parser.addini("voicelab_recordings", "default of --voicelab-recordings", default="")
        parser.addini("voicelab_agent", "default of --voicelab-agent", default="")

    @pytest.fixture(scope="session")
    def voicelab_agent(pytestconfig: pytest.Config) -> AgentSpec | None:
        """The lab's agent: ``--voicelab-agent``, the ini value, or ``None`` (settings)."""
        chosen = pytestconfig.getoption("voicelab_agent")
        return str(chosen or pytestconfig.getini("voicelab_agent") or "") or None

    @pytest.fixture(scope="session")
    def voicelab_providers(pytestconfig: pytest.Config) -> str | None:
        """The provider set: ``--voicelab-providers``, the ini value, or ``None`` (settings)."""
        chosen = pytestconfig.getoption("voicelab_providers")
        return str(chosen or pytestconfig.getini("voicelab_providers") or "") or None

    @pytest.fixture(scope="session")
    def voicelab_settings(
        pytestconfig: pytest.Config,
        tmp_path_factory: pytest.TempPathFactory,
        voicelab_providers: str | None,
    ) -> Settings:
        """Settings of the session's lab: environment and ``.env``, with the options applied."""
        from voicelab.config import load_settings

        overrides: dict[str, Any] = {}
        if voicelab_providers:
            overrides["providers"] = voicelab_providers
        if api_key := pytestconfig.getoption("voicelab_api_key"):
            overrides["api_key"] = api_key
        recordings = pytestconfig.getoption("voicelab_recordings") or pytestconfig.getini(
            "voicelab_recordings"
        )
        if recordings:
            overrides["recordings_dir"] = Path(recordings).resolve()
        else:
            overrides["recordings_dir"] = tmp_path_factory.mktemp("voicelab-recordings")
        return load_settings(**overrides)

    @pytest.fixture(scope="session")
    def voicelab_models() -> LabModels:
        """The session lab's models (the server's pool and the callers'), loaded once."""
        from voicelab.network import LabModels

        return LabModels()

    @pytest.fixture(scope="session")
    def voicelab_lab(
        voicelab_settings: Settings, voicelab_agent: AgentSpec | None, voicelab_models: LabModels
    ) -> Iterator[Lab]:
        """The call server and the Twilio emulator, started once for the session."""
        from voicelab.lab import Lab

        lab = Lab(voicelab_settings, agent=voicelab_agent, models=voicelab_models)
        lab.start()
        try:
            yield lab
        finally:
            lab.stop()

    @pytest.fixture(scope="session")
    def voicelab_server(voicelab_lab: Lab) -> str:
        """The session's call server base URL, e.g. ``http://127.0.0.1:54321``."""
        return voicelab_lab.url

    @pytest.fixture
    def simulate(
        voicelab_lab: Lab, request: pytest.FixtureRequest
    ) -> Callable[[str | os.PathLike[str] | Scenario], CallResult]:
        """``simulate(scenario) -> CallResult``: play a scenario once against the lab."""
        from voicelab.lab import CallResult
        from voicelab.simulator.scenario import Scenario, load_scenario

        placed = request.node.stash.setdefault(_CALLS, [])
        rootdir = request.config.rootpath

        def run(scenario: str | os.PathLike[str] | Scenario) -> CallResult:
            loaded = (
                scenario
                if isinstance(scenario, Scenario)
                else load_scenario(_resolve(scenario, rootdir))
            )
            result = voicelab_lab.simulate(loaded, progress=False)
            assert isinstance(result, CallResult)
            placed.append(result)
            return result

        return run

    @pytest.fixture
    def simulate_repeat(
        voicelab_lab: Lab, request: pytest.FixtureRequest
    ) -> Callable[..., list[CallResult]]:
        """``simulate_repeat(scenario, repeat, concurrency=1) -> list[CallResult]``: play a
        scenario ``repeat`` times, for :func:`assert_pass_rate`."""
        from voicelab.simulator.scenario import Scenario, load_scenario

        placed = request.node.stash.setdefault(_CALLS, [])
        rootdir = request.config.rootpath

        def run(
            scenario: str | os.PathLike[str] | Scenario, repeat: int, concurrency: int = 1
        ) -> list[CallResult]:
            if repeat < 1:
                raise ValueError(f"repeat must be at least 1, not {repeat}")
            loaded = (
                scenario
                if isinstance(scenario, Scenario)
                else load_scenario(_resolve(scenario, rootdir))
            )
            results = voicelab_lab.simulate_many(
                [loaded] * repeat, concurrency=concurrency, progress=False
            )
            placed.extend(results)
            return results

        return run

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Name the call directories of a failed test's simulated calls in its report."""
        report = yield
        placed = item.stash.get(_CALLS, [])
        if placed and report.failed:
            lines = [f"{c.scenario_id}: {c.status} {c.call_sid} -> {c.directory}" for c in placed]
            report.sections.append(("voicelab calls", "\n".join(lines)))
        return report
