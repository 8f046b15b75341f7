"""The call record's contract in code: ``call.json`` and the data of every event type.

A call record is the contract between running a call and analysing it (DESIGN.md section 3).
It used to be prose only, and drifted: ``stop_secs``, ``cut_off``, ``sequence`` and
``duration`` were written but landed in the loaders' ``extra`` column. Now every writer
validates what it writes here (:meth:`~voicelab.recording.store.CallRecord.emit`,
``update_manifest``, ``set_manifest``), and the loaders' column tables are derived from or
checked against these models (``analysis/_events.py``, ``analysis/_calls.py``;
``tests/unit/test_record_contract.py``).

Pydantic only: every layer may import it (analysis reads it, never pipecat).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EVENT_DATA",
    "UNCONNECTED_END_REASONS",
    "AgentRef",
    "CallManifest",
    "EndReason",
    "EndedBy",
    "EventData",
    "EventSource",
    "FeedbackEntry",
    "PersonaRef",
    "ProvidersInfo",
    "ScenarioRef",
    "ServiceInfo",
    "StatusEntry",
    "VoicemailInfo",
]

EventSource = Literal["server", "caller", "carrier"]
Direction = Literal["inbound", "outbound"]
EndedBy = Literal["bot", "caller"]
"""Who ended a call: the agent (``bot``), or the party on the phone (``caller``)."""

EndReason = Literal[
    # A media session ran:
    "stop",  # Twilio's `stop` message: the call (or its stream) ended at Twilio's side
    "hangup",  # the simulated caller hung up (caller side)
    "websocket_closed",  # the socket closed without a `stop`
    "error",  # setup, a provider or a record write failed; an `error` event says which
    "timeout",  # VOICELAB_MAX_CALL_SECONDS
    "shutdown",  # the server stopped (also for calls still waiting for their stream)
    "bot_hangup",  # the agent ended the call itself (pipecat's EndWorkerFrame): a goodbye,
    # a voicemail left
    # No media session ever ran (the server's record of a call it heard of):
    "capacity",  # refused at VOICELAB_MAX_CALLS: the caller heard busy
    "busy",  # Twilio's final status before any stream
    "no-answer",
    "failed",
    "canceled",
    "no_stream",  # Twilio completed the call, or said nothing more, and no stream came
    "token_expired",  # TwiML served, but no stream within VOICELAB_STREAM_TOKEN_TTL
]
"""Why a call ended: ``call.json``'s ``end_reason`` and ``call.ended``'s ``reason``."""

UNCONNECTED_END_REASONS: frozenset[str] = frozenset(
    {"capacity", "busy", "no-answer", "failed", "canceled", "no_stream", "token_expired"}
)
"""End reasons of calls whose media never reached the agent."""


class EventData(BaseModel):
    """An event's ``data``: only the fields its type declares."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Turned(EventData):
    # Server events: the caller's speech turn as the server counts it (0: the greeting);
    # caller events: the scripted utterance (1-based; 0 the greeting the caller hears).
    turn: int | None = None


class _Text(_Turned):
    text: str


class _CallStarted(EventData):
    call_sid: str
    stream_sid: str | None = None
    direction: Direction | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class _CallEnded(_Turned):
    reason: EndReason


class _VadStopped(_Turned):
    stop_secs: float | None = None  # the silence the VAD waited


class _Transcript(_Text):
    final: bool


class _FirstToken(_Turned):
    ttft_s: float


class _TtsStarted(_Turned):
    text: str | None = None  # when known up front (the greeting, said without the LLM)


class _FirstAudio(_Turned):
    ttfa_s: float


class _BotStopped(_Turned):
    text: str | None = None  # what was actually spoken (cut short by an interruption)
    cut_off: bool | None = None  # the call ended mid-speech


class _Ttfb(_Turned):
    service: str
    ttfb_s: float


class _V2v(_Turned):
    v2v_s: float
    measured_from: Literal["user_stopped", "client_connected"] | None = None


class _Error(_Turned):
    message: str
    fatal: bool


class _Digit(_Turned):
    digit: str


class _Mark(_Turned):
    name: str


class _VoicemailDetected(_Turned):
    message: str | None = None  # what the bot left on the machine (None: nothing to say)


class _TwilioStatus(_Turned):
    status: str
    sequence: int | None = None  # Twilio's SequenceNumber
    duration: str | None = None  # Twilio's CallDuration, seconds, as sent


EVENT_DATA: dict[str, type[EventData]] = {
    "call.started": _CallStarted,
    "call.ended": _CallEnded,
    "vad.started": _Turned,
    "vad.stopped": _VadStopped,
    "user.speech_started": _Turned,
    "user.speech_stopped": _Turned,
    "stt.transcript": _Transcript,
    "llm.started": _Turned,
    "llm.first_token": _FirstToken,
    "llm.response": _Text,
    "tts.started": _TtsStarted,
    "tts.first_audio": _FirstAudio,
    "bot.speech_started": _Turned,
    "bot.speech_stopped": _BotStopped,
    "interruption": _Turned,
    "metrics.ttfb": _Ttfb,
    "metrics.v2v": _V2v,
    "error": _Error,
    "dtmf": _Digit,
    "dtmf.sent": _Digit,  # a key the bot pressed (pipecat's OutputDTMF(Urgent)Frame), per digit
    "voicemail.detected": _VoicemailDetected,
    "mark": _Mark,
    "clear": _Turned,
    "twilio.status": _TwilioStatus,
    "caller.utterance_started": _Text,
    "caller.utterance_ended": _Text,
    "caller.heard_started": _Turned,
    "caller.heard_ended": _Turned,
    "caller.transcript": _Text,
}
"""The data model of each event type (DESIGN.md section 3.1): writers may emit only these."""


# --- call.json ----------------------------------------------------------------------------------


class _Part(BaseModel):
    # Nested parts of a manifest keep what a writer adds beyond the declared fields (a
    # provider's base_url, a Twilio status field): declared fields are checked, the rest kept.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ServiceInfo(_Part):
    """One provider of a call: which service, which model."""

    service: str | None = None
    model: str | None = None


class ProvidersInfo(_Part):
    """What a call ran on (``name`` the bundle, or the agent's ``module:qualname``)."""

    name: str | None = None
    stt: ServiceInfo | str | None = None
    llm: ServiceInfo | str | None = None
    tts: ServiceInfo | str | None = None
    vad: ServiceInfo | str | None = None


class PersonaRef(_Part):
    """The prompt a call ran with."""

    id: str | None = None
    version: int | None = None
    text_hash: str | None = None


class ScenarioRef(_Part):
    """What a simulated call played (the simulator writes it when the call is answered)."""

    id: str
    file: str | None = None
    description: str | None = None
    direction: Direction | None = None
    outcome: str | None = None
    caller: dict[str, Any] | None = None
    goal: dict[str, Any] | None = None
    expectations: list[dict[str, Any]] = Field(default_factory=list)


class AgentRef(_Part):
    """An agent known only by where it answers (``kind: black-box``)."""

    kind: str
    url: str | None = None


class StatusEntry(_Part):
    """One of Twilio's statuses, with the callback's fields kept (``SequenceNumber``...)."""

    status: str
    at: str | None = None


class Versions(_Part):
    voicelab: str | None = None
    pipecat: str | None = None


class SweepMark(_Part):
    """The sweep cell a call played (``voicelab sweep``)."""

    name: str
    variant: str | None = None
    repeat: int | None = None
    cell: str | None = None
    attempt: int | None = None
    overrides: dict[str, Any] | None = None
    failed: str | None = None


class RunnerInfo(_Part):
    kind: Literal["local", "ray"] | None = None
    host: str | None = None
    pid: int | None = None
    node_id: str | None = None
    actor: str | None = None


class FeedbackEntry(_Part):
    """One piece of guest feedback the reference agent logged (its ``log_feedback`` tool)."""

    ticket: str
    site: str | None = None
    item: str | None = None
    issue: str | None = None
    severity: Literal["low", "medium", "high"] | None = None


class VoicemailInfo(_Part):
    """What answered an outbound call: a machine (``detected``) or a person."""

    detected: bool
    message: str | None = None  # the message the bot left, when it did


class CallManifest(BaseModel):
    """``call.json``: who and what the call was, how it ended.

    Written piecewise by the server, the simulated caller and the carrier (each update is
    checked against the fields it names); any other top-level field is a user's tag
    (``record.update_manifest(variant="b")``) and loads as a string column.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    call_sid: str | None = None
    account_sid: str | None = None
    stream_sid: str | None = None
    direction: Direction | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    known_at: str | None = None  # ISO-8601 UTC: when the server first heard of the call
    started_at: str | None = None  # when its media stream started
    ended_at: str | None = None
    end_reason: EndReason | None = None
    status: str | None = None
    status_history: list[StatusEntry] | None = None
    agent: AgentRef | str | None = None
    providers: ProvidersInfo | None = None
    persona: PersonaRef | None = None
    scenario: ScenarioRef | None = None
    versions: Versions | None = None
    settings_hash: str | None = None
    server_port: int | None = None
    recording: str | None = None
    trace_id: str | None = None
    sweep: SweepMark | None = None
    runner: RunnerInfo | None = None
    # What the agent did (the reference agent's tools; voicemail detection on outbound calls):
    feedback: list[FeedbackEntry] | None = None
    transferred_to: str | None = None  # the number a transfer dialled (E.164)
    voicemail: VoicemailInfo | None = None
