"""STT accuracy: word error rate against the simulated caller's ground truth (jiwer).

Both sides are normalised first, so that only recognition errors count: lower case,
digits spelled out ("10" and "ten" match, "1,250" is "one thousand two hundred fifty"),
apostrophes dropped ("don't" and "dont" match), every other punctuation mark a word break
("twenty-five" is "twenty five").
"""

from __future__ import annotations

import os
import re

import jiwer
import pandas as pd

__all__ = ["call_wer", "normalize_text", "number_to_words", "turn_wer"]

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_SERVER_TIMES = ("user_started_t", "user_stopped_t", "stt_final_t", "bot_started_t")
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at "}


def number_to_words(n: int) -> str:
    """Spell a whole number the way people say it: 115 -> "one hundred fifteen".

    Numbers of a trillion or more (card or phone numbers) are read digit by digit.
    """
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10**12:
        return " ".join(_ONES[int(d)] for d in str(n))
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (" " + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    for size, name in _SCALES:
        if n >= size:
            high, rest = divmod(n, size)
            return f"{number_to_words(high)} {name}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def _decimal(match: re.Match[str]) -> str:
    whole, fraction = match.group(1), match.group(2)
    digits = " ".join(_ONES[int(d)] for d in fraction)
    return f" {number_to_words(int(whole))} point {digits} "


def normalize_text(text: str) -> str:
    """The form both sides of a WER comparison are put in (module docstring)."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,250 -> 1250
    text = re.sub(r"(\d+)\.(\d+)", _decimal, text)
    text = re.sub(r"\d+", lambda m: f" {number_to_words(int(m.group()))} ", text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = text.replace("'", "")
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


def _turns(turns: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    if isinstance(turns, pd.DataFrame):
        return turns
    from voicelab.analysis.load import turns_df

    return turns_df(turns, recording=False)


def turn_wer(turns: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """WER of every turn that has ground truth (``caller_text``, simulated calls).

    A turn the server never transcribed counts as all deletions: the caller said it and
    the bot did not get it. A line the server split into several turns (it ended a turn at
    a pause and the caller went on) is scored against everything the server transcribed
    from it: the split-off turns before the one matched to the line (``caller_turn`` null)
    are read with it, in order, so a cut-in costs latency and a reply, not phantom errors.
    A black-box agent's calls (no server events) have no transcript to score: their turns
    are left out, not counted as deletions.

    Args:
        turns: ``turns_df`` output, or a recordings root to load it from.

    Returns:
        One row per turn: ``call_sid``, ``turn``, ``caller_turn``, ``reference`` and
        ``hypothesis`` (normalised), ``ref_words``, ``hits``, ``substitutions``,
        ``deletions``, ``insertions`` (Int64) and ``wer`` (float64, errors / ref_words).
    """
    df = _turns(turns)
    # A call with a server side has server-clock times on some row; a black-box one has none.
    server = [c for c in _SERVER_TIMES if c in df.columns]
    if server:
        seen = df[server].notna().any(axis=1)
        df = df[seen.groupby(df["call_sid"], observed=True).transform("any").astype(bool)]
    heard = _heard_per_line(df)
    df = df[df["caller_text"].notna()]
    rows = []
    for row in df.itertuples(index=False):
        reference = normalize_text(str(row.caller_text))
        if not reference:
            continue
        hypothesis = normalize_text(heard.get((row.call_sid, row.turn), ""))
        out = jiwer.process_words(reference, hypothesis)
        errors = out.substitutions + out.deletions + out.insertions
        words = out.hits + out.substitutions + out.deletions
        rows.append(
            {
                "call_sid": row.call_sid,
                "turn": row.turn,
                "caller_turn": row.caller_turn,
                "reference": reference,
                "hypothesis": hypothesis,
                "ref_words": words,
                "hits": out.hits,
                "substitutions": out.substitutions,
                "deletions": out.deletions,
                "insertions": out.insertions,
                "wer": errors / words,
            }
        )
    counts = [
        "turn",
        "caller_turn",
        "ref_words",
        "hits",
        "substitutions",
        "deletions",
        "insertions",
    ]
    columns = ["call_sid", "turn", "caller_turn", "reference", "hypothesis", *counts[2:], "wer"]
    out_df = pd.DataFrame(rows, columns=columns)
    return out_df.astype({c: "Int64" for c in counts} | {"wer": "float64"})


def _heard_per_line(df: pd.DataFrame) -> dict[tuple[str, int], str]:
    """(call, turn) → the STT text of that turn and of the split-off turns just before it."""
    heard: dict[tuple[str, int], str] = {}
    served = df[df["turn"].notna() & (df["turn"] > 0)].sort_values(["call_sid", "turn"])
    columns = served[["call_sid", "turn", "stt_text", "caller_turn"]].astype(
        {"call_sid": "str", "caller_turn": "float64"}
    )
    # One pass over the rows, sorted by call: a groupby over 10,000 calls builds a frame
    # per call and took most of a report's time.
    pending: list[str] = []
    current = None
    for sid, turn, stt_text, caller_turn in columns.itertuples(index=False):
        if sid != current:
            current, pending = sid, []
        if isinstance(stt_text, str):
            pending.append(stt_text)
        if caller_turn == caller_turn:  # not NaN
            heard[(sid, int(turn))] = " ".join(pending)
            pending = []
    return heard


def call_wer(turns: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """WER per call: all its errors over all its reference words (not a mean of turn WERs).

    Returns:
        One row per call with ground truth: ``call_sid``, ``turns``, ``ref_words``,
        ``errors`` (Int64) and ``wer`` (float64).
    """
    per_turn = turn_wer(turns)
    per_turn = per_turn.assign(
        errors=per_turn["substitutions"] + per_turn["deletions"] + per_turn["insertions"]
    )
    grouped = per_turn.groupby("call_sid", observed=True, sort=False)
    out = grouped.agg(
        turns=("wer", "size"), ref_words=("ref_words", "sum"), errors=("errors", "sum")
    )
    out = out.reset_index().astype({"turns": "Int64", "ref_words": "Int64", "errors": "Int64"})
    out["wer"] = (out["errors"] / out["ref_words"]).astype("float64")
    return out
