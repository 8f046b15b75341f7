"""The async work behind ``voicelab simulate`` and ``voicelab call``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import typer
from tqdm.auto import tqdm

from voicelab._tls import tls_context
from voicelab.config import Settings, secret_value
from voicelab.network import LocalNetwork
from voicelab.simulator.simulator import CallResult
from voicelab.telephony.ids import FINAL_CALL_STATUSES

if TYPE_CHECKING:
    import pandas as pd

    from voicelab.testing._suite import SuiteSummary

__all__ = ["place_call", "run_batch", "write_suite_files"]


async def run_batch(
    settings: Settings,
    scenarios: Sequence[Any],
    *,
    calls: int,
    concurrency: int,
    server_url: str | None = None,
    carrier_port: int = 0,
    status_callback_path: str | None = "/status-callback",
    manifest: dict[str, Any] | None = None,
) -> list[CallResult]:
    """Play every scenario ``calls`` times, ``concurrency`` at once, with a progress bar.

    With ``server_url``, the agent there may be any Twilio bot (see :class:`LocalNetwork`);
    ``status_callback_path=None`` sends it no status callbacks. ``manifest`` adds top-level
    ``call.json`` fields to every call (``voicelab replay``'s ``replay``).
    """
    network = LocalNetwork(
        settings,
        server_url=server_url,
        carrier_port=carrier_port,
        status_callback_path=status_callback_path,
    )
    async with network:
        progress = tqdm(total=len(scenarios) * calls, desc="calls", unit="call")
        try:
            return await network.simulate_many(
                [scenario for scenario in scenarios for _ in range(calls)],
                concurrency=concurrency,
                manifest=manifest,
                on_done=lambda _: progress.update(),
            )
        finally:
            progress.close()


def write_suite_files(
    checks: pd.DataFrame, *, junit_xml: Path | None = None, html: Path | None = None
) -> SuiteSummary:
    """The suite's pass rates (from its checks), written as JUnit XML and an HTML page where
    asked."""
    from voicelab.testing._suite import summarize_suite, write_junit_xml, write_summary_html

    summary = summarize_suite(checks)
    if junit_xml is not None:
        write_junit_xml(summary, junit_xml)
        typer.echo(f"JUnit XML: {junit_xml}")
    if html is not None:
        write_summary_html(summary, html)
        typer.echo(f"HTML summary: {html}")
    return summary


async def place_call(
    settings: Settings, number: str, server_url: str | None, *, from_number: str | None = None
) -> None:
    """POST /outbound and follow the call's status until it ends.

    The server's ``VOICELAB_API_KEY`` (from these settings) goes with every request.
    """
    if server_url is not None:
        key = secret_value(settings.api_key)
        await _follow(server_url, number, key, from_number)
        return
    if from_number is not None:
        settings = settings.model_copy(update={"twilio_phone_number": from_number})
    # No server given: an in-process one, through the carrier; the callee listens.
    from voicelab._cli_output import print_call

    async with LocalNetwork(settings) as network:
        print_call(await network.call(number))


async def _follow(
    server_url: str,
    number: str,
    api_key: str | None,
    from_number: str | None = None,
    timeout_s: float = 600.0,
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {"to_number": number} | ({"from_number": from_number} if from_number else {})
    async with httpx.AsyncClient(
        base_url=server_url, timeout=30, headers=headers, verify=tls_context()
    ) as client:
        response = await client.post("/outbound", json=body)
        body = response.json()
        if response.status_code != 200:
            typer.echo(
                f"voicelab: /outbound answered {response.status_code}: {body.get('detail')}",
                err=True,
            )
            raise typer.Exit(2 if response.status_code == 422 else 1)
        typer.echo(f"call {body['call_sid']} to {body['to']}: {body['status']}")
        last, waited = body["status"], 0.0
        while last not in FINAL_CALL_STATUSES and waited < timeout_s:
            await asyncio.sleep(1.0)
            waited += 1.0
            status = (await client.get(f"/call-status/{body['call_sid']}")).json()
            if status.get("status") != last:
                last = status.get("status")
                typer.echo(f"  {last} (duration {status.get('duration')})")
