"""The original call's side of the replay table, line by line of the replay.

A record's lines are read with ``turns_df`` (:func:`voicelab.analysis._replay.original_replies`)
and renumbered as the replay plays them: replay line ``k`` is the ``k``-th utterance
:func:`~voicelab.replay.read_call` found, whichever original turn it led to. A line the
record has no turn for (a bare WAV's, or speech the server never made a turn of) gets
the voice-to-voice measured on the recording itself: from the line's end to the agent's
next audible sound before the caller spoke again (the audible rule on both sides).
"""

from __future__ import annotations

import warnings

import pandas as pd

from voicelab.analysis import turns_df
from voicelab.analysis._replay import original_replies
from voicelab.replay._read import RecordedCall

__all__ = ["original_lines"]


def original_lines(call: RecordedCall) -> pd.DataFrame:
    """The original's greeting and one row per replayed line: ``line``, ``caller_text``,
    ``reply``, ``v2v_s`` (see :func:`voicelab.analysis.replay_table`)."""
    recorded = pd.DataFrame(columns=["line", "caller_text", "reply", "v2v_s"])
    if call.kind != "wav":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            recorded = original_replies(turns_df(call.source, cache=False))
    by_turn = {int(row.line): row for row in recorded.itertuples()}
    greeting = by_turn.get(0)
    rows = [
        {
            "line": 0,
            "caller_text": None,
            "reply": greeting.reply if greeting is not None else None,
            "v2v_s": float("nan"),
        }
    ]
    for index, line in enumerate(call.utterances):
        found = by_turn.get(line.turn) if line.turn is not None else None
        next_start = (
            call.utterances[index + 1].start_s if index + 1 < len(call.utterances) else None
        )
        rows.append(
            {
                "line": index + 1,
                "caller_text": line.text,
                "reply": found.reply if found is not None else None,
                "v2v_s": (
                    found.v2v_s
                    if found is not None and pd.notna(found.v2v_s)
                    else _heard_after(call, line.end_s, next_start)
                ),
            }
        )
    frame = pd.DataFrame(rows)
    frame["line"] = frame["line"].astype("Int64")
    return frame


def _heard_after(call: RecordedCall, end_s: float, until: float | None) -> float:
    """Seconds from ``end_s`` to the agent's next audible stretch (NaN: none before ``until``)."""
    for start, _ in call.agent_speech:
        if start >= end_s and (until is None or start < until):
            return round(start - end_s, 3)
    return float("nan")
