"""The call record's contract in code: ``call.json`` and the data of every event type.

A call record is the contract between running a call and analysing it (DESIGN.md section 3).
It used to be prose only, and drifted: ``stop_secs``, ``cut_off``, ``sequence`` and
``duration`` were written but landed in the loaders' ``extra`` column. Now every writer
validates what it writes here (:meth:`~voicelab.recording.store.CallRecord.emit`,
``update_manifest``, ``set_manifest``), and the loaders' column tables are derived from or
checked against these models (``analysis/_events.py``, ``analysis/_calls.py``;
``tests/unit/recording/test_record_contract.py``).

Pydantic only: every layer may import it (analysis reads it, never pipecat).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ANSWERED_BY",
    "EVENT_DATA",
    "FUNCTION_CALL_EVENTS",
    "HANGUP_HOWS",
    "JUDGE_VERDICT",
    "RESULT_CHARS",
    "UNCONNECTED_END_REASONS",
    "AgentRef",
    "AnsweredBy",
    "CallManifest",
    "EndReason",
    "EndedBy",
    "EventData",
    "EventSource",
    "FeedbackEntry",
    "HangupBy",
    "HangupHow",
    "JudgedKind",
    "PersonaRef",
    "ProvidersInfo",
    "ReplayMark",
    "ScenarioRef",
    "ServiceInfo",
    "StatusEntry",
    "VoicemailDetection",
    "VoicemailInfo",
]

EventSource = Literal["server", "caller", "carrier", "judge"]
"""Who wrote an event: the call server, the simulated caller, the Twilio emulator, or the
judge of the scenario's criteria (after the call, :mod:`voicelab.judging`)."""
Direction = Literal["inbound", "outbound"]
EndedBy = Literal["bot", "caller"]
"""Who ended a call: the agent (``bot``), or the party on the phone (``caller``)."""

HangupBy = Literal["bot", "caller", "carrier"]
"""Who hung up, as the carrier saw it: ``carrier`` is the network itself (a time limit, a
failure, the emulator shutting down), which ``call.json``'s ``ended_by`` leaves empty."""

HangupHow = Literal[
    "rest",  # the agent's REST update Status=completed (or canceled)
    "hangup_verb",  # the agent's TwiML said <Hangup/> or <Reject/>
    "twiml_ended",  # the agent's TwiML ran out (after its stream closed, or a <Dial> ended)
    "hung_up",  # the party on the phone hung up
    "time_limit",  # the call's TimeLimit
    "failed",  # the carrier could not go on (a TwiML fetch failed, bad TwiML...)
    "shutdown",  # the carrier stopped with the call live
]
"""How a call ended (``call.hangup``'s ``how``)."""
HANGUP_HOWS: frozenset[str] = frozenset(get_args(HangupHow))

AnsweredBy = Literal[
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
]
"""Twilio's answering machine detection result (``AnsweredBy``)."""
ANSWERED_BY: frozenset[str] = frozenset(get_args(AnsweredBy))

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


RESULT_CHARS = 2000
"""A function call's result is recorded as JSON text of at most this many characters."""


class _FunctionCall(_Turned):
    # The call's moments share one shape (pipecat's FunctionCallObserver reports them):
    # started carries the arguments; the end (completed, failed, timed_out, cancelled) the
    # result or the error and how long the application's code ran.
    name: str
    call_id: str
    arguments: dict[str, Any] | None = None
    result: str | None = None  # JSON, cut at RESULT_CHARS
    error: str | None = None
    duration_s: float | None = None  # from going in progress to settling
    mocked: bool | None = None  # a scenario's tools: block answered instead of the function


class _LlmUsage(_Turned):
    service: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class _TtsUsage(_Turned):
    service: str
    characters: int


FUNCTION_CALL_EVENTS = (
    "function_call.started",
    "function_call.completed",
    "function_call.failed",
    "function_call.timed_out",
    "function_call.cancelled",
)
"""A function call's moments, in the order they can happen (one of the last four ends it)."""


class _CallHangup(EventData):
    # Carrier: who ended an answered call, and how (see HangupHow).
    by: HangupBy
    how: HangupHow


class _CallTransferred(EventData):
    # Carrier: a <Dial> ended (stamped then: it started ring_s + duration_s earlier).
    to: str
    status: str  # the dialled leg's final status (DialCallStatus): completed, busy...
    ring_s: float  # how long it rang
    duration_s: float  # how long the two parties were connected (0: never answered)


class _AmdResult(EventData):
    # Carrier: answering machine detection decided (MachineDetection on calls.create).
    answered_by: AnsweredBy
    detection_s: float  # Twilio's MachineDetectionDuration, in seconds


class _VoicemailMessage(EventData):
    # Caller side (an answering machine callee): the message the agent left after the beep,
    # stamped at the beep's end, as the machine's own Whisper transcribed it.
    text: str
    duration_s: float  # from the end of the beep to the last audible sample of the message


class _DtmfReceived(EventData):
    # Caller side (a phone menu callee): a key the menu heard the agent press (in-band tones).
    digit: str
    node: str | None = None  # the menu node it was pressed at


JudgedKind = Literal["eval", "success", "metric", "score"]
"""What a ``judge.verdict`` decided: ``eval`` a reply's criterion (an expectation with a
turn), ``success`` the whole conversation's (an expectation without one), ``metric`` one
reply on a scenario metric, ``score`` the metric over every reply (pipecat's score)."""

JUDGE_VERDICT = "judge.verdict"


class _JudgeVerdict(_Turned):
    # Judge (after the call): one verdict of pipecat's EvalJudge and why. `turn` is the
    # scenario's (0 the greeting); None for a success or a score.
    kind: JudgedKind
    criterion: str
    metric: str | None = None  # the scenario metric's name (metric, score)
    passed: bool
    verdict: str  # pipecat's: yes, no, continue, none (score: pass, fail)
    confidence: float | None = None
    score: float | None = None  # score: the share of replies that met the criterion
    min_score: float | None = None
    reason: str  # the explainer's sentence, or the classifier's probabilities
    judge: str  # which judge: "offline:<model>", "openai:<model>", "test:<name>"...
    key: str  # sha256 of what was judged: an unchanged call is never judged twice


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
    **dict.fromkeys(FUNCTION_CALL_EVENTS, _FunctionCall),
    "llm.usage": _LlmUsage,
    "tts.usage": _TtsUsage,
    "call.hangup": _CallHangup,
    "call.transferred": _CallTransferred,
    "amd.result": _AmdResult,
    "voicemail.message": _VoicemailMessage,
    "dtmf.received": _DtmfReceived,
    JUDGE_VERDICT: _JudgeVerdict,
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
    callee: dict[str, Any] | None = None  # who picks up an outbound call: {kind, ...}
    parties: dict[str, Any] | None = None  # numbers a <Dial> reaches: {number: {kind, ...}}
    expectations: list[dict[str, Any]] = Field(default_factory=list)
    tools: dict[str, Any] | None = None  # voicelab.mocks.ToolMocks: the server answers with it
    metrics: list[dict[str, Any]] | None = None  # judged per reply: {name, criterion, min_score}


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


class VoicemailInfo(_Part):
    """The message an agent left on an answering machine callee (caller side)."""

    text: str | None = None
    duration_s: float | None = None


class SweepMark(_Part):
    """The sweep cell a call played (``voicelab sweep``)."""

    name: str
    variant: str | None = None
    repeat: int | None = None
    cell: str | None = None
    attempt: int | None = None
    overrides: dict[str, Any] | None = None
    failed: str | None = None


class ReplayMark(_Part):
    """The recorded call a replay played the caller's side of (``voicelab replay``)."""

    of: str | None = None  # the original call's SID (none for a bare WAV)
    source: str  # the original's call directory or WAV file
    kind: Literal["simulated", "server", "wav"] | None = None


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


class VoicemailDetection(_Part):
    """The server's voicemail detector on an outbound call: a machine (``detected``) or a
    person (the caller side's ``voicemail`` is what the machine recorded)."""

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
    replay: ReplayMark | None = None  # written with the scenario, like sweep
    # What the agent did, as Twilio saw it (issue 17). The carrier writes answered_by and
    # transferred_to / transfer_status for every call (the reference agent's transfer tool
    # writes transferred_to too: the number it asked Twilio to dial); the simulator writes
    # ended_by for a black-box agent (a voicelab server writes its own: whose end came
    # first, the agent's hang-up or the caller's stop); the callee writes voicemail and
    # dtmf_received.
    ended_by: EndedBy | None = None
    answered_by: AnsweredBy | None = None
    transferred_to: str | None = None  # the number of the last <Dial>, answered or not
    transfer_status: str | None = None  # its final status (DialCallStatus)
    voicemail: VoicemailInfo | None = None
    dtmf_received: str | None = None  # every key a phone menu callee heard, in order
    # The reference agent's own state: its log_feedback tool, its voicemail detector.
    feedback: list[FeedbackEntry] | None = None
    voicemail_detection: VoicemailDetection | None = None
