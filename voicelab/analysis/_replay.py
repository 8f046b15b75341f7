"""A replayed call beside its original: the same caller lines, the old and the new replies.

``voicelab replay`` plays the caller's lines of a recorded call again; the replay's
caller line ``k`` (its ``caller_turn``) is the original's ``k``-th line. Both sides come
from :func:`~voicelab.analysis.turns_df`, so a turn's latency is the figure every other
table shows: the first of ``V2V_PREFERENCE`` it has.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from voicelab.analysis.latency import turn_v2v
from voicelab.analysis.load import turns_df

__all__ = ["REPLAY_COLUMNS", "original_replies", "replay_table"]

REPLAY_COLUMNS = [
    "line",
    "caller_text",
    "original_reply",
    "original_v2v_s",
    "new_reply",
    "new_v2v_s",
    "v2v_change_s",
]


def original_replies(turns: pd.DataFrame) -> pd.DataFrame:
    """One row per caller line of an original call's turns: ``line`` (1, 2...; 0 is the
    greeting), ``caller_text``, ``reply`` and ``v2v_s``.

    A simulated call's lines are its caller's utterances (``caller_turn``); a real call's
    are the server's turns (``turn``), which is how ``voicelab replay`` cuts it.
    """
    if turns.empty:
        return pd.DataFrame(columns=["line", "caller_text", "reply", "v2v_s"])
    key = "caller_turn" if turns["caller_turn"].fillna(0).gt(0).any() else "turn"
    rows = turns.dropna(subset=[key]).drop_duplicates(key)
    text = rows["caller_text"].where(rows["caller_text"].notna(), rows["stt_text"])
    return pd.DataFrame(
        {
            "line": rows[key].astype("Int64").to_numpy(),
            "caller_text": text.to_numpy(),
            "reply": rows["bot_text"].where(rows["bot_text"].notna(), rows["heard_text"]),
            "v2v_s": [turn_v2v(row) for _, row in rows.iterrows()],
        }
    ).sort_values("line", ignore_index=True)


def replay_table(
    original: str | os.PathLike[str] | pd.DataFrame, new: str | os.PathLike[str]
) -> pd.DataFrame:
    """The original call's replies and latencies beside the replay's, line by line.

    Args:
        original: The original call's directory, or its lines already made
            (:func:`original_replies`'s columns; e.g. measured on a bare WAV).
        new: The replay's call directory.

    Returns:
        One row per caller line (0: the greeting, without latency), in order, with
        :data:`REPLAY_COLUMNS`: the line's words (the original's, else the replay's
        ground truth), each side's reply and voice-to-voice, and the change (new minus
        original; positive is slower). A line only one side has keeps its row.
    """
    if isinstance(original, pd.DataFrame):
        before = original
    else:
        before = original_replies(_turns(Path(original)))
    after = original_replies(_turns(Path(new)))
    table = before.merge(after, on="line", how="outer", suffixes=("_original", "_new"))
    table = table.sort_values("line", ignore_index=True)
    said = table["caller_text_original"]
    out = pd.DataFrame(
        {
            "line": table["line"].astype("Int64"),
            "caller_text": said.where(said.notna(), table["caller_text_new"]),
            "original_reply": table["reply_original"],
            "original_v2v_s": table["v2v_s_original"].astype(float),
            "new_reply": table["reply_new"],
            "new_v2v_s": table["v2v_s_new"].astype(float),
        }
    )
    out.loc[out["line"] == 0, ["original_v2v_s", "new_v2v_s"]] = float("nan")
    out["v2v_change_s"] = out["new_v2v_s"] - out["original_v2v_s"]
    return out[REPLAY_COLUMNS]


def _turns(directory: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a record cut short still has the lines it has
        return turns_df(directory, cache=False)
