"""The checks behind :mod:`voicelab.testing`: expectations, replies and latency of calls.

They need no pytest: :func:`expectation_checks` and :func:`regression_summary` give tables
for notebooks, the ``assert_*`` functions raise ``AssertionError`` with every failed check.
pandas and the analysis loaders are imported when a check runs, not on import.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicelab.errors import InvalidArgumentError, NotFoundError
from voicelab.expectations import Expectation
from voicelab.recording.contract import CallManifest
from voicelab.telephony.ids import DIAL_OUTCOME_STATUS

if TYPE_CHECKING:
    import pandas as pd

    from voicelab.judging import CriteriaJudge
    from voicelab.simulator.scenario import Scenario

__all__ = [
    "CallLike",
    "assert_expectations",
    "assert_latency",
    "assert_replied",
    "expectation_checks",
    "regression_summary",
]

CallLike = Any
"""A :class:`~voicelab.lab.CallResult` or a call directory path."""

_CHECK_COLUMNS = ["scenario", "call_sid", "check", "turn", "passed", "detail"]
_TEXT_CHECKS = {"expect.contains", "expect.regex", "expect.must_not_say", "expect.turn"}
_JUDGED = {"expect.eval"}


# --- reading one call ------------------------------------------------------------------


class _Call:
    """What the checks need of one call: its record, status, scenario and turns."""

    def __init__(self, call: CallLike) -> None:
        if isinstance(call, str | os.PathLike):
            directory: Path | None = Path(call)
            status: str | None = None
            name: str | None = None
            sid: str | None = None
        else:
            directory = getattr(call, "directory", None)
            status = getattr(call, "status", None)
            name = getattr(call, "scenario_id", None)
            sid = getattr(call, "call_sid", None)
            if directory is None and not hasattr(call, "status"):
                raise InvalidArgumentError(f"expected a CallResult or a path, got {call!r}")
        self.directory = None if directory is None else Path(directory)
        self.manifest: dict[str, Any] = {}
        parsed = CallManifest()
        if self.directory is not None:
            path = self.directory / "call.json"
            try:
                self.manifest = json.loads(path.read_text(encoding="utf-8"))
                parsed = CallManifest.model_validate(self.manifest)  # the record's contract
            except (OSError, ValueError) as exc:  # pydantic's ValidationError is one
                raise AssertionError(f"cannot read the call record {path}: {exc}") from None
        scenario = parsed.scenario
        self.scenario: dict[str, Any] = {} if scenario is None else scenario.model_dump()
        self.status = status or parsed.status
        self.call_sid = sid or parsed.call_sid
        self.name = self.scenario.get("id") or name or self.call_sid or "call"
        self._turns: pd.DataFrame | None = None

    @property
    def label(self) -> str:
        sid = f" ({self.call_sid})" if self.call_sid and self.call_sid != self.name else ""
        return f"{self.name}{sid}"

    def expectations(self) -> list[Expectation]:
        listed = self.scenario.get("expectations", self.manifest.get("expectations", []))
        return [Expectation.from_dict(item) for item in listed if isinstance(item, Mapping)]

    def metrics(self) -> list[dict[str, Any]]:
        listed = self.scenario.get("metrics") or []
        return [dict(item) for item in listed if isinstance(item, Mapping)]

    def turns(self) -> pd.DataFrame:
        if self._turns is None:
            from voicelab.analysis import turns_df

            if self.directory is None:
                raise AssertionError(f"{self.label}: the call left no recording ({self.status})")
            self._turns = turns_df(self.directory, recording=False, cache=False)
        return self._turns

    def replies(self, turn: int | None) -> pd.DataFrame:
        """The turns table rows of scenario turn ``turn`` (every row when ``None``).

        Scenario turn ``N`` answers the caller's ``N``-th line: ``caller_turn`` on simulated
        calls, the server's ``turn`` on real ones.
        """
        turns = self.turns()
        if turn is None:
            return turns
        simulated = "caller_turn" in turns and bool(turns["caller_turn"].notna().any())
        numbers = turns["caller_turn"] if simulated else turns["turn"]
        return turns[numbers.eq(turn).fillna(False).astype(bool)]


def _texts(rows: pd.DataFrame) -> list[str]:
    return [text for text in rows["bot_text"] if isinstance(text, str) and text.strip()]


def _latencies(rows: pd.DataFrame, column: str | None = None) -> list[tuple[int | None, float]]:
    """``(turn, seconds)`` of each row with a measure: ``column``, or the turn's
    voice-to-voice (:func:`voicelab.analysis.latency.turn_v2v`)."""
    from voicelab.analysis.latency import turn_v2v  # pandas: only once there are rows

    found = []
    for _, row in rows.iterrows():
        value = row.get(column) if column else turn_v2v(row)
        if _is_number(value):
            # The caller's line, as every surface numbers replies (a turn the server split
            # off a line keeps the line's number); the server's turn on records without one.
            number = row.get("line", row.get("caller_turn"))
            turn = number if _is_number(number) else row.get("turn")
            found.append((int(turn) if _is_number(turn) else None, float(value)))
    return found


def _is_number(value: Any) -> bool:
    try:
        return value is not None and not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _quote(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _phrases(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


# --- checks ----------------------------------------------------------------------------


def _row(call: _Call, check: str, turn: int | None, passed: bool, detail: str) -> dict[str, Any]:
    values = (call.name, call.call_sid, check, turn, passed, detail)
    return dict(zip(_CHECK_COLUMNS, values, strict=True))


def _judgments(
    call: _Call, listed: Sequence[Expectation], metrics: list[dict[str, Any]], judge: Any
) -> pd.DataFrame | None:
    """The judge's verdicts on the call's ``eval`` criteria and metrics, judged first
    (pipecat's judge through :mod:`voicelab.judging`; recorded verdicts are reused)."""
    if call.directory is None or not (metrics or any(e.eval is not None for e in listed)):
        return None
    from voicelab.analysis import judgments_df
    from voicelab.judging import judge_call

    judge_call(call.directory, judge, expectations=listed, metrics=metrics)
    return judgments_df(call.directory, cache=False)


def _expectation_rows(
    call: _Call,
    listed: Sequence[Expectation],
    metrics: list[dict[str, Any]] | None = None,
    judge: CriteriaJudge | None = None,
) -> list[dict[str, Any]]:
    """:func:`voicelab.analysis.check_expectations` on one call, made strict and readable.

    A check that could not be decided (a latency bound on a turn with no reply to measure)
    fails: a regression suite must not pass what it could not see. Failed text checks quote
    the reply they looked at. ``eval`` criteria and ``metrics`` are judged first.
    """
    import pandas as pd

    from voicelab.analysis import check_expectations
    from voicelab.analysis._actions import read_actions
    from voicelab.analysis.quality import metric_rows

    metrics = metrics or []
    if not listed and not metrics:
        return []
    turns = call.turns()
    sid = str(call.call_sid or "")
    actions = {sid: read_actions(call.directory)} if call.directory is not None else {}
    judged = _judgments(call, listed, metrics, judge)
    scores = check_expectations(turns, {sid: list(listed)}, actions, judged)
    scores = pd.concat([scores, metric_rows({sid: metrics}, judged)], ignore_index=True)
    rows = []
    for score in scores.itertuples(index=False):
        turn = None if pd.isna(score.turn) else int(score.turn)
        decided = not pd.isna(score.passed)
        passed = bool(score.passed) if decided else False
        where = "the call" if turn is None else f"turn {turn}"
        detail = f"{where} {str(score.check).removeprefix('expect.')}: {score.detail}"
        if not decided:
            detail += " (undecided: counts as failed)"
        elif score.check in _JUDGED or str(score.check).startswith("metric."):
            pass  # the judge's reason is the detail
        elif not passed and score.check in _TEXT_CHECKS:
            texts = _texts(call.replies(turn))
            if score.check == "expect.must_not_say":  # quote the reply that said it
                banned = [p.lower() for e in listed if e.turn == turn for p in e.must_not_say or ()]
                texts = [t for t in texts if any(p in t.lower() for p in banned)][:1] or texts
            detail += f" in reply {_quote(' / '.join(texts))}" if texts else " (no reply)"
        rows.append(_row(call, str(score.check), turn, passed, detail))
    return rows


def _check_call(
    call: _Call, scenario: Scenario | None, judge: CriteriaJudge | None = None
) -> list[dict[str, Any]]:
    outcome = scenario.outcome if scenario is not None else call.scenario.get("outcome")
    rows = []
    if outcome is not None:
        expected = DIAL_OUTCOME_STATUS.get(str(outcome), "completed")
        ok = call.status == expected
        detail = f"status {expected!r}: " + ("yes" if ok else f"the call ended {call.status!r}")
        rows.append(_row(call, "status", None, ok, detail))
    elif call.directory is None:
        detail = f"the call left no recording (status {call.status!r})"
        rows.append(_row(call, "record", None, False, detail))
    if call.directory is None:
        return rows
    # The scenario's own models, or the manifest's copy validated into the same model.
    listed = list(scenario.expect) if scenario is not None else call.expectations()
    metrics = [m.model_dump() for m in scenario.metrics] if scenario is not None else call.metrics()
    return rows + _expectation_rows(call, listed, metrics, judge)


def _as_list(items: Any) -> list[Any]:
    if items is None:
        return []
    single = isinstance(items, str | os.PathLike) or hasattr(items, "model_dump")  # a Scenario
    if single or not isinstance(items, Iterable):
        return [items]
    return list(items)


def expectation_checks(
    calls: CallLike | Iterable[CallLike],
    scenarios: Scenario | Iterable[Scenario] | None = None,
    *,
    judge: CriteriaJudge | None = None,
) -> pd.DataFrame:
    """Check calls against their scenarios: one row per check.

    Each call is checked against the ``expect:`` entries of its scenario (the ``scenarios``
    given, in the order of ``calls``, else the copy its ``call.json`` keeps) with
    :func:`voicelab.analysis.check_expectations`, so the checks mean what they mean in
    ``scores_df`` and reports: scenario turn ``N`` is the bot's answer to the caller's
    ``N``-th line (0: the greeting), ``contains`` passes when any of its phrases appears
    (case-insensitive), ``must_not_say`` when none does, ``max_latency_s`` when every
    measured reply came within the bound (caller-side voice-to-voice first). Unlike there,
    a check that cannot be decided fails. A ``status`` row checks that the call ended as
    the scenario's ``outcome`` says (``answer``: ``completed``, ``busy``: ``busy``...).

    Args:
        calls: One call or several: :class:`~voicelab.lab.CallResult`
            or call directory paths.
        scenarios: The scenarios the calls played, when the record may not say (a call
            that was never answered has no record).
        judge: Judges the ``eval`` criteria and ``metrics`` (pipecat's judge, the verdicts
            recorded in the call); default the one ``VOICELAB_JUDGE`` configures.

    Returns:
        Columns ``scenario``, ``call_sid``, ``check`` (``status``, ``expect.contains``,
        ``expect.regex``, ``expect.must_not_say``, ``expect.max_latency_s``,
        ``expect.eval`` (the judge's verdict and reason), ``metric.<name>`` (a scenario
        metric's score),
        ``expect.turn`` when the turn never happened, or ``record`` when a call without
        scenario left nothing to check), ``turn`` (Int64, NA for the whole call),
        ``passed`` (bool) and ``detail`` (what was expected and found).

    Raises:
        AssertionError: A call record cannot be read.
        ValueError: ``scenarios`` and ``calls`` differ in length.
        ConfigError: There are criteria to judge and no judge can be built.
    """
    import pandas as pd

    items = _as_list(calls)
    played = _as_list(scenarios)
    if played and len(played) != len(items):
        raise InvalidArgumentError(f"{len(items)} calls but {len(played)} scenarios")
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        rows.extend(_check_call(_Call(item), played[index] if played else None, judge))
    frame = pd.DataFrame(rows, columns=_CHECK_COLUMNS)
    return frame.astype({"turn": "Int64", "passed": "bool", "detail": "str"})


def regression_summary(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per call of :func:`expectation_checks` output: did it pass, and if not, why.

    Returns:
        Columns ``scenario``, ``call_sid``, ``passed`` (every check passed), ``checks``,
        ``failed`` (counts) and ``failures`` (the failed checks' details, ``; ``-joined).
    """
    import pandas as pd

    rows = []
    keys = ["scenario", "call_sid"]
    for (scenario, sid), group in checks.groupby(keys, sort=False, dropna=False):
        failed = group[~group["passed"]]
        rows.append(
            {
                "scenario": scenario,
                "call_sid": sid,
                "passed": failed.empty,
                "checks": len(group),
                "failed": len(failed),
                "failures": "; ".join(failed["detail"]),
            }
        )
    columns = [*keys, "passed", "checks", "failed", "failures"]
    return pd.DataFrame(rows, columns=columns)


# --- assertions ------------------------------------------------------------------------


def _fail(call: _Call, problems: list[str], total: int | None = None) -> None:
    __tracebackhide__ = True
    if not problems:
        return
    counted = f"{len(problems)} of {total} checks failed" if total else "failed"
    lines = [f"{call.label}: {counted}", *(f"  - {p}" for p in problems)]
    if call.directory is not None:
        lines.append(f"  call record: {call.directory}")
    raise AssertionError("\n".join(lines))


def assert_expectations(
    call: CallLike, scenario: Scenario | None = None, *, judge: CriteriaJudge | None = None
) -> None:
    """Assert that a call met every expectation of its scenario (see :func:`expectation_checks`).

    Args:
        call: A :class:`~voicelab.lab.CallResult` or call directory.
        scenario: The scenario played; default the one recorded in the call's ``call.json``.
        judge: Judges its ``eval`` criteria and ``metrics``; default ``VOICELAB_JUDGE``'s.

    Raises:
        AssertionError: Listing every failed check, with the call directory.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not these
    one = _Call(call)
    checks = [] if one.directory is None and scenario is None else _check_call(one, scenario, judge)
    if not checks:
        where = "its record names no scenario" if one.directory else "it left no call record"
        raise AssertionError(f"{one.label} ({one.status}): nothing to check, {where}")
    _fail(one, [c["detail"] for c in checks if not c["passed"]], len(checks))


def assert_replied(call: CallLike, turn: int, contains: str | Sequence[str] | None = None) -> None:
    """Assert that the bot answered the caller's ``turn``-th line (0: it greeted).

    Args:
        call: A :class:`~voicelab.lab.CallResult` or call directory.
        turn: The scenario's turn number.
        contains: Phrases of which the reply must contain at least one (case-insensitive).

    Raises:
        AssertionError: No reply at that turn, or none of the phrases in it.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not these
    one = _Call(call)
    texts = _texts(one.replies(turn))
    if not texts:
        answered = sorted({t for t, _ in _numbered(one) if t is not None})
        _fail(one, [f"turn {turn}: no reply (turns with a reply: {answered})"])
    phrases = _phrases(contains)
    reply = "\n".join(texts)
    if phrases and not any(p.lower() in reply.lower() for p in phrases):
        _fail(one, [f"turn {turn}: none of {phrases} in reply {_quote(reply)}"])


def _numbered(call: _Call) -> list[tuple[int | None, str]]:
    turns = call.turns()
    simulated = "caller_turn" in turns and bool(turns["caller_turn"].notna().any())
    column = "caller_turn" if simulated else "turn"
    return [
        (int(n) if _is_number(n) else None, text)
        for n, text in zip(turns[column], turns["bot_text"], strict=True)
        if isinstance(text, str) and text.strip()
    ]


def assert_latency(
    call: CallLike,
    max_s: float,
    column: str = "v2v_caller_s",
    turns: Iterable[int] | None = None,
) -> None:
    """Assert that every measured turn of a call came within ``max_s`` seconds.

    Args:
        call: A :class:`~voicelab.lab.CallResult` or call directory.
        max_s: The bound, in seconds.
        column: A latency column of ``turns_df`` (``v2v_caller_s``, ``v2v_server_s``,
            ``llm_ttft_s``...).
        turns: Only these scenario turns (default: every turn with a value).

    Raises:
        AssertionError: A turn exceeded the bound (each one is listed), or no turn has a
            value in ``column``.
        KeyError: ``column`` is not a column of ``turns_df``.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not these
    one = _Call(call)
    table = one.turns()
    if column not in table:
        raise NotFoundError(f"{column!r} is not a turns_df column")
    selected = list(turns) if turns is not None else [None]
    measured = [m for t in selected for m in _latencies(one.replies(t), column)]
    if not measured:
        which = "" if turns is None else f" among turns {selected}"
        _fail(one, [f"no turn has a {column} value{which}"])
    over = [f"turn {t}: {column} {s:.2f} s > {max_s:.2f} s" for t, s in measured if s > max_s]
    _fail(one, over, len(measured))
