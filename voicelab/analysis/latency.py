"""Latency per turn, and honest summaries of it (DESIGN.md section 4).

Every figure is in seconds and belongs to a row of ``turns_df`` (turn ``N`` = the bot's
answer to the caller's ``N``-th speech turn; server clock ``t`` unless said otherwise):

``v2v_caller_s``
    What the caller feels: ``caller.heard_started(turn=N).t - caller.utterance_ended(turn=N).t``,
    both on the caller's clock (simulated calls only).
``v2v_server_s``
    pipecat's ``UserBotLatencyObserver`` figure, the ``metrics.v2v`` event of the turn that is
    measured from the user stopping (``measured_from`` ``user_stopped`` or absent). It starts
    at the estimated end of speech and stops when the first audio frame is handed to the
    websocket, so it excludes transport and playout.
``v2v_recording_s``
    The same quantity as ``v2v_caller_s`` measured independently from ``caller.wav`` by
    onset detection (see :func:`voicelab.analysis.recording_v2v`).

The breakdown of a turn, in pipeline order:

``vad_stop_s``
    Waiting for the VAD to decide the caller stopped: the turn's last ``vad.stopped.wall``
    minus the ``wall`` of the matching ``caller.utterance_ended`` (the clocks differ, so
    walls are compared); it includes the audio's trip to the server. Real calls have no
    caller events: there it is the VAD's ``stop_secs``. Records without ``vad.stopped``
    events fall back to ``user.speech_stopped`` in place of it (then ``stt_s`` is the
    transcript's wait after the turn stop, floored at 0, and ``turn_end_s`` is 0).
``stt_s``
    The transcription on the turn's path: from the VAD's stop to the final transcript
    (``stt.transcript.t - vad.stopped.t``), clipped to ``[0, user.speech_stopped.t -
    vad.stopped.t]``: 0 for a streaming STT whose transcript was ready at the stop, the
    whole wait if the transcript came last.
``turn_end_s``
    What the turn-end decision added after the transcript was ready: the rest of the wait
    from the VAD's stop to the hand-off to the LLM (``user.speech_stopped.t - vad.stopped.t
    - stt_s``). It is smart-turn's verdict, or its fallback timeout (1.5 s) when the model
    was unsure. The two run side by side; each turn's wait is charged to the one that ended
    last, so the parts still add up. Records without ``vad.stopped`` events cannot split it
    (it stays inside ``vad_stop_s``): 0 there.
``llm_ttft_s``
    The turn's first ``llm.first_token.ttft_s`` (from ``llm.started``). In a turn where the
    LLM called functions, the LLM's own time: from the turn's first ``llm.started`` to its
    first token, less ``tool_s``.
``tool_s``
    Time in the application's own code: the durations of the turn's function calls
    (``function_call.*`` ``duration_s``), 0 in a turn that called none.
``tts_ttfa_s``
    The turn's first ``tts.first_audio.ttfa_s`` (from ``tts.started``).
``transport_s``
    What remains of ``v2v_caller_s`` (``v2v_server_s`` for real calls) once the five parts
    above are taken out: websocket and network transit both ways, the playout buffer,
    context aggregation and queueing, and the LLM's wait from its first token to the first
    whole sentence TTS can start on.

Summaries of these columns (percentiles with bootstrap intervals, A/B comparisons) live in
:mod:`voicelab.analysis.percentiles`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = [
    "BREAKDOWN",
    "LATENCY_COLUMNS",
    "V2V_PREFERENCE",
    "breakdown",
    "measured_v2v",
    "reply_latencies",
    "turn_v2v",
]

BREAKDOWN = (
    "vad_stop_s",
    "stt_s",
    "turn_end_s",
    "llm_ttft_s",
    "tool_s",
    "tts_ttfa_s",
    "transport_s",
)
LATENCY_COLUMNS = ("v2v_caller_s", "v2v_server_s", "v2v_recording_s", *BREAKDOWN)
V2V_PREFERENCE = ("v2v_caller_s", "v2v_recording_s", "v2v_server_s")
"""Voice-to-voice columns, best first: what the caller felt, the same measured on
``caller.wav``, then the server's figure (which excludes transport and playout). Where a
single figure per turn is wanted (expectations, reports), the first one present is it."""
_NAN = math.nan


def turn_v2v(row: Mapping[str, Any] | pd.Series) -> float:
    """A turn's voice-to-voice: the first of :data:`V2V_PREFERENCE` it has (NaN: none)."""
    for column in V2V_PREFERENCE:
        value = row.get(column)
        if value is not None and pd.notna(value):
            return float(value)
    return _NAN


def reply_latencies(turns: pd.DataFrame) -> pd.DataFrame:
    """Every reply with a voice-to-voice figure, in time order: the one truth each surface
    shows (the report, ``voicelab simulate``'s summary, ``CallResult``).

    Args:
        turns: ``turns_df`` rows.

    Returns:
        Columns ``call_sid``, ``line`` (the caller's line it answers, ``turns_df``'s ``line``; the
        server's turn where no line is known), ``turn`` and ``v2v_s`` (:func:`turn_v2v`).
    """
    if turns.empty:
        return pd.DataFrame(columns=["call_sid", "line", "turn", "v2v_s"])
    line = turns["turn"]
    if "line" in turns:  # a turn the server split off a line keeps the line's number
        line = turns["line"].astype("Int64").fillna(turns["turn"].astype("Int64"))
    elif "caller_turn" in turns:
        line = turns["caller_turn"].astype("Int64").fillna(turns["turn"].astype("Int64"))
    out = pd.DataFrame(
        {
            "call_sid": turns["call_sid"].astype("str"),
            "line": line.astype("Int64"),
            "turn": turns["turn"].astype("Int64"),
            "v2v_s": [turn_v2v(row) for _, row in turns.iterrows()],
        }
    )
    out = out.dropna(subset=["v2v_s"])  # a turn nobody measured (the greeting has none)
    return out.sort_values(["call_sid", "turn"], kind="stable").reset_index(drop=True)


def measured_v2v(turns: pd.DataFrame) -> list[str]:
    """The :data:`V2V_PREFERENCE` columns ``turns`` has any figure in, best first."""
    return [c for c in V2V_PREFERENCE if c in turns.columns and turns[c].notna().any()]


def _sub(a: float | None, b: float | None) -> float:
    return _NAN if a is None or b is None else a - b


def breakdown(
    *,
    utterance_ended_t: float | None = None,
    heard_started_t: float | None = None,
    caller_to_stop_s: float | None = None,
    user_stopped_t: float | None = None,
    stt_final_t: float | None = None,
    llm_ttft_s: float | None = None,
    tts_ttfa_s: float | None = None,
    bot_started_t: float | None = None,
    v2v_server_s: float | None = None,
    vad_stopped_t: float | None = None,
    caller_to_vad_s: float | None = None,
    vad_stop_secs: float | None = None,
    tool_s: float | None = 0.0,
    llm_first_token_wait_s: float | None = None,
) -> dict[str, float]:
    """The latency columns of one turn from its event times (module docstring); NaN if unknown.

    Args:
        utterance_ended_t: ``caller.utterance_ended.t`` (caller clock).
        heard_started_t: ``caller.heard_started.t`` (caller clock).
        caller_to_stop_s: ``user.speech_stopped.wall - caller.utterance_ended.wall``.
        user_stopped_t: ``user.speech_stopped.t``.
        stt_final_t: ``t`` of the last final ``stt.transcript``.
        llm_ttft_s: ``llm.first_token.ttft_s``.
        tts_ttfa_s: ``tts.first_audio.ttfa_s``.
        bot_started_t: ``bot.speech_started.t``.
        v2v_server_s: ``metrics.v2v.v2v_s``.
        vad_stopped_t: ``t`` of the turn's last ``vad.stopped``.
        caller_to_vad_s: ``vad.stopped.wall - caller.utterance_ended.wall``.
        vad_stop_secs: ``vad.stopped.stop_secs``.
        tool_s: The turn's function calls' durations, summed (``None``: unknown, no LLM
            ran).
        llm_first_token_wait_s: From the turn's first ``llm.started`` to its first token:
            with function calls, the LLM's time is this less ``tool_s``.
    """
    v2v_caller = _sub(heard_started_t, utterance_ended_t)
    v2v_server = _NAN if v2v_server_s is None else v2v_server_s
    if vad_stopped_t is not None and user_stopped_t is not None:
        vad = caller_to_vad_s if caller_to_vad_s is not None else _nan_if_none(vad_stop_secs)
        stt, turn_end = _transcript_and_turn_end(vad_stopped_t, stt_final_t, user_stopped_t)
    else:  # no VAD events: the turn's stop stands in for the VAD's
        if caller_to_stop_s is not None:
            vad = caller_to_stop_s
        else:  # a real call: the server's figure less what came after the stop
            vad = v2v_server - _sub(bot_started_t, user_stopped_t)
        stt = _sub(stt_final_t, user_stopped_t)
        stt = max(0.0, stt) if not math.isnan(stt) else _NAN
        turn_end = 0.0 if user_stopped_t is not None else _NAN
    llm = _NAN if llm_ttft_s is None else llm_ttft_s
    tool = _NAN if tool_s is None else tool_s
    if tool_s and llm_first_token_wait_s is not None:
        llm = max(0.0, llm_first_token_wait_s - tool_s)  # both LLM runs, not the tools
    tts = _NAN if tts_ttfa_s is None else tts_ttfa_s
    basis = v2v_caller if not math.isnan(v2v_caller) else v2v_server
    measured = vad + stt + turn_end + llm + tool + tts  # NaN as soon as one part is
    return {
        "v2v_caller_s": v2v_caller,
        "v2v_server_s": v2v_server,
        "vad_stop_s": vad,
        "stt_s": stt,
        "turn_end_s": turn_end,
        "llm_ttft_s": llm,
        "tool_s": tool,
        "tts_ttfa_s": tts,
        "transport_s": basis - measured,
    }


def _transcript_and_turn_end(
    vad_stopped_t: float, stt_final_t: float | None, user_stopped_t: float
) -> tuple[float, float]:
    """Split the wait from the VAD's stop to the hand-off between the transcription and the
    turn-end decision: they run side by side, and the one that ended last holds the turn."""
    waited = max(0.0, user_stopped_t - vad_stopped_t)
    # No transcript time known: the whole wait stays the STT's, as before the split.
    heard = waited if stt_final_t is None else stt_final_t - vad_stopped_t
    stt = min(max(0.0, heard), waited)
    return stt, waited - stt


def _nan_if_none(value: float | None) -> float:
    return _NAN if value is None else value
