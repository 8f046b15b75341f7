"""The one shape every quality check reports in (see :mod:`voicelab.analysis.quality`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["SCORE_COLUMNS", "score_row", "scores_frame"]

SCORE_COLUMNS = ["call_sid", "check", "turn", "passed", "score", "detail"]
_DTYPES = {
    "call_sid": "str",
    "check": "str",
    "turn": "Int64",
    "passed": "boolean",
    "score": "float64",
    "detail": "str",
}


def score_row(
    sid: Any,
    check: str,
    turn: Any,
    passed: bool | None,
    detail: str,
    score: float | None = None,
) -> dict[str, Any]:
    """One scores row; ``score`` defaults to 1.0 / 0.0 from ``passed``."""
    if score is None and passed is not None:
        score = float(passed)
    return dict(zip(SCORE_COLUMNS, (sid, check, turn, passed, score, detail), strict=True))


def scores_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows made by :func:`score_row` as a DataFrame with the scores dtypes."""
    return pd.DataFrame(rows, columns=SCORE_COLUMNS).astype(_DTYPES)
