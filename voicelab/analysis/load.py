"""Call directories into pandas: ``calls_df``, ``turns_df``, ``events_df``.

Each loader takes a recordings root (or one call directory), reads every call under it, at
any depth (``recordings/01_quickstart/<call dirs>``; hidden directories are skipped), and
returns one DataFrame. A directory that cannot be read (no or invalid ``call.json``, a bad
line in ``events.jsonl``) is reported with a :class:`CallRecordWarning` naming its path and
skipped; a truncated last line of ``events.jsonl`` (a writer died mid-line) is dropped alone.

Results are cached as parquet in ``<root>/.voicelab_cache/``, keyed by each call directory's
path under the root, and reused for every call directory whose ``call.json``,
``events.jsonl`` and WAV files kept their size and mtime, so a second load of 10,000 calls
costs a directory scan and a parquet read. In one process, the last scan of a root is checked
by stat'ing its directories and files again (``_scan``), and the frames made from unchanged
tables are handed out again as copy-on-write copies: a warm load is mostly those stats.
``cache=False`` neither reads nor writes the cache.

Dtypes: text is pandas' ``str``; identifiers and labels are ``category``; counts and turn
numbers are nullable ``Int64``; flags are nullable ``boolean``; times in seconds are
``float64`` (NaN when unknown); timestamps are ``datetime64[us, UTC]``.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa

from voicelab.analysis import _cache
from voicelab.analysis._audio import build_recording
from voicelab.analysis._bulk import read_bulk
from voicelab.analysis._calls import build_calls
from voicelab.analysis._events import build_events
from voicelab.analysis._files import (
    CALLER_WAV,
    EVENTS,
    MANIFEST,
    CallDir,
    MalformedCall,
    ParsedCall,
    parse_call,
)
from voicelab.analysis._judgments import build_judgments
from voicelab.analysis._scan import scan
from voicelab.analysis._tools import build_tool_calls
from voicelab.analysis._turns import build_turns

__all__ = [
    "Records",
    "calls_df",
    "events_df",
    "judgments_df",
    "load_records",
    "tool_calls_df",
    "turns_df",
]

# Bump when a builder's output changes, so caches written by older code are not reused.
_RECORDS_VERSION = 8  # 8: turn_end_s, overlaps_next_line, line, split_line
_RECORDING_VERSION = 1
_TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}

PathLike = str | os.PathLike[str]


def _build_records(dirs: Sequence[CallDir], taken: set[str]) -> _cache.Built:
    # A cold load makes millions of small objects (event dicts) that all live until the
    # tables are built: the cyclic collector would walk them again and again as they pile
    # up (a third of the build, measured), and there are no cycles among them to find.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _build_records_now(dirs, taken)
    finally:
        if paused:
            gc.enable()


def _build_records_now(dirs: Sequence[CallDir], taken: set[str]) -> _cache.Built:
    bulk = read_bulk(list(dirs))
    read = bulk.calls if bulk is not None else [_parse(d) for d in dirs]
    parsed: list[ParsedCall] = []
    entries: dict[str, _cache.Entry] = {}
    owners: dict[str, str] = {}
    for directory, call in zip(dirs, read, strict=True):
        if isinstance(call, MalformedCall):
            entries[directory.name] = _cache.Entry(warnings=[str(call)])
            continue
        if call.call_sid in taken or call.call_sid in owners:
            where = owners.get(call.call_sid, "another directory")
            message = f"{directory.location}: call_sid {call.call_sid} already loaded from {where}"
            entries[directory.name] = _cache.Entry(warnings=[message + "; call skipped"])
            continue
        owners[call.call_sid] = directory.name
        parsed.append(call)
        entries[directory.name] = _cache.Entry(key=call.call_sid, warnings=call.warnings)
    events = bulk.table(parsed) if bulk is not None else build_events(parsed)
    tables = {
        "calls": build_calls(parsed, events),
        "events": events,
        "turns": build_turns(parsed),
        "tool_calls": build_tool_calls(parsed),
        "judgments": build_judgments(parsed),
    }
    return _cache.Built(tables, entries)


def _parse(directory: CallDir) -> ParsedCall | MalformedCall:
    """One call read on its own (the slow path, when Arrow cannot read the tree's events)."""
    try:
        return parse_call(directory)
    except MalformedCall as exc:
        return exc


def _records_signature(d: CallDir) -> list[object]:
    # d.signature(MANIFEST, EVENTS), spelled out: it runs for every directory of every load.
    stats = d.stats
    manifest, events = stats.get(MANIFEST), stats.get(EVENTS)
    wavs = len(stats) > (manifest is not None) + (events is not None)  # any WAV at all
    return [
        None if manifest is None else list(manifest),
        None if events is None else list(events),
        d.server_wavs if wavs else [],
        CALLER_WAV in stats,
    ]


def _records(root: Path, dirs: Sequence[CallDir], table: str, cache: bool) -> pa.Table:
    return _cache.load(
        root,
        dirs,
        name="records",
        version=_RECORDS_VERSION,
        signature=_records_signature,
        build=_build_records,
        tables=[table],
        use_cache=cache,
    )[table]


def _pandas(table: pa.Table) -> pd.DataFrame:
    return _frame(table, lambda: table.to_pandas(types_mapper=_TYPES.get))


# Frames made from a table, by the table (the cache serves the same object while its files
# stand) and whatever else went into them (compared by identity). Converting a million
# events to pandas takes longer than checking the tree; pandas' copy-on-write makes a
# shallow copy of the frame made last time an independent one, in no time.
_FRAMES: dict[int, tuple[weakref.ref[pa.Table], tuple[object, ...], pd.DataFrame]] = {}


def _frame(table: pa.Table, make: Callable[[], pd.DataFrame], *inputs: object) -> pd.DataFrame:
    memo = _FRAMES.get(id(table))
    if memo is None or memo[0]() is not table:
        memo = None
        weakref.finalize(table, _FRAMES.pop, id(table), None)  # dropped with its table
    elif len(memo[1]) == len(inputs) and all(a is b for a, b in zip(memo[1], inputs, strict=True)):
        return memo[2].copy(deep=False)
    frame = make()
    _FRAMES[id(table)] = (weakref.ref(table), inputs, frame)
    return frame.copy(deep=False)


def events_df(root: PathLike, *, cache: bool = True) -> pd.DataFrame:
    """Every event of every call: one row per line of ``events.jsonl``, in file order.

    Columns:
        call_sid (category): The call (from its manifest).
        t (float64): Seconds since the writer's call start (server and caller clocks differ).
        wall (datetime64[us, UTC]): When it happened.
        source (category): ``server``, ``caller``, ``carrier`` or ``judge`` (verdicts
            written after the call: :func:`judgments_df`).
        type (category): The event type (DESIGN.md section 3.1).
        turn (Int64): ``data.turn`` as written (the server counts caller speech turns).
        text (str): ``data.text`` (transcript, reply, caller's ground truth).
        final (boolean): ``data.final`` of ``stt.transcript``.
        service (str): ``data.service`` of ``metrics.ttfb``.
        ttft_s, ttfa_s, ttfb_s, v2v_s (float64): The durations of ``llm.first_token``,
            ``tts.first_audio``, ``metrics.ttfb`` and ``metrics.v2v``.
        measured_from (str): ``data.measured_from`` of ``metrics.v2v``.
        reason (str): ``data.reason`` of ``call.ended``.
        message (str): ``data.message`` of ``error``.
        fatal (boolean): ``data.fatal`` of ``error``.
        digit (str): ``data.digit`` of ``dtmf``.
        name (str): ``data.name`` of ``mark``.
        status (str): ``data.status`` of ``twilio.status``.
        stop_secs (float64): ``data.stop_secs`` of ``vad.stopped`` (the silence waited).
        cut_off (boolean): ``data.cut_off`` of ``bot.speech_stopped`` (the call ended
            mid-speech).
        sequence (Int64): Twilio's ``SequenceNumber`` of ``twilio.status``.
        duration (str): Twilio's ``CallDuration`` of ``twilio.status``, as sent.
        call_id, result, error (str): A ``function_call.*``'s LLM call id, its result
            (JSON) and its error.
        duration_s (float64): How long a settled function call ran; how long a
            ``call.transferred``'s dialled party was connected; a ``voicemail.message``'s
            length.
        mocked (boolean): A scenario's mock answered the function call.
        prompt_tokens, completion_tokens, total_tokens (Int64): ``llm.usage``'s tokens.
        characters (Int64): ``tts.usage``'s characters spoken.
        by (str): ``data.by`` of ``call.hangup``: who ended the call (``bot``, ``caller``,
            ``carrier``); its ``how`` is in ``extra``.
        answered_by (str): ``data.answered_by`` of ``amd.result`` (Twilio's ``AnsweredBy``).
        extra (str): The event's other data fields as a JSON object (NaN when none).

    Args:
        root: The recordings root, or one call directory.
        cache: Use and update the parquet cache.
    """
    root = Path(root)
    return _pandas(_records(root, scan(root), "events", cache))


def calls_df(root: PathLike, *, cache: bool = True) -> pd.DataFrame:
    """One row per call: its manifest, flattened, and a summary of its events.

    Columns:
        call_sid (str): Twilio's call SID.
        direction, from, to, stream_sid (str): From ``call.json`` (else ``call.started``).
        known_at, started_at, ended_at (datetime64[us, UTC]): From ``call.json`` (``known_at``:
            when the server first heard of the call), else the first event and the
            ``call.ended`` event.
        end_reason (str): Why the call ended (``recording.contract.EndReason``): ``stop``,
            ``websocket_closed``, ``error``... and, for calls whose media never reached
            the agent, ``capacity``, ``busy``, ``no-answer``, ``no_stream``, ``token_expired``.
        status (str): Twilio's last call status.
        scenario_id (str): The simulator's scenario (NaN for real calls).
        providers (str): The provider set (``cloud``, ``offline``, ``scripted``).
        stt_service, stt_model, llm_service, llm_model, tts_service, tts_model,
            vad_service, vad_model (str): Each provider's name and model.
        persona_id, persona_hash (str): The prompt used: its id and text hash.
        persona_version (Int64): Its version.
        voicelab_version, pipecat_version, settings_hash (str): What ran the call.
        server_port (Int64): The server's port.
        agent, agent_url (str): What answered: ``agent.kind`` of the manifest
            (``black-box`` for a bot voicelab did not write, known by ``agent_url``).
        sweep, variant (str): The call's sweep and variant (``voicelab sweep``; a
            top-level ``variant`` tag of the manifest fills ``variant`` too).
        repeat (Int64): The sweep cell's repeat number (NaN for calls of no sweep).
        runner_host, runner_node (str): Where a sweep's call ran (host, Ray node id).
        replay_of (str): The call whose caller's side this call played again
            (``voicelab replay``; NaN for other calls and for a replayed bare WAV).
        ended_by (str): Who ended the call: ``bot`` or ``caller`` (a voicelab server's
            own view; the carrier's for a black-box agent).
        answered_by (str): Twilio's answering machine detection (``human``,
            ``machine_end_beep``...; NaN without ``MachineDetection``).
        transferred_to, transfer_status (str): The number the agent's last ``<Dial>``
            called and how that leg ended (``completed``, ``busy``, ``no-answer``...).
        voicemail_text (str): The message the agent left on an answering machine callee,
            as the machine transcribed it.
        dtmf_received (str): The keys a phone menu callee heard the agent press, in order.
        duration_s (float64): ``ended_at - started_at``.
        simulated (boolean): The call has caller events, a ``caller.wav`` or a scenario.
        n_events, n_turns, n_interruptions, n_errors (Int64): Counts of events, of caller
            speech turns (``user.speech_stopped``; a black-box agent's call: the caller's
            utterances), of interruptions (NaN without server events) and of errors.
        n_tool_calls (Int64): The agent's function calls (``function_call.started``).
        llm_prompt_tokens, llm_completion_tokens, tts_characters (Int64): What the call
            used, from pipecat's usage metrics (``llm.usage``, ``tts.usage``; NaN when
            the services report none): with a price table, :func:`call_costs`.
        fatal_error (boolean): An ``error`` event had ``fatal`` set.
        call_dir (str): The call directory.
        server_wav, caller_wav (str): The recordings' paths (NaN when absent).

    Any other top-level scalar field of ``call.json`` follows as a ``str`` column.

    Args:
        root: The recordings root, or one call directory.
        cache: Use and update the parquet cache.
    """
    root = Path(root)
    return _calls(root, scan(root), cache)


def _calls(root: Path, dirs: Sequence[CallDir], cache: bool) -> pd.DataFrame:
    table = _records(root, dirs, "calls", cache)
    return _frame(table, lambda: _calls_frame(table, dirs), dirs)


def _calls_frame(table: pa.Table, dirs: Sequence[CallDir]) -> pd.DataFrame:
    df = table.to_pandas(types_mapper=_TYPES.get)
    paths = {d.name: d.location for d in dirs}
    df["call_dir"] = df["call_dir"].map(paths)
    for col in ("server_wav", "caller_wav"):  # cached as names: the tree may have moved
        df[col] = pd.Series(
            [
                os.path.join(d, name) if isinstance(name, str) else None
                for d, name in zip(df["call_dir"], df[col], strict=True)
            ],
            index=df.index,
            dtype=df["call_dir"].dtype,
        )
    return df


def tool_calls_df(root: PathLike, *, cache: bool = True) -> pd.DataFrame:
    """One row per function call the agent made (what it *did*, beside what it said).

    Columns:
        call_sid (category): The call.
        turn (Int64): The caller's turn it answered (the server's count; 0 the greeting).
        call_id (str): The LLM's id of the call (unique within the conversation).
        name (category): The function.
        arguments (str): What the LLM passed, as JSON.
        status (category): ``completed``, ``failed``, ``timed_out``, ``cancelled``, or
            ``started`` when the call never settled (the call ended first).
        result (str): What it returned, as JSON (cut at 2,000 characters).
        error (str): What went wrong, for a failed call.
        mocked (boolean): A scenario's ``tools:`` answered instead of the agent's function.
        duration_s (float64): Time in the application's code (in progress to settled).
        started_t (float64): Server-clock ``t`` when the LLM asked for it.
        started_at (datetime64[us, UTC]): When the LLM asked for it.

    Args:
        root: The recordings root, or one call directory.
        cache: Use and update the parquet cache.
    """
    root = Path(root)
    return _pandas(_records(root, scan(root), "tool_calls", cache))


def judgments_df(root: PathLike, *, cache: bool = True) -> pd.DataFrame:
    """One row per verdict of the judge on a call's criteria (``judge.verdict`` events).

    The judge (:func:`voicelab.judging.judge_call`) writes them after the call; a call
    judged again with nothing changed keeps its verdicts (same ``key``), a changed one or
    another judge adds rows (the latest of a criterion is the one the checks read).

    Columns:
        call_sid (category): The call.
        kind (category): ``eval`` (a reply's ``eval:``), ``success`` (the whole call's
            ``eval:``), ``metric`` (one reply on a scenario metric), ``score`` (the metric
            over every reply).
        criterion (str): The criterion, as the scenario words it.
        metric (category): The scenario metric's name (``metric``, ``score``).
        turn (Int64): The scenario turn judged (0 the greeting); NA for the whole call.
        passed (boolean): The verdict passes (``score``: the score reached ``min_score``).
        verdict (category): pipecat's verdict: ``yes``, ``no``, ``continue``, ``none``
            (judge trouble); ``pass``/``fail`` for a score.
        confidence (float64): The classifier's confidence in the verdict.
        score (float64): ``score`` rows: the share of replies that met the criterion.
        min_score (float64): ``score`` rows: the share the scenario asks for.
        reason (str): Why: the explainer's sentence, or the classifier's probabilities.
        judge (category): Which judge: ``offline:<model>``, ``openai:<model>``...
        key (str): A hash of what was judged (criterion, conversation, judge).
        judged_at (datetime64[us, UTC]): When.

    Args:
        root: The recordings root, or one call directory.
        cache: Use and update the parquet cache.
    """
    root = Path(root)
    return _pandas(_records(root, scan(root), "judgments", cache))


def turns_df(root: PathLike, *, recording: bool = True, cache: bool = True) -> pd.DataFrame:
    """One row per turn: who spoke, what was said and heard, and every latency.

    Turn ``N`` is the bot's answer to the caller's ``N``-th speech turn as the server counted
    it; 0 is the greeting. Latency definitions: :mod:`voicelab.analysis.latency`.

    Columns:
        call_sid (category): The call.
        turn (Int64): The server's turn number; NaN for a caller utterance the server never
            registered (it still gets a row). A black-box agent's call (no server events)
            counts the caller's turns instead, and its server-side columns are null.
        caller_turn (Int64): The simulated caller's utterance this turn answers (matched by
            wall clock; 0 for the greeting); NaN on real calls.
        line (Int64): The caller's line the row belongs to: ``caller_turn``, or for a turn
            the server ended at a pause inside a line, that line (null: a turn inside no
            line). On real calls, the turn.
        split_line (boolean): The server took this row's line as two or more turns.
        speaker (category): Who spoke in the turn: ``both``, ``caller`` (no reply) or ``bot``
            (the greeting, or a reply to nothing heard).
        started_at (datetime64[us, UTC]): The turn's first event.
        caller_text (str): What the simulated caller said (ground truth).
        stt_text (str): The final ``stt.transcript`` texts of the turn, joined.
        bot_text (str): The bot's reply (``llm.response``, else the ``tts.started`` texts).
        heard_text (str): The reply as the simulated caller heard it, transcribed by its own
            Whisper (``caller.transcript``: goal-driven callers, and black-box agents).
        interrupted (boolean): The caller barged in on this reply.
        overlaps_next_line (boolean): The reply was first heard after the caller had
            started its next line: it gets no voice-to-voice figure (``v2v_*`` and
            ``transport_s`` NaN), since the wait would include the caller's own line.
        tool_calls (str): The functions the agent called in the turn, in order
            (``, ``-joined; every call, with its arguments and result: ``tool_calls_df``).
        bot_speech_s (float64): How long the bot spoke (``bot.speech_stopped - started``).
        v2v_caller_s, v2v_server_s, v2v_recording_s, vad_stop_s, stt_s, turn_end_s,
            llm_ttft_s, tool_s, tts_ttfa_s, transport_s (float64): Latencies (see the
            latency module; ``stt_s`` is the transcription, ``turn_end_s`` what the
            turn-end decision added, ``tool_s`` the time in the agent's own functions).
        user_started_t, user_stopped_t, stt_final_t, bot_started_t, bot_stopped_t
            (float64): Server-clock ``t`` of the turn's ``user.speech_*``, last final
            transcript and ``bot.speech_*`` events.
        utterance_started_t, utterance_ended_t, heard_started_t, heard_ended_t (float64):
            Caller-clock ``t`` of the matched ``caller.utterance_*`` / ``caller.heard_*``.
        sweep, variant (str): The call's sweep and variant (as in ``calls_df``), so
            ``compare(turns, by="variant")`` compares a sweep's variants directly.
        repeat (Int64): The sweep cell's repeat number.

    Args:
        root: The recordings root, or one call directory.
        recording: Measure ``v2v_recording_s`` on ``caller.wav`` (cached like the rest);
            ``False`` leaves it NaN and reads no audio.
        cache: Use and update the parquet cache.
    """
    root = Path(root)
    return _turns(root, scan(root), recording, cache)


def _turns(root: Path, dirs: Sequence[CallDir], recording: bool, cache: bool) -> pd.DataFrame:
    table = _records(root, dirs, "turns", cache)
    recorded = None
    # No caller.wav anywhere (real calls, or records copied without audio): nothing to measure.
    if recording and table.num_rows and any(CALLER_WAV in d.stats for d in dirs):
        recorded = _cache.load(
            root,
            dirs,
            name="recording",
            version=_RECORDING_VERSION,
            signature=lambda d: d.signature(MANIFEST, EVENTS, CALLER_WAV),
            build=build_recording,
            tables=["recording"],
            use_cache=cache,
        )["recording"]
    return _frame(table, lambda: _turns_frame(table, recorded), recorded)


def _turns_frame(table: pa.Table, recorded: pa.Table | None) -> pd.DataFrame:
    """The turns with ``v2v_recording_s`` measured on the recordings (``recorded``) or NaN."""
    df = table.to_pandas(types_mapper=_TYPES.get)
    measured = pd.Series(float("nan"), index=df.index)
    if recorded is not None:
        rec = recorded.to_pandas()
        lookup = rec.set_index(["call_sid", "caller_turn"])["v2v_recording_s"]
        keys = pd.MultiIndex.from_arrays([df["call_sid"].astype("str"), df["caller_turn"]])
        measured = pd.Series(lookup.reindex(keys).to_numpy(), index=df.index)
        measured[df["overlaps_next_line"].fillna(False).astype(bool)] = float("nan")
    df.insert(df.columns.get_loc("v2v_server_s") + 1, "v2v_recording_s", measured)
    return df


class Records(NamedTuple):
    """The three tables of a recordings tree, read together by :func:`load_records`."""

    events: pd.DataFrame
    turns: pd.DataFrame
    calls: pd.DataFrame


def load_records(root: PathLike, *, recording: bool = True, cache: bool = True) -> Records:
    """``events_df``, ``turns_df`` and ``calls_df`` of ``root`` from one look at the tree.

    The same three tables as the three loaders (same rows, dtypes and warnings), but the
    tree is scanned (or, loaded before in this process, checked) once instead of three
    times: on a large tree that check is most of a warm load.

        >>> events, turns, calls = load_records("recordings")

    Args:
        root: The recordings root, or one call directory.
        recording: As for :func:`turns_df`.
        cache: Use and update the parquet cache.
    """
    root = Path(root)
    dirs = scan(root)
    events = _pandas(_records(root, dirs, "events", cache))
    return Records(events, _turns(root, dirs, recording, cache), _calls(root, dirs, cache))
