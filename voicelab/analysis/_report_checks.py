"""The scenario checks as the report tells them: per scenario and check, in words.

``check_expectations`` gives one row per call and check; a reader wants "2 of 3 calls
passed 'Reply to line 2 mentions sorry'", with the failures and the reply each one read.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from voicelab.expectations import Expectation

__all__ = ["quote_replies", "scenario_checks"]

_TEXT_CHECKS = {"expect.contains", "expect.regex", "expect.must_not_say"}
_QUOTE = 120  # characters of a reply quoted beside a failed check


def _replies(call: pd.DataFrame, turn: Any) -> list[str]:
    """The bot's replies of scenario turn ``turn`` of one call (every reply when NA).

    Scenario turn ``N`` answers the caller's ``N``-th line: ``caller_turn`` on simulated
    calls, the server's ``turn`` on real ones (as :func:`check_expectations` reads them).
    """
    if not pd.isna(turn):
        numbers = call["caller_turn"] if call["caller_turn"].notna().any() else call["turn"]
        call = call[numbers.eq(int(turn)).fillna(False).astype(bool)]
    return [t for t in call["bot_text"] if isinstance(t, str) and t.strip()]


def quote_replies(
    scores: pd.DataFrame, turns: pd.DataFrame, listed: dict[str, list[Expectation]]
) -> pd.DataFrame:
    """``scores`` with each failed text expectation's detail quoting the reply it read.

    "/sorry/ unmatched" says what was wanted; the reply says what the bot said instead
    (for ``must_not_say``, the reply that said it).
    """
    failed = scores["check"].isin(_TEXT_CHECKS) & scores["passed"].eq(False).fillna(False)
    if not failed.any():
        return scores
    details = scores["detail"].astype("object").copy()
    sids = turns["call_sid"].astype("str")
    for index, row in scores[failed].iterrows():
        texts = _replies(turns[sids == str(row["call_sid"])], row["turn"])
        if row["check"] == "expect.must_not_say":
            banned = [
                p.lower()
                for e in listed.get(str(row["call_sid"]), [])
                if (e.turn is None and pd.isna(row["turn"])) or e.turn == row["turn"]
                for p in e.must_not_say or ()
            ]
            texts = [t for t in texts if any(p in t.lower() for p in banned)][:1] or texts
        reply = " / ".join(texts)
        reply = reply if len(reply) <= _QUOTE else reply[: _QUOTE - 1] + "…"
        details[index] = f"{row['detail']} in the reply {reply!r}" if reply else row["detail"]
    return scores.assign(detail=details.astype("str"))


def _describe(listed: list[Expectation]) -> dict[tuple[str, Any], str]:
    """What each ``(check, turn)`` of an expectation list asks, in words."""
    out: dict[tuple[str, Any], list[str]] = {}
    for exp in listed:
        turn = exp.turn
        if exp.contains:
            out.setdefault(("expect.contains", turn), []).append(
                " or ".join(repr(p) for p in exp.contains)
            )
        if exp.regex is not None:
            out.setdefault(("expect.regex", turn), []).append(f"/{exp.regex}/")
        if exp.must_not_say:
            out.setdefault(("expect.must_not_say", turn), []).extend(
                repr(p) for p in exp.must_not_say
            )
        if exp.max_latency_s is not None:
            out.setdefault(("expect.max_latency_s", turn), []).append(f"{exp.max_latency_s:.2f} s")
    return {key: ", ".join(parts) for key, parts in out.items()}


def _verdict(passed: pd.Series) -> str:
    if (passed == False).any():  # noqa: E712 (a nullable boolean: NA is neither)
        return "failed"
    return "undecided" if passed.isna().any() else "passed"


def scenario_checks(
    calls: pd.DataFrame, expect: pd.DataFrame, listed: dict[str, list[Expectation]]
) -> pd.DataFrame:
    """Per scenario and check: how many calls passed, failed or could not be decided."""
    columns = ["scenario", "check", "turn", "what", "calls", "passed", "failed", "undecided"]
    if expect.empty:
        return pd.DataFrame(columns=[*columns, "failures"])
    scenario = dict(zip(calls["call_sid"].astype("str"), calls["scenario_id"], strict=True))
    expect = expect.assign(
        scenario=[
            "(no scenario)" if pd.isna(s := scenario.get(sid)) else str(s)
            for sid in expect["call_sid"]
        ],
        turn_key=expect["turn"].astype("float64"),  # NaN for the whole call, groupable
    )
    rows = []
    keys = ["scenario", "check", "turn_key"]
    for (name, check, turn), frame in expect.groupby(keys, sort=False, dropna=False):
        per_call = frame.groupby("call_sid", sort=False)["passed"].agg(_verdict)
        first = frame["call_sid"].iloc[0]
        turn_value = None if pd.isna(turn) else int(turn)
        what = _describe(listed.get(first, [])).get((str(check), turn_value), "")
        failures = [
            f"{sid}: {detail}"
            for sid, detail, ok in zip(
                frame["call_sid"], frame["detail"], frame["passed"], strict=True
            )
            if not pd.isna(ok) and not ok
        ]
        rows.append(
            {
                "scenario": name,
                "check": check,
                "turn": turn_value,
                "what": what,
                "calls": len(per_call),
                "passed": int((per_call == "passed").sum()),
                "failed": int((per_call == "failed").sum()),
                "undecided": int((per_call == "undecided").sum()),
                "failures": failures,
            }
        )
    out = pd.DataFrame(rows, columns=[*columns, "failures"])
    return out.astype({"turn": "Int64"}).sort_values(["scenario", "turn"], kind="stable")
