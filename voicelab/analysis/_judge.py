"""An LLM judge: one 1-5 score and a one-line rationale per call, cached in the call directory.

The judge takes any ``complete(prompt) -> reply`` callable, so the same rubric runs on the
cloud LLM or the offline one. Verdicts are stored as ``judge_<rubric_version>.json`` next
to the call's events and reused by (call_sid, rubric version): changing the rubric means
changing its version. A reply that cannot be parsed is reported, not cached, so a rerun
tries again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from voicelab._files import atomic_write_text
from voicelab.analysis._scores import score_row, scores_frame
from voicelab.analysis.load import calls_df, turns_df
from voicelab.defaults import load_judge_rubric

__all__ = ["RUBRIC", "RUBRIC_VERSION", "judge_calls", "transcript"]

# The reference agent's rubric is package data (voicelab/defaults/judge_rubric.md).
_DEFAULT_RUBRIC = load_judge_rubric()
RUBRIC_VERSION = _DEFAULT_RUBRIC.version
RUBRIC = _DEFAULT_RUBRIC.text


def transcript(turns: pd.DataFrame) -> str:
    """One call's turns as ``Caller:`` / ``Agent:`` lines (ground truth where known)."""
    lines = []
    for row in turns.itertuples(index=False):
        said = row.caller_text if isinstance(row.caller_text, str) else row.stt_text
        if isinstance(said, str) and said:
            lines.append(f"Caller: {said}")
        if isinstance(row.bot_text, str) and row.bot_text:
            lines.append(f"Agent: {row.bot_text}")
    return "\n".join(lines)


def _parse(reply: str) -> tuple[int, str] | None:
    for match in re.finditer(r"\{[^{}]*\}", reply):
        try:
            data = json.loads(match.group())
        except ValueError:
            continue
        score = data.get("score") if isinstance(data, dict) else None
        if type(score) in (int, float) and score in (1, 2, 3, 4, 5):  # 4.0 yes, 4.5 or True no
            return int(score), str(data.get("rationale", "")).strip()
    loose = re.search(r"score\W{0,3}([1-5])\b", reply, re.IGNORECASE)
    if loose:  # small offline models often drop the JSON but keep the words
        rest = re.search(r"rationale\W{0,3}(.+)", reply, re.IGNORECASE)
        return int(loose.group(1)), rest.group(1).strip().strip('"}') if rest else ""
    return None


def _cache_path(call_dir: Path, version: str) -> Path:
    return call_dir / f"judge_{re.sub(r'[^A-Za-z0-9_.-]', '_', version)}.json"


def _cached(path: Path, sid: str, version: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (
        isinstance(data, dict)
        and data.get("call_sid") == sid
        and data.get("rubric_version") == version
    ):
        return data
    return None


def _store(path: Path, verdict: dict[str, Any]) -> None:
    # A cache: a crash may lose it (no fsync), but never leaves half a file.
    with contextlib.suppress(OSError):  # a read-only directory: the verdict is still returned
        atomic_write_text(path, json.dumps(verdict, indent=2), fsync=False)


def judge_calls(
    root: str | os.PathLike[str],
    complete: Callable[[str], str],
    *,
    rubric: str = RUBRIC,
    rubric_version: str = RUBRIC_VERSION,
    pass_score: int = 4,
    turns: pd.DataFrame | None = None,
    calls: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Grade every call under ``root`` with an LLM, one ``judge`` scores row per call.

    Args:
        root: The recordings root (or one call directory).
        complete: Sends a prompt to an LLM and returns its reply.
        rubric: The instructions; ``{transcript}`` marks where the call goes (appended
            when absent).
        rubric_version: Names the cache file; change it whenever the rubric changes.
        pass_score: The lowest score that passes.
        turns: ``turns_df(root)``, if already loaded.
        calls: ``calls_df(root)``, if already loaded.

    Returns:
        Scores rows (``check`` = ``judge``, ``turn`` NaN): ``score`` 1-5 and the rationale
        as ``detail``; an unparseable reply gives NaN ``score`` and ``passed``.
    """
    turns = turns_df(root, recording=False) if turns is None else turns
    calls = calls_df(root) if calls is None else calls
    sids = turns["call_sid"].astype("str")
    rows = []
    for sid, call_dir in zip(calls["call_sid"], calls["call_dir"], strict=True):
        path = _cache_path(Path(call_dir), rubric_version)
        verdict = _cached(path, sid, rubric_version)
        if verdict is None:
            text = transcript(turns[sids == sid])
            if "{transcript}" in rubric:
                prompt = rubric.replace("{transcript}", text)
            else:
                prompt = f"{rubric}\n\nTranscript:\n{text}"
            reply = complete(prompt)
            parsed = _parse(reply)
            if parsed is None:
                detail = f"unparseable judge reply: {reply[:120]!r}"
                rows.append(score_row(sid, "judge", None, None, detail))
                continue
            verdict = {
                "call_sid": sid,
                "rubric_version": rubric_version,
                "score": parsed[0],
                "rationale": parsed[1],
            }
            _store(path, verdict)
        score = int(verdict["score"])
        rows.append(
            score_row(
                sid,
                "judge",
                None,
                score >= pass_score,
                str(verdict["rationale"]),
                score=float(score),
            )
        )
    return scores_frame(rows)
