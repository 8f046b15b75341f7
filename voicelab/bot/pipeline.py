"""The single pipeline factory: one Twilio call = one pipecat pipeline.

``transport in → fallback speaker → <the agent's processors> → transport out → stereo
recorder → <the agent's after-output processors>``, at 16 kHz into the agent (Whisper is
useless at 8 kHz; the serializer resamples the phone audio) and 8 kHz out. The agent
(:mod:`voicelab.bot.agent`; by default the reference agent, ``STT → user aggregator →
LLM → TTS`` + assistant aggregator) is built per call; everything around it is the same
for every agent.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import WebSocket
from loguru import logger
from pipecat.frames.frames import Frame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner

from voicelab._process import quiet_onnxruntime
from voicelab.bot.agent import (
    Agent,
    AgentContext,
    AgentParts,
    agent_name,
    build_agent_parts,
    load_agent,
)
from voicelab.bot.call import CallInfo
from voicelab.bot.ending import CallEnder, HangUpWatch
from voicelab.bot.faults import CallGuards, service_kind
from voicelab.bot.mocking import MockedTools
from voicelab.bot.models import ModelPool
from voicelab.bot.observer_group import ObserverGroup
from voicelab.bot.persona import load_persona
from voicelab.bot.playout import LeadingWebsocketTransport
from voicelab.bot.serializer import SessionCloser, TolerantTwilioFrameSerializer
from voicelab.bot.tracing import TraceExport
from voicelab.config import Settings, secret_value
from voicelab.errors import VoicelabError
from voicelab.mocks import ToolMocks
from voicelab.recording.contract import EndedBy
from voicelab.recording.function_calls import function_call_observer
from voicelab.recording.observer import CallEventObserver
from voicelab.recording.recorder import StreamingRecorder
from voicelab.recording.store import CallRecord

if TYPE_CHECKING:
    from voicelab.bot._otel import CallTrace

__all__ = ["SHUTDOWN_REASON", "CallPipeline", "recording_filename"]

PHONE_SAMPLE_RATE = 8000
STT_SAMPLE_RATE = 16000
# Cancel a call's task with this message to end it for a server shutdown: it ends with
# this reason and a complete record (see CallPipeline.run).
SHUTDOWN_REASON = "shutdown"


async def _cancel_leftover_tasks(runner: WorkerRunner) -> None:
    """Cancel the tasks a call's processors left running once its pipeline has ended.

    pipecat misses one when the call ends while its services start: a media flood closed in
    the stream's first second left the STT's segment task pending (and the call's objects
    with it) until the process exited; the runner only warns about such tasks.
    """
    for task in list(runner.task_manager.current_tasks()):
        with contextlib.suppress(Exception):
            await runner.task_manager.cancel_task(task, timeout=1.0)


def recording_filename(port: int, direction: str, started: datetime) -> str:
    """The guide's recording name: ``server_<port>_<direction>_recording_<timestamp>.wav``."""
    return f"server_{port}_{direction}_recording_{started.strftime('%Y%m%d_%H%M%S')}.wav"


@dataclass
class CallPipeline:
    """Runs the bot for one call on an accepted, already-parsed Twilio websocket.

    Args:
        websocket: The media websocket (``connected``/``start`` already read).
        call: Who and what the call is.
        settings: voicelab settings (providers, credentials, VAD).
        record: The call's directory writer (source ``server``).
        pool: The process's model pool (offline/scripted providers).
        port: The server's port, for the recording's file name.
        agent: Builds the call's processors (default: the reference agent; see
            :func:`voicelab.bot.agent.load_agent`).
        tracing: The server's trace export (``VOICELAB_OTLP_ENDPOINT``): the call becomes
            one trace, named in ``call.json`` (see :mod:`voicelab.bot.tracing`).
    """

    websocket: WebSocket
    call: CallInfo
    settings: Settings
    record: CallRecord
    pool: ModelPool | None = None
    port: int = 8765
    agent: Agent | None = None
    tracing: TraceExport | None = None

    async def run(self) -> str:
        """Run the call to its end; returns why it ended.

        Whatever happens (hang-up, error, websocket drop, timeout, shutdown, a broken
        persona, provider or agent), the recording and the manifest are written before this
        returns. A server shutdown (the handler's task cancelled with
        :data:`SHUTDOWN_REASON`) ends the call with that reason and returns normally.
        """
        started = datetime.now(UTC)
        wav_path = self.record.directory / recording_filename(
            self.port, self.call.direction, started
        )
        events = CallEventObserver(self.record)
        hang_up = HangUpWatch()
        ender = CallEnder(self.websocket, self.record)
        recorder: StreamingRecorder | None = None
        worker: PipelineWorker | None = None
        runner: WorkerRunner | None = None
        reason = "websocket_closed"
        ended_by: EndedBy | None = None
        trace = self.tracing.start_call(self.call) if self.tracing is not None else None
        if trace is not None:
            trace.attach()  # before the pipeline's tasks exist: they inherit the call's span
        try:
            self._write_manifest(started, trace)
            parties: dict[str, Any] = {"from": self.call.from_number, "to": self.call.to_number}
            self.record.emit(
                "call.started",
                call_sid=self.call.call_sid,
                stream_sid=self.call.stream_sid,
                direction=self.call.direction,
                **parties,
            )
            # Per-call setup is part of the call: a broken persona file, provider or agent
            # ends this call with an `error` event and a complete record.
            parts = await self._build_agent()
            mocked = await self._mock_tools(parts, ender)
            guards = CallGuards(self.settings)
            worker, recorder = self._build(
                parts,
                wav_path,
                events,
                guards,
                ender,
                trace=trace,
                mocked=mocked,
                hang_up=hang_up,
            )
            ender.worker = worker
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(worker)
            await asyncio.wait_for(runner.run(), timeout=self.settings.max_call_seconds)
            ended_by = _ended_by(hang_up.at, ender.caller_left_at)
            if guards.gave_up is not None:
                reason = "error"  # the bot hung up: its providers kept failing
            elif ended_by == "bot" and ender.reason in (None, "stop"):
                # The agent's own EndWorkerFrame (a goodbye, a voicemail), before the
                # caller's stop (which follows the hang-up through Twilio).
                reason = "bot_hangup"
            elif ender.reason is not None:
                reason = ender.reason  # Twilio's stop; a record that could not be written
        except TimeoutError:
            reason = "timeout"
            if worker is not None:
                await worker.cancel()
        except asyncio.CancelledError as exc:
            # The runner has cancelled the pipeline already (and the recorder flushed).
            reason = SHUTDOWN_REASON
            if worker is not None:
                await worker.cancel()
            task = asyncio.current_task()
            if exc.args[:1] != (SHUTDOWN_REASON,) or task is None:
                raise
            # Ours: the server asked every call to end. The record is finished below
            # and the handler returns normally (no ASGI traceback at shutdown).
            task.uncancel()
        except Exception as exc:
            reason = "error"
            if isinstance(exc, VoicelabError):
                logger.error(f"call {self.call.call_sid} failed: {exc}")
            else:
                logger.exception(f"call {self.call.call_sid} failed")
            self.record.emit("error", message=str(exc) or type(exc).__name__, fatal=True)
            if worker is not None:
                await worker.cancel()
        finally:
            ender.done()
            if runner is not None:
                await _cancel_leftover_tasks(runner)
            try:
                # Shielded: a second cancellation (shutdown) must not leave the record half-done.
                await asyncio.shield(self._finish_record(recorder, events, reason, ended_by))
            finally:
                if trace is not None:
                    trace.end(reason)  # after pipecat's conversation span (the worker's cleanup)
        return reason

    async def _finish_record(
        self,
        recorder: StreamingRecorder | None,
        events: CallEventObserver,
        reason: str,
        ended_by: EndedBy | None = None,
    ) -> None:
        """WAV closed, then ``call.json`` final, then ``call.ended``, all on disk."""
        # every queued chunk written, file closed (no recorder: the call's setup failed)
        recording = await recorder.finish() if recorder is not None else None
        events.finish()
        self.record.update_manifest(
            ended_at=datetime.now(UTC).isoformat(),
            end_reason=reason,
            ended_by=ended_by,
            recording=recording.name if recording else None,
        )
        # Last: readers take call.ended to mean the whole record is written. The record
        # writer keeps order, so call.json is final before this line lands.
        self.record.emit("call.ended", reason=reason)
        await self.record.aflush()

    async def _build_agent(self) -> AgentParts:
        """The agent's processors for this call, described in the manifest."""
        quiet_onnxruntime()  # before an agent's modules load Silero VAD (onnxruntime)
        agent = self.agent if self.agent is not None else load_agent(None)
        name = agent_name(agent)
        self.record.update_manifest(agent=name)  # first: a call whose agent fails names it
        context = AgentContext(
            call=self.call,
            settings=self.settings,
            pool=self.pool,
            persona=load_persona(self.call.direction, self.settings.prompts_dir),
            record=self.record,
        )
        parts = await build_agent_parts(agent, context)
        self._describe(name, parts)
        return parts

    async def _mock_tools(self, parts: AgentParts, ender: CallEnder) -> MockedTools | None:
        """The scenario's tool mocks on the agent's functions, if its call.json has them.

        The simulator writes the scenario (with its ``tools:``) into the record before the
        call's stream starts, so it is on disk by now.
        """
        manifest = await asyncio.to_thread(self.record.read_manifest, wait=False)
        spec = (manifest.get("scenario") or {}).get("tools")
        if not spec:
            return None
        mocked = MockedTools(ToolMocks.model_validate(spec), on_unmocked=ender.unmocked)
        if not mocked.apply(parts.processors):
            logger.warning(f"call {self.call.call_sid}: tool mocks, but the agent has no LLM")
        return mocked

    def _build(
        self,
        parts: AgentParts,
        wav_path: Path,
        events: CallEventObserver,
        guards: CallGuards,
        ender: CallEnder | None = None,
        *,
        trace: CallTrace | None = None,
        mocked: MockedTools | None = None,
        hang_up: HangUpWatch | None = None,
    ) -> tuple[PipelineWorker, StreamingRecorder]:
        serializer = TolerantTwilioFrameSerializer(
            stream_sid=self.call.stream_sid,
            call_sid=self.call.call_sid,
            account_sid=self.settings.twilio_account_sid,
            auth_token=secret_value(self.settings.twilio_auth_token),
            base_url=self.settings.twilio_api_base,
            # Hanging up goes through Twilio's REST API: only possible with credentials.
            params=TolerantTwilioFrameSerializer.InputParams(
                auto_hang_up=self.settings.twilio_configured
            ),
            # A session that keeps misbehaving: an `error` event, then the socket is closed.
            on_misbehaviour=SessionCloser(self.websocket, self.record),
            on_stop=ender.stop_received if ender is not None else None,
        )
        params = FastAPIWebsocketParams(
            serializer=serializer,
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            # Twilio's own frame (20 ms), not pipecat's default 40: the first audio of a
            # reply leaves as soon as one frame of it exists.
            audio_out_10ms_chunks=2,
        )
        lead_s = self.settings.playout_lead_ms / 1000
        transport = (
            LeadingWebsocketTransport(self.websocket, params, lead_s=lead_s)
            if lead_s > 0
            else FastAPIWebsocketTransport(websocket=self.websocket, params=params)
        )
        # Streams the stereo recording to wav_path as the call goes (0.5 s chunks).
        recorder = StreamingRecorder(
            wav_path, sample_rate=PHONE_SAMPLE_RATE, on_error=self.record.write_failed
        )
        pipeline = Pipeline(
            [
                transport.input(),
                guards.fallback,  # first: every later processor's errors pass it upstream
                *_guarded(parts, guards),
                transport.output(),
                recorder,
                *parts.after_output,
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=STT_SAMPLE_RATE,
                audio_out_sample_rate=PHONE_SAMPLE_RATE,
                enable_metrics=True,
                enable_usage_metrics=True,
            ),
            # One group: one of pipecat's observer queues for the four (bot/observer_group.py).
            observers=[
                ObserverGroup(
                    [
                        events,
                        events.latency_observer(),
                        function_call_observer(
                            self.record,
                            lambda: events.turn,
                            mocked.was_mocked if mocked is not None else lambda _: False,
                        ),
                        *([hang_up] if hang_up else []),
                    ]
                )
            ],
            idle_timeout_secs=None,
            enable_rtvi=False,  # no RTVI client on a phone line
            **_tracing_params(self.call, trace),
        )

        @transport.event_handler("on_client_connected")
        async def _connected(_: Any, __: Any) -> None:
            await recorder.start_recording()
            # The bot speaks first; the greeting joins the context as the bot's turn.
            first: list[Frame] = []
            if parts.greeting:
                first.append(TTSSpeakFrame(parts.greeting, append_to_context=True))
            first.extend(parts.first_frames)
            if first:
                await worker.queue_frames(first)

        @transport.event_handler("on_client_disconnected")
        async def _disconnected(_: Any, __: Any) -> None:
            if ender is not None:
                ender.caller_left()
            await worker.cancel()

        return worker, recorder

    def _write_manifest(self, started: datetime, trace: CallTrace | None = None) -> None:
        """Who the call is: written first, so even a call whose setup fails is identified."""
        import pipecat

        import voicelab

        # The record finds its trace (and the trace its record, by the SID on every span).
        traced = {"trace_id": trace.trace_id} if trace is not None else {}
        self.record.update_manifest(
            call_sid=self.call.call_sid,
            stream_sid=self.call.stream_sid,
            account_sid=self.call.account_sid,
            direction=self.call.direction,
            **{"from": self.call.from_number, "to": self.call.to_number},
            started_at=started.isoformat(),
            versions={"voicelab": voicelab.__version__, "pipecat": pipecat.version()},
            settings_hash=self.settings.fingerprint(),
            server_port=self.port,
            **traced,
        )

    def _describe(self, name: str, parts: AgentParts) -> None:
        """What the call runs on: the agent's services and its persona."""
        description: dict[str, Any] = {
            "providers": (
                dict(parts.providers) if parts.providers is not None else _services(parts, name)
            )
        }
        if parts.persona is not None:
            persona = parts.persona
            description["persona"] = {
                "id": persona.id,
                "version": persona.version,
                "text_hash": persona.text_hash,
            }
        self.record.update_manifest(**description)


def _tracing_params(call: CallInfo, trace: CallTrace | None) -> dict[str, Any]:
    """pipecat's tracing, for a traced call: its conversation is the call (by CallSid)."""
    if trace is None:
        return {}
    return {
        "enable_tracing": True,
        "enable_turn_tracking": True,  # the turn spans hang on pipecat's turn tracker
        "conversation_id": call.call_sid,
        # pipecat sets these on the conversation span only; voicelab's span processor
        # gives them to every span of the trace (bot/_otel.py CallSpans).
        "additional_span_attributes": trace.attributes,
    }


def _guarded(parts: AgentParts, guards: CallGuards) -> list[FrameProcessor]:
    """The agent's processors, the first STT, LLM and TTS service each followed by its guards.

    (A guard is one processor instance: it can follow one service only.)
    """
    if isinstance(parts.processors, Pipeline):
        return [parts.processors]
    chain: list[FrameProcessor] = []
    guarded: set[str] = set()
    for processor in parts.processors:
        chain.append(processor)
        kind = service_kind(processor)
        if parts.guards and kind is not None and kind not in guarded:
            guarded.add(kind)
            chain.extend(guards.after(kind))
    return chain


def _services(parts: AgentParts, name: str) -> dict[str, Any]:
    """An agent's services as the manifest's ``providers`` (the first of each kind)."""
    found: dict[str, Any] = {"name": name}
    processors = [] if isinstance(parts.processors, Pipeline) else parts.processors
    for processor in processors:
        kind = service_kind(processor)
        if kind is not None and kind not in found:
            settings = getattr(processor, "settings", None)
            model = getattr(settings, "model", None)
            # A service that names no model has pipecat's NOT_GIVEN there, not a string.
            found[kind] = {
                "service": type(processor).__name__,
                "model": model if isinstance(model, str) else None,
            }
    return found


def _ended_by(bot_ended_at: float | None, caller_left_at: float | None) -> EndedBy | None:
    """Who ended the call: whoever's end came first (the agent's hang-up, the caller's stop)."""
    if bot_ended_at is not None and (caller_left_at is None or bot_ended_at <= caller_left_at):
        return "bot"
    return "caller" if caller_left_at is not None else None
