"""Quality: rule checks catch bad replies, expectations, and the cached LLM judge."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import INBOUND, INBOUND_DIR, OUTBOUND, OUTBOUND_DIR

from voicelab.analysis import (
    Expectation,
    RuleConfig,
    check_expectations,
    judge_calls,
    rule_checks,
    scores_df,
    turns_df,
)
from voicelab.errors import ScenarioError

COLUMNS = ["call_sid", "check", "turn", "passed", "score", "detail"]


def _failed(scores: pd.DataFrame, sid: str) -> set[tuple[str, int]]:
    bad = scores[(scores["call_sid"] == sid) & scores["passed"].eq(False)]
    return {(c, int(t)) for c, t in zip(bad["check"], bad["turn"], strict=True)}


def _reply(bot: str, caller: str = "Hello there", turn: int = 1, seconds: float = 2.0) -> dict:
    return {
        "call_sid": "CAx",
        "turn": turn,
        "bot_text": bot,
        "caller_text": caller,
        "stt_text": None,
        "bot_speech_s": seconds,
    }


def _check(rows: list[dict], check: str, config: RuleConfig | None = None) -> list[object]:
    scores = rule_checks(pd.DataFrame(rows), config)
    return list(scores.loc[scores["check"] == check, "passed"])


def test_the_good_call_passes_every_rule(good_root: Path) -> None:
    scores = rule_checks(turns_df(good_root))
    assert list(scores.columns) == COLUMNS
    assert str(scores["passed"].dtype) == "boolean" and str(scores["turn"].dtype) == "Int64"
    assert _failed(scores, INBOUND) == set()
    good = scores[scores["call_sid"] == INBOUND]
    # Turn 1 is feedback (a question back), turn 2 a complaint (an apology).
    assert ("follow_up_question", 1) in set(zip(good["check"], good["turn"], strict=True))
    assert ("apology", 2) in set(zip(good["check"], good["turn"], strict=True))


def test_the_bad_call_is_caught(good_root: Path) -> None:
    scores = rule_checks(turns_df(good_root))
    assert _failed(scores, OUTBOUND) == {
        ("greeting_names_company", 0),  # "Hi, this is Sam calling about your recent visit."
        ("tts_safe", 1),  # "**Great!**", a URL and "#food"
        ("apology", 1),  # "the delivery was late and the food was wrong"
        ("apology", 2),  # "I want my money back"
        ("no_refund_promise", 2),  # "I'll give you a full refund today."
    }
    detail = scores[(scores["call_sid"] == OUTBOUND) & (scores["check"] == "tts_safe")]
    assert "https://compass-group.example/menu" in detail["detail"].iloc[1]


def test_length_rules_use_the_config() -> None:
    rows = [_reply("one two three four five", seconds=9.0)]
    assert _check(rows, "words", RuleConfig(max_words=5)) == [True]
    assert _check(rows, "words", RuleConfig(max_words=4)) == [False]
    assert _check(rows, "seconds", RuleConfig(max_seconds=8.0)) == [False]


@pytest.mark.parametrize(
    ("reply", "safe"),
    [
        ("Thanks, I'll pass that on. Anything else?", True),
        ("Sure \U0001f600", False),
        ("See www.compass-group.co.uk for details", False),
        ("- first\n- second", False),
        ("Use the `menu` page", False),
    ],
)
def test_tts_safe(reply: str, safe: bool) -> None:
    assert _check([_reply(reply)], "tts_safe") == [safe]


@pytest.mark.parametrize(
    ("reply", "promises"),
    [
        ("I'll give you a full refund today.", True),
        ("We will refund the meal.", True),
        ("Your refund has been processed.", True),
        ("You'll get your money back tomorrow.", True),
        ("I can't promise a refund, but I'll pass this on.", False),
        ("Refunds are handled by the site manager. I'll pass your details on.", False),
        ("I will not refund it myself.", False),
    ],
)
def test_refund_promises(reply: str, promises: bool) -> None:
    assert _check([_reply(reply)], "no_refund_promise") == [not promises]


def test_feedback_needs_a_question_and_a_complaint_an_apology() -> None:
    praise = "I loved the new salad bar"
    assert _check([_reply("Thanks for telling us.", praise)], "follow_up_question") == [False]
    assert _check([_reply("Great! What did you like?", praise)], "follow_up_question") == [True]
    complaint = "The staff were rude to me"
    assert _check([_reply("Okay.", complaint)], "apology") == [False]
    assert _check([_reply("I'm sorry to hear that.", complaint)], "apology") == [True]
    assert _check([_reply("Okay.", "What time do you open")], "apology") == []  # no complaint


def test_expectations_pass_and_fail(good_root: Path) -> None:
    turns = turns_df(good_root)
    expectations = {
        INBOUND: [
            {"turn": 0, "contains": "Compass Group"},
            {"turn": 2, "regex": r"sorry|apologi[sz]e", "max_latency_s": 0.7},
            Expectation(must_not_say=("refund",)),
        ],
        OUTBOUND: [{"turn": 2, "must_not_say": ["refund"]}, {"turn": 7, "contains": "hi"}],
    }
    scores = check_expectations(turns, expectations)
    columns = zip(
        scores["call_sid"], scores["check"], scores["turn"], scores["passed"], strict=True
    )
    got = {(s, c, None if pd.isna(t) else int(t)): p for s, c, t, p in columns}
    assert got == {
        (INBOUND, "expect.contains", 0): True,
        (INBOUND, "expect.regex", 2): True,
        (INBOUND, "expect.max_latency_s", 2): False,  # 0.72 s caller-side > 0.7 s
        (INBOUND, "expect.must_not_say", None): True,
        (OUTBOUND, "expect.must_not_say", 2): False,  # "a full refund"
        (OUTBOUND, "expect.turn", 7): False,
    }


@pytest.mark.timeout(10)
def test_a_backtracking_pattern_fails_its_check_instead_of_hanging() -> None:
    reply = {"call_sid": "CAx", "turn": 1, "caller_turn": 1, "bot_text": "a" * 47 + "!"}
    expectations = {"CAx": [{"turn": 1, "regex": "^(a|aa)+$"}, {"turn": 1, "regex": "A+!"}]}
    scores = check_expectations(pd.DataFrame([reply]), expectations)
    assert list(scores["passed"]) == [False, True]  # the next pattern is still checked
    assert list(scores["detail"]) == [
        "/^(a|aa)+$/ took over 0.1 s: catastrophic backtracking? (rewrite the pattern)",
        "/A+!/ matched",
    ]


def test_a_black_box_reply_is_what_the_caller_heard() -> None:
    # No server recorded the reply text (a black-box agent): the caller's Whisper of it counts.
    rows = [
        {"call_sid": "CAx", "turn": 0, "caller_turn": 0, "bot_text": None, "heard_text": "Hi."},
        {"call_sid": "CAx", "turn": 1, "caller_turn": 1, "bot_text": None, "heard_text": "Noted."},
    ]
    expectations = {"CAx": [{"turn": 1, "contains": "noted"}, {"must_not_say": "refund"}]}
    scores = check_expectations(pd.DataFrame(rows), expectations)
    assert list(scores["passed"]) == [True, True]
    assert list(scores["detail"]) == ["says 'noted'", "avoids 'refund'"]


def test_invalid_expectations_are_reported() -> None:
    with pytest.raises(ScenarioError, match="unknown keys"):
        Expectation.from_dict({"turn": 1, "contians": "x"})
    with pytest.raises(ScenarioError, match="invalid expectation"):
        Expectation.from_dict({"turn": 1, "regex": "("})
    with pytest.raises(ScenarioError, match="invalid expectation"):
        Expectation.from_dict({"contains": 3})


class FakeLLM:
    def __init__(self, reply: str) -> None:
        self.reply, self.prompts = reply, []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.reply


def test_judge_scores_and_caches_by_rubric_version(good_root: Path) -> None:
    llm = FakeLLM('Here you go: {"score": 2, "rationale": "Promised a refund."}')
    scores = judge_calls(good_root, llm, pass_score=3)
    assert list(scores["check"]) == ["judge", "judge"]
    assert list(scores["score"]) == [2.0, 2.0] and list(scores["passed"]) == [False, False]
    assert len(llm.prompts) == 2
    assert "Agent: I'll give you a full refund today." in llm.prompts[1]
    assert "Caller: The soup was cold and I waited 10 minutes." in llm.prompts[0]  # ground truth
    cached = json.loads((good_root / INBOUND_DIR / "judge_v1.json").read_text())
    assert cached == {
        "call_sid": INBOUND,
        "rubric_version": "v1",
        "score": 2,
        "rationale": "Promised a refund.",
    }
    judge_calls(good_root, llm)
    assert len(llm.prompts) == 2  # cached: the LLM is not asked again
    judge_calls(good_root, llm, rubric="Rate it. {transcript}", rubric_version="v2")
    assert len(llm.prompts) == 4 and llm.prompts[-1].startswith("Rate it. Agent: Hi, this is Sam")
    assert (good_root / OUTBOUND_DIR / "judge_v2.json").exists()


def test_an_unparseable_verdict_is_reported_and_not_cached(good_root: Path) -> None:
    scores = judge_calls(good_root, FakeLLM("I think it went fine."))
    assert scores["score"].isna().all() and scores["passed"].isna().all()
    assert "unparseable" in scores["detail"].iloc[0]
    assert not (good_root / INBOUND_DIR / "judge_v1.json").exists()
    loose = judge_calls(good_root, FakeLLM("Score: 4\nRationale: Friendly and short."))
    assert list(loose["score"]) == [4.0, 4.0] and loose["detail"].iloc[0] == "Friendly and short."


def test_scores_df_reads_expectations_from_the_manifest(good_root: Path) -> None:
    scores = scores_df(good_root, complete=FakeLLM('{"score": 5, "rationale": "ok"}'))
    checks = set(scores.loc[scores["call_sid"] == INBOUND, "check"])
    assert {"expect.contains", "expect.regex", "expect.max_latency_s", "judge"} <= checks
    assert "expect.contains" not in set(scores.loc[scores["call_sid"] == OUTBOUND, "check"])
    assert list(scores.columns) == COLUMNS


def test_unanswered_and_unmatched_turns_do_not_break_the_checks(good_root: Path) -> None:
    turns = turns_df(good_root)
    inbound = turns[turns["call_sid"] == INBOUND].copy()
    inbound.loc[inbound.index[1], "caller_turn"] = pd.NA  # a turn no utterance matched
    unheard = inbound.iloc[[2]].assign(turn=pd.NA, bot_text=None, caller_turn=3)
    frame = pd.concat([inbound, unheard], ignore_index=True)
    scores = rule_checks(frame)
    assert scores["turn"].notna().all()  # the unanswered utterance has no reply to check
    result = check_expectations(frame, {INBOUND: [{"turn": 2, "contains": "sorry"}]})
    assert list(result["passed"]) == [True]
