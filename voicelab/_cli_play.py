"""Commands that place simulated calls: a demo call, scenario files, a replayed call, a
sweep, a load test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from voicelab._cli_app import (
    PROVIDERS_HELP,
    AgentOption,
    CarrierPortOption,
    ProvidersOption,
    ServerOption,
    StatusCallbacksOption,
    Verbose,
    agent_settings,
    app,
    fail,
    settings_or_exit,
    verbosity,
)
from voicelab.config import Settings, secret_value
from voicelab.errors import CarrierError, VoicelabError

__all__ = ["demo", "load", "replay", "simulate", "sweep"]


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

    verbosity(verbose)
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

    verbosity(verbose)
    for out in (junit_xml, html):
        if out is not None and not out.resolve().parent.is_dir():
            fail(f"no such directory for {out}: {out.resolve().parent}")
        if out is not None and out.is_dir():
            fail(f"{out} is a directory: name the file to write")
    settings = agent_settings(providers, agent, server)
    loaded = _load_scenarios(scenarios)
    try:
        results = asyncio.run(
            run_batch(
                settings,
                loaded,
                calls=repeat,
                concurrency=concurrency,
                server_url=server,
                # In-process, the carrier takes any free port (it matters only to --server):
                # a fixed one made two simulate runs at once fail on "address in use".
                carrier_port=carrier_port if server is not None else 0,
                status_callback_path="/status-callback" if status_callbacks else None,
            )
        )
    except CarrierError as exc:  # the carrier could not start: --carrier-port is taken
        fail(f"{exc} (--carrier-port)")
    except VoicelabError as exc:
        fail(str(exc))
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

    verbosity(verbose)
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

    verbosity(verbose)
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

    verbosity(verbose)
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
