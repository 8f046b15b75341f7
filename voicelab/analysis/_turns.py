"""The turns table: one row per exchange, built from one call's events in plain Python.

Turn ``N`` is the bot's answer to the caller's ``N``-th speech turn; 0 is the greeting.
The server's events are attributed to turns the way the server counts them (DESIGN.md
section 3.1): the ``k``-th ``user.speech_stopped`` ends turn ``k``. Two events are placed
by time rather than by their ``turn`` field, because the recorder stamps the counter as it
stands when the frame passes: ``user.speech_started`` goes with the stop that follows it,
and a final ``stt.transcript`` with the speech segment that began last (a streaming STT
may finish before the stop, a segmented one after it).

Caller utterances (simulated calls) are matched to server turns by wall clock: turn ``k``
gets the caller utterance that ended last before its ``user.speech_stopped`` and after the
previous turn's. An utterance the server never heard keeps a row of its own, ``turn`` null. A reply
first heard after the caller had started its next line is flagged (``overlaps_next_line``)
and gets no voice-to-voice figure: it is not a latency.

A black-box agent's call (no server events: a bot voicelab did not write) has only the
caller's side: its turns are the caller's (turn ``N`` = the reply heard to utterance ``N``,
0 the greeting), with what the caller heard and its own transcript of it
(``caller.transcript``); every server-side column is null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import pyarrow as pa

from voicelab.analysis._calls import MANIFEST_COLUMNS, SWEEP_COLUMNS, manifest_value
from voicelab.analysis._files import ParsedCall
from voicelab.analysis.latency import BREAKDOWN, breakdown
from voicelab.recording.contract import FUNCTION_CALL_EVENTS

__all__ = ["TURNS_SCHEMA", "build_turns"]

_by_t = itemgetter("t")
_F64, _STR, _DICT = pa.float64(), pa.string(), pa.dictionary(pa.int32(), pa.string())
_LATENCY = ("v2v_caller_s", "v2v_server_s", *BREAKDOWN)
_SETTLED = frozenset(FUNCTION_CALL_EVENTS[1:])
_TIMES = (
    "user_started_t",
    "user_stopped_t",
    "stt_final_t",
    "bot_started_t",
    "bot_stopped_t",
    "utterance_started_t",
    "utterance_ended_t",
    "heard_started_t",
    "heard_ended_t",
)

TURNS_SCHEMA = pa.schema(
    [
        ("call_sid", _DICT),
        ("turn", pa.int64()),
        ("caller_turn", pa.int64()),
        ("line", pa.int64()),
        ("split_line", pa.bool_()),
        ("speaker", _DICT),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("caller_text", _STR),
        ("stt_text", _STR),
        ("bot_text", _STR),
        ("heard_text", _STR),
        ("interrupted", pa.bool_()),
        ("overlaps_next_line", pa.bool_()),
        ("tool_calls", _STR),
        ("bot_speech_s", _F64),
        *((name, _F64) for name in _LATENCY),
        *((name, _F64) for name in _TIMES),
        # The call's sweep cell, from its manifest (the calls table declares where).
        *((name, MANIFEST_COLUMNS[name][0]) for name in SWEEP_COLUMNS),
    ]
)


@dataclass(slots=True)
class _Turn:
    turn: int | None = None
    caller_turn: int | None = None
    first_wall: str | None = None
    stop_wall: str | None = None
    stt: list[str] = field(default_factory=list)
    llm: list[str] = field(default_factory=list)
    tts: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    vad_wall: str | None = None
    vad_stop_secs: float | None = None
    spoken: list[str] = field(default_factory=list)
    ttft: float | None = None
    ttfa: float | None = None
    v2v: float | None = None
    interrupted: bool = False
    tools: list[str] = field(default_factory=list)
    settled: list[tuple[float, float]] = field(default_factory=list)  # (t, duration_s)


@dataclass(slots=True)
class _Utterance:
    text: str | None = None
    started_t: float | None = None
    ended_t: float | None = None
    started_wall: str | None = None
    ended_wall: str | None = None


def _wall(value: str | None) -> datetime | None:
    """A wall stamp as an aware datetime (a stamp without offset is taken as UTC)."""
    try:
        stamp = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if stamp is not None and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp


def _server_turns(events: list[dict[str, Any]]) -> dict[int, _Turn]:
    turns: dict[int, _Turn] = {}
    started = stopped = 0
    for event in sorted(events, key=_by_t):
        kind, data, t = event["type"], event["data"], event["t"]
        number = data.get("turn")
        if kind == "user.speech_started":
            started += 1
            number = started
        elif kind == "user.speech_stopped":
            stopped += 1
            number, started = stopped, max(started, stopped)
        elif kind in ("stt.transcript", "vad.stopped") and started:
            number = started
        if type(number) is not int:
            continue
        turn = turns.get(number)
        if turn is None:  # (not setdefault: that would build a _Turn for every event)
            turn = turns[number] = _Turn(turn=number, first_wall=event["wall"])
        times = turn.times
        if kind == "user.speech_started":
            times.setdefault("user_started_t", t)
        elif kind == "user.speech_stopped":
            times["user_stopped_t"], turn.stop_wall = t, event["wall"]
        elif kind == "vad.stopped" and "user_stopped_t" not in times:
            times["vad_stopped_t"], turn.vad_wall = t, event["wall"]
            turn.vad_stop_secs = _number(data.get("stop_secs"))
        elif kind == "stt.transcript" and data.get("final", True) is not False:
            turn.stt.append(str(data.get("text") or ""))
            times["stt_final_t"] = t
        elif kind == "llm.response" and data.get("text"):
            turn.llm.append(str(data["text"]))
        elif kind == "tts.started" and data.get("text"):
            turn.tts.append(str(data["text"]))
        elif kind == "llm.started":
            times.setdefault("llm_started_t", t)
        elif kind == "llm.first_token" and turn.ttft is None:
            turn.ttft = _number(data.get("ttft_s"))
            times["first_token_t"] = t
        elif kind == "function_call.started" and isinstance(data.get("name"), str):
            turn.tools.append(data["name"])
        elif kind in _SETTLED:
            turn.settled.append((t, _number(data.get("duration_s")) or 0.0))
        elif kind == "tts.first_audio" and turn.ttfa is None:
            turn.ttfa = _number(data.get("ttfa_s"))
        elif kind == "bot.speech_started":
            times.setdefault("bot_started_t", t)
        elif kind == "bot.speech_stopped":
            times["bot_stopped_t"] = t
            if data.get("text"):  # what was actually spoken (the greeting has no llm.response)
                turn.spoken.append(str(data["text"]))
        elif kind == "interruption":
            turn.interrupted = True
        elif kind == "metrics.v2v" and data.get("measured_from", "user_stopped") == "user_stopped":
            turn.v2v = turn.v2v if turn.v2v is not None else _number(data.get("v2v_s"))
    return turns


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


@dataclass(slots=True)
class _CallerSide:
    """The caller's events of one call, by caller turn."""

    utterances: dict[int, _Utterance] = field(default_factory=dict)
    heard: dict[int, dict[str, float]] = field(default_factory=dict)
    heard_walls: dict[int, str] = field(default_factory=dict)
    transcripts: dict[int, list[str]] = field(default_factory=dict)


def _caller_side(events: list[dict[str, Any]]) -> _CallerSide:
    side = _CallerSide()
    utterances, heard = side.utterances, side.heard
    for event in sorted(events, key=_by_t):
        kind, data, t = event["type"], event["data"], event["t"]
        number = data.get("turn")
        if type(number) is not int:
            continue
        if kind in ("caller.utterance_started", "caller.utterance_ended"):
            utt = utterances.get(number)
            if utt is None:
                utt = utterances[number] = _Utterance()
            utt.text = utt.text or data.get("text")
            if kind.endswith("started") and utt.started_t is None:
                utt.started_t, utt.started_wall = t, event["wall"]
            elif kind.endswith("ended"):
                utt.ended_t, utt.ended_wall = t, event["wall"]
        elif kind == "caller.heard_started":
            heard.setdefault(number, {}).setdefault("heard_started_t", t)
            side.heard_walls.setdefault(number, event["wall"])
        elif kind == "caller.heard_ended":
            heard.setdefault(number, {})["heard_ended_t"] = t
        elif kind == "caller.transcript" and data.get("text"):
            side.transcripts.setdefault(number, []).append(str(data["text"]))
    return side


def _match(turns: dict[int, _Turn], utterances: dict[int, _Utterance]) -> None:
    """Give each server turn the caller utterance that ended in its window (wall clock)."""
    ends = {n: _wall(u.ended_wall) for n, u in utterances.items()}
    free = sorted((end, n) for n, end in ends.items() if end is not None)
    previous: datetime | None = None
    for number in sorted(k for k in turns if k > 0):
        stop = _wall(turns[number].stop_wall)
        if stop is None:
            continue
        window = [
            (end, n) for end, n in free if end <= stop and (previous is None or end > previous)
        ]
        if window:
            turns[number].caller_turn = window[-1][1]
            free.remove(window[-1])
        previous = stop


def _row(
    sid: str, turn: _Turn, utt: _Utterance | None, heard: dict[str, float], heard_text: list[str]
) -> dict:
    times: dict[str, float | None] = dict(turn.times)
    if utt is not None:
        times.update(utterance_started_t=utt.started_t, utterance_ended_t=utt.ended_t)
    times.update(heard)
    stop, end = _wall(turn.stop_wall), _wall(utt.ended_wall if utt else None)
    vad_stop = _wall(turn.vad_wall)
    latency = breakdown(
        utterance_ended_t=times.get("utterance_ended_t"),
        heard_started_t=times.get("heard_started_t"),
        caller_to_stop_s=(stop - end).total_seconds() if stop and end else None,
        user_stopped_t=times.get("user_stopped_t"),
        stt_final_t=times.get("stt_final_t"),
        llm_ttft_s=turn.ttft,
        tts_ttfa_s=turn.ttfa,
        bot_started_t=times.get("bot_started_t"),
        v2v_server_s=turn.v2v,
        vad_stopped_t=times.get("vad_stopped_t"),
        caller_to_vad_s=(vad_stop - end).total_seconds() if vad_stop and end else None,
        vad_stop_secs=turn.vad_stop_secs,
        tool_s=_tool_s(turn) if "llm_started_t" in times else None,
        llm_first_token_wait_s=_sub(times, "first_token_t", "llm_started_t"),
    )
    walls = [w for w in (_wall(turn.first_wall), _wall(utt.started_wall if utt else None)) if w]
    caller = "user_stopped_t" in times or "user_started_t" in times or utt is not None
    bot = "bot_started_t" in times or "heard_started_t" in times or bool(turn.llm or turn.tts)
    speaker = "both" if caller and bot else "caller" if caller else "bot" if bot else None
    speech = _sub(times, "bot_stopped_t", "bot_started_t")
    if speech is None:
        speech = _sub(times, "heard_ended_t", "heard_started_t")
    return {
        "call_sid": sid,
        "turn": turn.turn,
        "caller_turn": turn.caller_turn,
        "speaker": speaker,
        "started_at": min(walls) if walls else None,
        "caller_text": utt.text if utt else None,
        "stt_text": " ".join(t for t in turn.stt if t) or None,
        "bot_text": " ".join(turn.llm or turn.tts or turn.spoken) or None,
        "heard_text": " ".join(heard_text) or None,
        "interrupted": turn.interrupted,
        "tool_calls": ", ".join(turn.tools) or None,
        "bot_speech_s": speech,
        **latency,
        **{name: times.get(name) for name in _TIMES},
    }


def _tool_s(turn: _Turn) -> float:
    """The turn's function-call time on the reply's path: calls settled before its first
    token (a call that runs on after the reply started, e.g. a transfer waiting for the bot
    to finish its sentence, did not delay it)."""
    first = turn.times.get("first_token_t")
    return sum(d for t, d in turn.settled if first is None or t <= first)


def _sub(times: dict[str, Any], a: str, b: str) -> float | None:
    return times[a] - times[b] if times.get(a) is not None and times.get(b) is not None else None


def call_turns(call: ParsedCall) -> list[dict[str, Any]]:
    """The turn rows of one call, in time order."""
    server = [e for e in call.events if e["source"] == "server"]
    caller = [e for e in call.events if e["source"] == "caller"]
    turns = _server_turns(server)
    side = _caller_side(caller)
    utterances, heard = side.utterances, side.heard
    if not server:  # a black-box agent: the caller's turns are the only ones
        for n in sorted(set(utterances) | set(heard)):
            wall = utterances[n].started_wall if n in utterances else None
            turns[n] = _Turn(turn=n, caller_turn=n, first_wall=wall or side.heard_walls.get(n))
    _match(turns, utterances)
    if caller and 0 in turns:
        turns[0].caller_turn = 0  # the greeting is what the caller hears as turn 0
    matched = {t.caller_turn for t in turns.values()}
    unheard = [  # utterances the server never registered still get a row
        _Turn(caller_turn=n, first_wall=utterances[n].started_wall)
        for n in sorted(set(utterances) - matched)
    ]
    rows = []
    for turn in [*turns.values(), *unheard]:
        number = turn.caller_turn
        utt = utterances.get(number) if number is not None else None
        said = heard.get(number, {}) if number is not None else {}
        text = side.transcripts.get(number, []) if number is not None else []
        rows.append(_row(call.call_sid, turn, utt, said, text))
    _number_by_line(rows, turns, utterances, simulated=bool(caller))
    _flag_overlaps(rows, utterances)
    if not server:
        for row in rows:
            row["interrupted"] = None  # only the server knows (its interruption events)
    labels = {name: manifest_value(call.manifest, name) for name in SWEEP_COLUMNS}
    for row in rows:
        row.update(labels)
    rows.sort(key=_order)
    return rows


def _number_by_line(
    rows: list[dict[str, Any]],
    turns: dict[int, _Turn],
    utterances: dict[int, _Utterance],
    *,
    simulated: bool,
) -> None:
    """Give every row the caller's line it belongs to (``line``), and flag split lines.

    The server may end a turn at a pause inside a line ("Hi, ... my salad"): that turn has no
    ``caller_turn`` of its own (the line's end matched the turn after it) but it was cut from
    the line it stopped inside, so it keeps that line's number, and both rows of the line
    say ``split_line``. Real calls have no caller lines: there a row's line is its turn.
    """
    spans = [
        (n, _wall(u.started_wall), _wall(u.ended_wall))
        for n, u in utterances.items()
        if u.started_wall and u.ended_wall
    ]
    cut_from: dict[int, int] = {}  # server turn -> the line it was cut from
    for number, turn in turns.items():
        stop = _wall(turn.stop_wall)
        if number > 0 and turn.caller_turn is None and stop is not None:
            inside = [n for n, start, end in spans if start and end and start <= stop < end]
            if inside:
                cut_from[number] = inside[0]
    split = set(cut_from.values())
    for row in rows:
        line = row["caller_turn"]
        if line is None:
            line = cut_from.get(row["turn"]) if simulated else row["turn"]
        row["line"], row["split_line"] = line, line in split


def _flag_overlaps(rows: list[dict[str, Any]], utterances: dict[int, _Utterance]) -> None:
    """Flag replies first heard after the caller had started its next line.

    Such a reply answers line ``N`` but reached the caller during line ``N + 1`` (the
    caller gave up waiting, or its script moved on): "heard minus line ``N``'s end" would
    count the next line as the agent's latency. Its voice-to-voice figures are left out
    (NaN, with ``transport_s``, the remainder); the parts the server measured stay.
    """
    for row in rows:
        line, heard = row["caller_turn"], row["heard_started_t"]
        following = utterances.get(line + 1) if line is not None else None
        next_started = following.started_t if following is not None else None
        late = heard is not None and next_started is not None and heard >= next_started
        row["overlaps_next_line"] = late
        if row["overlaps_next_line"]:
            row.update(v2v_caller_s=None, v2v_server_s=None, transport_s=None)


def _order(row: dict[str, Any]) -> tuple[bool, float, int]:
    started: datetime | None = row["started_at"]
    turn: int | None = row["turn"]
    return started is None, started.timestamp() if started else 0.0, -1 if turn is None else turn


def build_turns(calls: Sequence[ParsedCall]) -> pa.Table:
    """The turns of ``calls`` as one table with :data:`TURNS_SCHEMA`."""
    rows = [row for call in calls for row in call_turns(call)]
    columns = {name: [r[name] for r in rows] for name in TURNS_SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=TURNS_SCHEMA)
