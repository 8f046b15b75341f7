"""``voicelab``: a thin command line over the library.

    voicelab serve      run the call server (the guide's API) for Twilio or the carrier
    voicelab demo       one simulated inbound call on the embedded offline stack
    voicelab simulate   many simulated calls from scenario files
    voicelab replay     a recorded call's caller played again; old and new replies side by side
    voicelab sweep      scenarios × variants × repeats from a sweep file, here or on Ray
    voicelab load       hundreds of light simulated callers on any Twilio agent: a load test
    voicelab call       an outbound call through the server's /outbound
    voicelab carrier    run the Twilio emulator on its own
    voicelab report     summary tables and an HTML report of recorded calls
    voicelab compare    a regression gate: NEW's latency and pass rates against BASE's
    voicelab init       a starter project: personas, scenarios, plugin tests, .env.example
    voicelab extras     which optional parts are installed, and how to add the others

Bad input is a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from voicelab._bundles import BUNDLES
from voicelab.config import Settings, load_settings, secret_value
from voicelab.errors import VoicelabError

__all__ = ["app"]

app = typer.Typer(
    help="voicelab: a lab for AI phone agents on Twilio + Pipecat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Show every log line (pipecat's DEBUG too) on stderr."),
]

_verbose = {"on": False}

# The agent options of the commands that place calls (simulate, replay).
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Call an agent already running there: any Twilio bot (TwiML webhook at /),"
        " voicelab's or not; a bot that records nothing here gets a black-box record.",
    ),
]
CarrierPortOption = Annotated[int, typer.Option(help="Carrier port with --server.")]
StatusCallbacksOption = Annotated[
    bool,
    typer.Option(
        "--status-callbacks/--no-status-callbacks",
        help="Send Twilio's status callbacks to SERVER/status-callback.",
    ),
]
# The names come from the bundles' table; another one is a one-line error, exit 2 (settings).
PROVIDERS_HELP = " | ".join(BUNDLES)
ProvidersOption = Annotated[str | None, typer.Option("--providers", help=f"{PROVIDERS_HELP}.")]
AgentOption = Annotated[
    str | None,
    typer.Option(
        "--agent",
        help="The in-process server's agent, module:factory (VOICELAB_AGENT; default the"
        " reference agent). Not with --server.",
    ),
]


@app.callback()
def _quiet_console() -> None:
    """Before any command imports pipecat (whose banner and DEBUG lines drowned the output):
    warnings only on the console, everything in the log file (``VOICELAB_LOG_DIR``)."""
    from voicelab.server.logging import use_console

    use_console("WARNING")


def _verbosity(verbose: bool) -> None:
    """``--verbose``: the console shows everything from here on."""
    from voicelab.server.logging import use_console

    if verbose:
        _verbose["on"] = True
        use_console("DEBUG")


def fail(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit with status 2."""
    typer.echo(f"voicelab: {message}", err=True)
    raise typer.Exit(2)


def agent_settings(providers: str | None, agent: str | None, server: str | None) -> Settings:
    """The settings of a command with the agent options (exit 2 on a contradiction)."""
    if agent is not None and server is not None:
        fail("--agent runs an agent in-process, --server calls one already running: give one")
    return settings_or_exit(providers=providers, agent=agent)


def settings_or_exit(**overrides: Any) -> Settings:
    if _verbose["on"]:
        overrides["log_level"] = "DEBUG"
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except VoicelabError as exc:
        fail(str(exc))


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(help="Interface to bind (0.0.0.0 for every interface, e.g. in a container)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    verbose: Verbose = False,
    test: Annotated[bool, typer.Option("--test", hidden=True)] = False,  # the old --verbose
) -> None:
    """Run the call server: Twilio webhooks, /outbound, /call-status, /health, /ws.

    The console shows a line per call and every warning; --verbose shows everything.
    """
    from voicelab.server.app import create_app
    from voicelab.server.logging import configure_logging
    from voicelab.server.runner import listen_socket, run_server

    settings = settings_or_exit(port=port)
    configure_logging(
        settings.log_dir,
        verbose=verbose or test or settings.log_level == "DEBUG",
        mask_numbers=settings.mask_phone_numbers,
    )
    try:
        sock = listen_socket(host, port)  # a taken port: one line now, not after the models
        server_app = create_app(settings, port=port)
    except VoicelabError as exc:  # e.g. a VOICELAB_AGENT that does not import
        fail(str(exc))
    # uvicorn.run with the server's limits (server/_http.py), but live calls end (reason
    # "shutdown", complete records) before uvicorn closes their websockets on SIGTERM/SIGINT.
    run_server(server_app, settings, sock, log_level="info")


@app.command()
def carrier(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8766,
    verbose: Verbose = False,
) -> None:
    """Run the Twilio REST emulator; point a server at it with VOICELAB_TWILIO_API_BASE."""
    from voicelab.simulator.carrier import run
    from voicelab.simulator.simulator import ScenarioAnswerer

    _verbosity(verbose)
    settings = settings_or_exit()
    if not settings.twilio_configured:
        fail("the carrier needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (any test values)")
    account, token = settings.twilio_account_sid, secret_value(settings.twilio_auth_token)
    assert account and token
    run(
        host,
        port,
        account_sid=account,
        auth_token=token,
        answerer=ScenarioAnswerer(settings.recordings_dir),
        recordings_root=settings.recordings_dir,
    )


@app.command()
def demo(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file to play (default: the packaged cold_food).")
    ] = None,
    providers: Annotated[
        str | None, typer.Option(help=f"{PROVIDERS_HELP} (default: settings).")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Start the server and the carrier in-process and place one simulated inbound call.

    Prints the transcript, the scenario's checks, the latency per turn and the files; exits
    1 when the call failed or a check did.
    """
    from voicelab._cli_output import print_call
    from voicelab.defaults import scenario_path

    _verbosity(verbose)
    settings = settings_or_exit(providers=providers)
    loaded = _load_scenarios([scenario or scenario_path("cold_food")])[0]
    typer.echo(f"voicelab demo: providers={settings.providers}, scenario={loaded.id}")
    try:
        call = asyncio.run(_simulate_one(settings, loaded))
    except VoicelabError as exc:  # e.g. cloud providers without their keys, a missing extra
        fail(str(exc))
    passed = print_call(call, loaded)
    if call.error or call.status != "completed" or not passed:
        raise typer.Exit(1)


@app.command()
def simulate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files or directories.")],
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            "--calls",
            min=1,
            max=1000,
            help="Calls per scenario; over 1, each scenario and check gets a pass rate.",
        ),
    ] = 1,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Calls at once.")] = 1,
    server: ServerOption = None,
    carrier_port: CarrierPortOption = 8766,
    status_callbacks: StatusCallbacksOption = True,
    providers: ProvidersOption = None,
    agent: AgentOption = None,
    allow_failed_checks: Annotated[
        bool,
        typer.Option(
            "--allow-failed-checks",
            help="Exit 0 even when an expect: check fails (a call that fails still exits 1).",
        ),
    ] = False,
    min_pass_rate: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Exit 1 only when a scenario passes in fewer than this share of its repeats.",
        ),
    ] = None,
    junit_xml: Annotated[
        Path | None, typer.Option(help="Write the checks as JUnit XML here (for CI).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write an HTML summary (pass rates, failures) here.")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run many simulated calls; prints a progress bar, each call's checks and a summary.

    Exits 1 when a call failed or one of its scenario's expect: checks did (with
    --min-pass-rate: when a scenario's pass rate is under it); 2 when eval: criteria need a
    judge that cannot be built.
    """
    from voicelab._cli_output import print_checks, print_pass_rates, print_summary
    from voicelab._cli_simulate import run_batch, write_suite_files

    _verbosity(verbose)
    for out in (junit_xml, html):
        if out is not None and not out.resolve().parent.is_dir():
            fail(f"no such directory for {out}: {out.resolve().parent}")
        if out is not None and out.is_dir():
            fail(f"{out} is a directory: name the file to write")
    settings = agent_settings(providers, agent, server)
    loaded = _load_scenarios(scenarios)
    results = asyncio.run(
        run_batch(
            settings,
            loaded,
            calls=repeat,
            concurrency=concurrency,
            server_url=server,
            carrier_port=carrier_port,
            status_callback_path="/status-callback" if status_callbacks else None,
        )
    )
    print_summary(results)
    played = [scenario for scenario in loaded for _ in range(repeat)]
    checks = print_checks(results, played)
    if checks is None:  # no judge for eval:/metrics: (the reason is printed)
        raise typer.Exit(2)
    passed = bool(checks["passed"].all())
    summary = write_suite_files(checks, junit_xml=junit_xml, html=html)
    if repeat > 1 or min_pass_rate is not None:
        passed = print_pass_rates(summary, min_pass_rate)
    if any(r.error for r in results) or not (passed or allow_failed_checks):
        raise typer.Exit(1)


@app.command()
def replay(
    call_dir: Annotated[
        Path,
        typer.Argument(
            metavar="CALL_DIR",
            help="A recorded call's directory (simulated, or a real call voicelab's server"
            " recorded), or a stereo WAV with the caller on one channel.",
        ),
    ],
    caller_channel: Annotated[
        int | None,
        typer.Option(min=0, max=1, help="A bare WAV's caller channel: 0 left (default), 1 right."),
    ] = None,
    server: ServerOption = None,
    carrier_port: CarrierPortOption = 8766,
    status_callbacks: StatusCallbacksOption = True,
    providers: ProvidersOption = None,
    agent: AgentOption = None,
    keep_scenario: Annotated[
        Path | None,
        typer.Option(
            help="Write the replay's scenario and clips here, to play again with"
            " `voicelab simulate` (default: a temporary directory)."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Play a recorded call's caller again, line by line with its timing and barge-ins.

    Prints each caller line with the original reply and voice-to-voice beside the new
    ones. Exits 1 when the new call failed, 2 on bad input.
    """
    from voicelab._cli_replay import print_replay, replay_call

    _verbosity(verbose)
    if not call_dir.exists():
        fail(f"no such call directory or WAV file: {call_dir}")
    settings = agent_settings(providers, agent, server)
    try:
        result = asyncio.run(
            replay_call(
                settings,
                call_dir,
                caller_channel=caller_channel,
                server_url=server,
                # In-process, the carrier takes any free port (it matters only to --server).
                carrier_port=carrier_port if server is not None else 0,
                status_callback_path="/status-callback" if status_callbacks else None,
                scenario_dir=keep_scenario,
            )
        )
    except VoicelabError as exc:
        fail(str(exc))
    print_replay(result)
    if result.call.error or result.call.status != "completed":
        raise typer.Exit(1)


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(metavar="SWEEP.yaml", help="The sweep file.")],
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run on Ray: 'local' starts a new cluster here, on 127.0.0.1; else an"
            " address to join ('auto': RAY_ADDRESS or the last 'ray start', 'ray://host:10001')."
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            help="Recordings store (default VOICELAB_RECORDINGS_DIR). With --ray,"
            " a path every node shares: workers write into it instead of copying back."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Calls at once (on Ray: per worker; default by providers)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=256, help="Ray workers per variant.")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Run a sweep; one progress bar over the grid, then the comparison table.

    A restart skips the cells already recorded in the store.
    """
    from voicelab.sweeps import sweep as run_sweep
    from voicelab.sweeps._report import sweep_report

    _verbosity(verbose)
    settings = settings_or_exit()
    try:
        result = run_sweep(
            sweep_file,
            settings=settings,
            store=store,
            ray=ray,
            concurrency=concurrency,
            workers=workers,
        )
    except VoicelabError as exc:
        fail(str(exc))
    typer.echo(sweep_report(result))
    if result.failures:
        raise typer.Exit(1)


@app.command()
def load(
    url: Annotated[
        str,
        typer.Argument(
            help="The agent's TwiML webhook, e.g. http://127.0.0.1:8765/ (voicelab serve's"
            " is its /): any Twilio-protocol agent."
        ),
    ],
    calls: Annotated[int, typer.Option("--calls", help="Simultaneous callers.")] = 10,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes the callers are split between (default: one per core)."
        ),
    ] = None,
    ramp: Annotated[
        float, typer.Option(help="Seconds over which the callers start (0: all at once).")
    ] = 0.0,
    duration: Annotated[float, typer.Option(help="Seconds each call is held.")] = 30.0,
    wav: Annotated[
        Path | None,
        typer.Option(help="What the callers say (any WAV; default: a line in the Piper voice)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    nice: Annotated[
        int | None,
        typer.Option(
            help="The workers' scheduling priority (e.g. -10 on a box shared with the agent:"
            " the generator keeps its frames on time; below 0 needs the privilege)."
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Load-test an agent: many callers at once, each saying a line every turn.

    Prints calls held, v2v p50/p95 under load, underruns, errors, and the generator's own
    frame-pacing jitter and CPU per caller, with a warning when a worker was saturated.
    Webhooks and streams are signed with TWILIO_AUTH_TOKEN (and carry TWILIO_ACCOUNT_SID)
    when set, as voicelab's own server expects. Exits 1 when a call failed or was not held.
    """
    from voicelab.load import LoadPlan, caller_line, default_workers, run_load
    from voicelab.telephony.ids import DEFAULT_TWILIO_NUMBER

    _verbosity(verbose)
    if json_path is not None and not json_path.resolve().parent.is_dir():
        fail(f"no such directory for {json_path}: {json_path.resolve().parent}")
    if json_path is not None and json_path.is_dir():
        fail(f"{json_path} is a directory: name the file to write")
    if wav is not None and not wav.is_file():
        fail(f"no such WAV file: {wav}")
    settings = settings_or_exit()
    try:
        plan = LoadPlan(
            url=url,
            calls=calls,
            workers=workers if workers is not None else min(default_workers(), max(calls, 1)),
            ramp_s=ramp,
            duration_s=duration,
            account_sid=settings.twilio_account_sid or LoadPlan.account_sid,
            auth_token=secret_value(settings.twilio_auth_token) or "",
            to_number=settings.twilio_phone_number or DEFAULT_TWILIO_NUMBER,
            nice=nice,
        )
        line = caller_line(wav)
    except VoicelabError as exc:
        fail(str(exc))
    typer.echo(
        f"voicelab load: {plan.calls} callers on {plan.workers} workers, ramp {plan.ramp_s:g} s,"
        f" {plan.duration_s:g} s each, a {line.seconds:.1f} s line"
    )
    try:
        report = run_load(plan, line)
    except VoicelabError as exc:
        fail(str(exc))
    typer.echo(report.to_text())
    if json_path is not None:
        report.write_json(json_path)
        typer.echo(f"JSON: {json_path}")
    if report.errors or report.held < report.calls:
        raise typer.Exit(1)


@app.command()
def call(
    number: Annotated[str, typer.Argument(help="E.164 number to call, e.g. +15551234567.")],
    server: Annotated[
        str | None, typer.Option(help="Server URL (default: an in-process one).")
    ] = None,
    from_number: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Caller ID, E.164 (default: the server's TWILIO_PHONE_NUMBER).",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Place an outbound call through the server's /outbound.

    With real Twilio credentials and --server, a real phone rings. Without
    credentials, the call goes through the carrier and a simulated callee answers.
    The server's API key is read from VOICELAB_API_KEY (environment or .env).
    """
    from voicelab._cli_simulate import place_call
    from voicelab.telephony.ids import is_e164

    _verbosity(verbose)
    for value in (number, from_number):
        if value is not None and not is_e164(value):
            fail(f"{value!r} is not an E.164 number like +15551234567")
    settings = settings_or_exit()
    if server is None and settings.twilio_configured and not settings.twilio_api_base:
        fail(
            "real Twilio credentials are configured: run `voicelab serve` where Twilio can "
            "reach it (VOICELAB_PUBLIC_URL) and pass --server URL; unset them to call through "
            "the emulator"
        )
    asyncio.run(place_call(settings, number, server, from_number=from_number))


@app.command()
def report(
    directory: Annotated[
        Path, typer.Argument(help="Recordings root, searched at any depth.")
    ] = Path("recordings"),
    by: Annotated[
        str | None,
        typer.Option(
            help="Group by a calls_df column or an alias: scenario, persona, prompt, stt, "
            "llm, tts (e.g. --by scenario, --by variant)."
        ),
    ] = None,
    max_calls: Annotated[
        int, typer.Option(min=0, help="Calls given their own row on the page (failing first).")
    ] = 200,
) -> None:
    """Print a summary and write report.html: checks, calls with transcripts, latency."""
    import warnings

    from voicelab.analysis import CallRecordWarning, build_report

    if not directory.is_dir():
        fail(f"no such directory: {directory}")
    try:
        with warnings.catch_warnings():
            # The report lists every unreadable record itself (printed below).
            warnings.simplefilter("ignore", CallRecordWarning)
            result = build_report(directory, by=by, max_calls=max_calls)
    except VoicelabError as exc:
        fail(str(exc))
    typer.echo(result.to_text())
    if result.html_path is None:
        raise typer.Exit(1)


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="The project's directory (created when missing).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the starter's files where they exist.")
    ] = False,
) -> None:
    """Write a starter project: personas, two scenarios, plugin tests, .env.example, README.

    It passes its own tests with the commands it prints. Existing files are left alone (exit 2)
    unless --force.
    """
    from voicelab._starter import starter_commands, write_starter

    try:
        written = write_starter(directory, force=force)
    except VoicelabError as exc:
        fail(str(exc))
    typer.echo(f"voicelab init: wrote {len(written)} files in {directory}")
    for path in written:
        typer.echo(f"  {path.relative_to(directory)}")
    typer.echo("\nRun its tests:")
    for command in starter_commands(directory):
        typer.echo(f"  {command}")


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="The reference run's recordings (e.g. main's).")],
    new: Annotated[Path, typer.Argument(help="The run under test (e.g. a branch's).")],
    confidence: Annotated[
        float, typer.Option(min=0.5, max=0.999, help="Confidence of the intervals.")
    ] = 0.95,
) -> None:
    """A regression gate: latency p50/p95 and pass rates per scenario, NEW vs BASE.

    Each difference gets a bootstrap interval; exits 1 only where NEW is worse beyond it.
    """
    from voicelab.analysis.regression import regression_gate

    for path in (base, new):
        if not path.is_dir():
            fail(f"no such directory: {path}")
    try:
        gate = regression_gate(base, new, confidence=confidence)
    except VoicelabError as exc:
        fail(str(exc))
    if gate.empty:
        fail(f"no scenario was played in both {base} and {new}: nothing to compare")
    shown = gate.copy()
    shown["worse"] = shown["worse"].map({True: "WORSE", False: ""})
    typer.echo(shown.round(3).to_string(index=False, na_rep="-"))
    worse = gate[gate["worse"]]
    if not worse.empty:
        typer.echo(f"\n{len(worse)} of {len(gate)} figures are worse beyond their interval")
        raise typer.Exit(1)
    typer.echo(f"\nno figure is worse beyond its {confidence:.0%} interval")


@app.command()
def extras(
    cmake_args: Annotated[
        bool, typer.Option("--cmake-args", help="Print only llama.cpp's build flags.")
    ] = False,
) -> None:
    """Which of voicelab's optional parts are installed, and the command for each missing one."""
    from voicelab._extras import EXTRAS, install_command, llama_cmake_args

    if cmake_args:
        typer.echo(llama_cmake_args())
        return
    for name, extra in EXTRAS.items():
        mark = "installed" if extra.installed else "missing  "
        typer.echo(f"{name:<9} {mark}  {extra.gives}")
        if not extra.installed:
            typer.echo(f"{'':<21}{install_command(name)}")


def _load_scenarios(paths: list[Path]) -> list[Any]:
    from voicelab.simulator.scenario import load_scenarios

    try:
        return list(load_scenarios(paths))
    except VoicelabError as exc:
        fail(str(exc))


async def _simulate_one(settings: Settings, scenario: Any) -> Any:
    from voicelab.network import LocalNetwork

    async with LocalNetwork(settings) as network:
        return await network.simulate(scenario)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
