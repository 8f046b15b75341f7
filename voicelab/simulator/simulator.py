"""Places scenario calls against a call server through the carrier, like real phones would.

Inbound: the carrier "rings" the server's incoming webhook, as Twilio does when
someone dials the Twilio number. Outbound: the server's own ``POST /outbound``
places the call through its twilio SDK client, which reaches the carrier
(``VOICELAB_TWILIO_API_BASE``). Either way the server sees signed webhooks, a
signed media websocket and status callbacks, and nothing else.

The server may be any bot that speaks Twilio's protocol. When no voicelab server
recorded a call in the recordings directory, the simulator writes its manifest
itself (:mod:`voicelab.simulator._black_box`), so the loaders read it all the same.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from loguru import logger

from voicelab._tls import tls_context
from voicelab.errors import ServerRequestError
from voicelab.recording.store import CallRecord, find_call_dir
from voicelab.simulator._black_box import write_black_box_manifest
from voicelab.simulator._call_result import CallResult
from voicelab.simulator._carrier_line import PickUp
from voicelab.simulator._scenario_line import ScenarioLine
from voicelab.simulator._scenario_script import Party
from voicelab.simulator._script import Action
from voicelab.simulator.caller import CallerResult, MediaStreamsCaller, new_session
from voicelab.simulator.carrier import TERMINAL_STATUSES, Carrier, StreamSession
from voicelab.simulator.models import CallerModels
from voicelab.simulator.voices import CallerVoice
from voicelab.telephony.ids import STATUS_CALLBACK_EVENTS

__all__ = ["CallResult", "ScenarioAnswerer", "SimulatedCall", "Simulator"]


SimulatedCall = CallResult
"""The simulator's old name for :class:`CallResult` (the same class)."""


@dataclass
class _Payload:
    """What the carrier hands the answerer with a call: the scenario and its audio."""

    scenario: Any
    actions: list[Action]
    result: CallerResult | None = None
    # More call.json fields, written with the scenario (a sweep's cell, its runner).
    manifest: dict[str, Any] = field(default_factory=dict)
    after_transfer: list[Action] | None = None
    parties: dict[str, Party] = field(default_factory=dict)


class ScenarioAnswerer:
    """The carrier's answerer for simulations: plays each call's scenario.

    Give it to the :class:`Carrier` (``Carrier(..., answerer=ScenarioAnswerer(root))``);
    :class:`Simulator` attaches the scenario and its synthesised audio to each call. The
    carrier asks it to :meth:`pick_up` each answered call: the scenario's party is then on
    the line for the whole call (a :class:`~._scenario_line.ScenarioLine`), streams or not.

    Args:
        recordings_dir: Root of the call directories.
        transcribe_heard: Have each caller transcribe what it heard, after its call (see
            :class:`MediaStreamsCaller`): for agents that record nothing here.
        models: The callers' models (their ears); default ones of this answerer's own.
    """

    def __init__(
        self,
        recordings_dir: Path,
        *,
        transcribe_heard: bool = False,
        models: CallerModels | None = None,
    ) -> None:
        self.recordings_dir = recordings_dir
        self.transcribe_heard = transcribe_heard
        self.models = models if models is not None else CallerModels()

    async def pick_up(self, call: PickUp) -> ScenarioLine:
        """The call was answered: the scenario's party is on the line until it ends."""
        payload = await self._payload(call.call_sid, call.scenario)
        caller = MediaStreamsCaller(
            payload.actions, transcribe_heard=self.transcribe_heard, models=self.models
        )
        session = new_session(caller.config, self.recordings_dir, call.call_sid, payload.actions)
        rate, variation = 1.0, 0.0
        if payload.scenario is not None:
            rate = payload.scenario.caller.speaking_rate
            variation = payload.scenario.caller.voice_variation
        line = ScenarioLine(
            session,
            payload.actions,
            after_transfer=payload.after_transfer,
            parties=payload.parties,
            voice=CallerVoice(rate, variation, models=self.models),
            done=lambda result: setattr(payload, "result", result),
        )
        line.start()
        return line

    async def _payload(self, call_sid: str, scenario: Any) -> _Payload:
        payload = scenario
        if not isinstance(payload, _Payload):
            logger.warning(f"call {call_sid} has no scenario: the caller stays silent")
            payload = _Payload(scenario=None, actions=[])
        if payload.scenario is not None:
            record = CallRecord.open(self.recordings_dir, call_sid, "caller")
            # The CallSid first: a record cut short still loads, whoever the agent is.
            await asyncio.to_thread(
                record.update_manifest,
                call_sid=call_sid,
                scenario=payload.scenario.manifest(),
                **payload.manifest,
            )
            # On disk before the stream starts: the server reads the scenario's tool mocks
            # from it when it builds the call's agent.
            await record.aflush()
        return payload

    async def __call__(self, session: StreamSession) -> None:
        """One stream on its own (a carrier that never asks :meth:`pick_up`)."""
        payload = await self._payload(session.call_sid, session.scenario)
        caller = MediaStreamsCaller(
            payload.actions,
            recordings_dir=self.recordings_dir,
            transcribe_heard=self.transcribe_heard,
            models=self.models,
        )
        payload.result = await caller.run(
            session.url,
            call_sid=session.call_sid,
            stream_sid=session.stream_sid,
            account_sid=session.account_sid,
            custom_parameters=session.custom_parameters,
            headers=session.headers,
            hangup=session.hangup,
        )


class Simulator:
    """Runs scenarios against a server, through a carrier that answers as the scenario says.

    Args:
        server_url: The call server's base URL (``http://127.0.0.1:8765``).
        carrier: A started :class:`Carrier` built with a :class:`ScenarioAnswerer`.
        recordings_dir: Where caller-side records go (the server's own, when local).
        twilio_number: The number the server answers (inbound calls dial it).
        call_timeout_s: Longest a call may take before the simulation gives up.
        complete: The LLM goal-driven callers improvise with (see
            :func:`voicelab.simulator.scenario.default_completer`).
        api_key: The server's ``VOICELAB_API_KEY``, sent with ``POST /outbound`` (a
            server with a key refuses outbound calls without it).
        status_callback_path: Where inbound calls send Twilio's status callbacks, under
            ``server_url``; ``None`` sends none (a bot without such a route).
        models: The callers' models (voice, and the default LLM's SmolLM2): give the
            carrier's :class:`ScenarioAnswerer` the same ones. Default: ones of its own.
    """

    _numbers = itertools.count(1)

    def __init__(
        self,
        server_url: str,
        carrier: Carrier,
        *,
        recordings_dir: Path,
        twilio_number: str,
        call_timeout_s: float = 180.0,
        complete: Any = None,
        api_key: str | None = None,
        status_callback_path: str | None = "/status-callback",
        models: CallerModels | None = None,
    ) -> None:
        self.models = models if models is not None else CallerModels()
        self.server_url = server_url.rstrip("/")
        self.status_callback_path = status_callback_path
        self.carrier = carrier
        self.recordings_dir = recordings_dir
        self.twilio_number = twilio_number
        self.call_timeout_s = call_timeout_s
        self.complete = complete
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def run(self, scenario: Any, manifest: dict[str, Any] | None = None) -> CallResult:
        """Play ``scenario`` (a :class:`voicelab.simulator.scenario.Scenario`) once.

        ``manifest``: more top-level ``call.json`` fields, written with the scenario when
        the call is answered (a sweep's ``sweep`` and ``runner``).
        """
        actions = await asyncio.to_thread(
            scenario.actions, complete=self.complete, models=self.models
        )
        after, parties = await asyncio.to_thread(scenario.transfer_script, models=self.models)
        payload = _Payload(
            scenario, actions, manifest=dict(manifest or {}), after_transfer=after, parties=parties
        )
        return await self._play(scenario.id, payload, scenario)

    async def call(self, number: str) -> CallResult:
        """Have the server call ``number`` (``POST /outbound``); the callee only listens."""
        return await self._play(f"call {number}", _Payload(None, []), None, number=number)

    async def _play(
        self, name: str, payload: _Payload, scenario: Any, number: str | None = None
    ) -> CallResult:
        started = time.perf_counter()
        call = CallResult(scenario_id=name)
        try:
            if scenario is None or scenario.direction == "outbound":
                outcome = scenario.outcome if scenario is not None else "answer"
                call.call_sid = await self._place_outbound(outcome, payload, number)
            else:
                call.call_sid = await self.carrier.ring(
                    self.server_url + "/",
                    to=self.twilio_number,
                    from_=scenario.caller.number,
                    status_callback=(
                        self.server_url + self.status_callback_path
                        if self.status_callback_path
                        else None
                    ),
                    status_callback_events=STATUS_CALLBACK_EVENTS,
                    scenario=payload,
                )
            call.status = await self.carrier.wait_for_status(
                call.call_sid, TERMINAL_STATUSES, timeout=self.call_timeout_s
            )
        except Exception as exc:  # one failed call must not stop a batch
            call.error = f"{type(exc).__name__}: {exc}"
            logger.error(f"scenario {scenario.id}: {call.error}")
        if call.call_sid:
            carrier_call = self.carrier.calls.get(call.call_sid)
            if carrier_call is not None:
                call.status_history = list(carrier_call.status_history)
            call.directory = await self._wait_for_record(call.call_sid)
            if call.directory is not None and carrier_call is not None:
                # After the server's record has ended: a voicelab server's stays its own.
                await write_black_box_manifest(
                    call.directory, carrier_call, payload.result, self.server_url
                )
        call.caller = payload.result
        call.seconds = round(time.perf_counter() - started, 2)
        return call

    async def _place_outbound(self, outcome: str, payload: _Payload, number: str | None) -> str:
        # A number of its own per call, so concurrent calls never share a script.
        number = number or f"+1555{next(self._numbers) % 10_000_000:07d}"
        self.carrier.script_destination(number, outcome=outcome, scenario=payload)
        async with httpx.AsyncClient(timeout=30, verify=tls_context()) as client:
            response = await client.post(
                self.server_url + "/outbound", json={"to_number": number}, headers=self._headers
            )
        if response.status_code != 200:
            raise ServerRequestError(
                f"POST /outbound answered {response.status_code}: {response.text}",
                status=response.status_code,
            )
        return str(response.json()["call_sid"])

    async def _wait_for_record(self, call_sid: str, timeout: float = 15.0) -> Path | None:
        """Wait until the server has closed the call's record (it ends after the caller)."""
        deadline = time.monotonic() + timeout
        directory = None
        while time.monotonic() < deadline:
            directory = find_call_dir(self.recordings_dir, call_sid)
            if directory is None or _server_ended(directory):
                return directory
            await asyncio.sleep(0.1)
        return directory


def _server_ended(directory: Path) -> bool:
    """Whether the call was never answered or the server has written ``call.ended``."""
    events = directory / "events.jsonl"
    if not events.exists():
        return True
    answered = False
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event["source"] == "server" and event["type"] == "call.started":
            answered = True
        if event["source"] == "server" and event["type"] == "call.ended":
            return True
    return not answered
