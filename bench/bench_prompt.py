"""Persona prompt A/B on the offline LLM: voicelab's own quality checks, text only.

    .venv/bin/python bench/bench_prompt.py [--persona-dir DIR] [--seeds 5] [--temperature 0.3]
        [--repeat-penalty 1.0] [--save replies.csv] [--label NAME]
    .venv/bin/python bench/bench_prompt.py --rescore replies.csv   # score saved replies again

Every scenario with scripted caller lines (the packaged ones, and ``evals/scenarios`` where
they differ; a goal-driven scenario contributes its scripted opening) is played as text: the
system prompt and greeting of ``--persona-dir`` (a directory like
``voicelab/defaults/personas``), then each caller line as a user message and the bot's reply
appended, exactly the messages the pipeline's LLM sees. Replies come from the real
``LlamaCppLLMService.stream_reply`` (clause release, ``max_sentences``, the token-budget cut)
on the pool's SmolLM2. The replies become a turns-like DataFrame scored by
``voicelab.analysis.rule_checks`` and ``check_expectations`` (latency expectations dropped:
no audio here), plus the harness's own measures: words per reply, ``ends_on_boundary``
(.?! last), ``on_topic`` (names the food, service or feedback, or a content word of the
caller's line, and none of the off-topic phrases SmolLM2 was seen to wander into),
``no_echo`` (does not parrot five words of the caller) and ``no_repeat`` (says no clause or
three-word run twice). Seeds and the repeat penalty reach llama.cpp through a thin wrapper
of the pool's ``Llama`` (the service passes neither). Prints a Markdown summary for
bench/RESULTS.md; pass rates leave out the greeting (fixed text, the same in every variant).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import pandas as pd

from voicelab.analysis import check_expectations, rule_checks
from voicelab.bot.models import ModelPool
from voicelab.bot.persona import Direction, load_persona
from voicelab.bot.services.llama_cpp_llm import LlamaCppLLMService
from voicelab.defaults import personas_dir, scenarios_dir
from voicelab.errors import VoicelabError
from voicelab.expectations import Expectation
from voicelab.simulator.scenario import Scenario, load_scenarios

ROOT = Path(__file__).resolve().parents[1]
_DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound")

_BOUNDARY = re.compile(r"[.?!]['\")\]]*\s*\Z")
# The reference persona's subject matter: a reply on topic names the food, the service or
# the feedback, or picks up a content word of the caller's line.
_TOPIC = re.compile(
    r"\b(?:food|meals?|lunch|dinner|breakfast|dish\w*|menu|order\w*|chef|kitchen|cafeteria|"
    r"restaurant|canteen|service|feedback|experience|visit|complain\w*|charg\w*|refund\w*|"
    r"bill\w*|payment|allerg\w*|nuts?|salad|curry|soup|bread|coffee|team|manager|site|"
    r"office|issue|problem|concern|what happened|tell me more|more details|which site)\b",
    re.IGNORECASE,
)
# Phrases wrong for a guest relations agent, seen from SmolLM2 on these scenarios: condolences
# for a cold lunch, recipes and community work, "I'm not a ..." (out of role), a website.
_OFF_TOPIC = re.compile(
    r"\b(?:your loss|recipes?|community|make a difference|great example|as an ai|"
    r"language model|i'?m not an?|website|congratulations|your journey)\b",
    re.IGNORECASE,
)
# A caller's goodbye is answered on topic by a goodbye.
_FAREWELL = re.compile(
    r"\b(?:good ?bye|bye|have a (?:good|great|nice|lovely|wonderful) day)\b", re.I
)
# Words of four letters or more that say nothing of what the caller's line is about.
_STOP = frozenset(
    [
        "that",
        "with",
        "just",
        "about",
        "what",
        "when",
        "where",
        "there",
        "their",
        "them",
        "they",
        "have",
        "were",
        "this",
        "thanks",
        "thank",
        "please",
        "right",
        "today",
        "yesterday",
        "tonight",
        "around",
        "hello",
        "sorry",
    ]
)


class _Sampling:
    """The pool's ``Llama`` with the sampling settings the service does not pass (seed,
    repeat penalty) added to every ``create_chat_completion``."""

    def __init__(self, llama: Any, **extra: Any) -> None:
        self._llama, self.extra = llama, extra

    def create_chat_completion(self, **kwargs: Any) -> Any:
        return self._llama.create_chat_completion(**kwargs, **self.extra)


def scenarios(paths: list[Path]) -> dict[str, Scenario]:
    """Scenarios with caller lines, by id; a later directory adds only ids not yet seen or
    files that differ (suffixed with the directory's name)."""
    found: dict[str, Scenario] = {}
    texts: dict[str, str] = {}
    for directory in paths:
        for scenario in load_scenarios(directory):
            if not any(t.say for t in scenario.turns):
                continue
            text = scenario.path.read_text() if scenario.path else ""
            key = scenario.id
            if key in found:
                if texts[key] == text:
                    continue
                key = f"{scenario.id}@{directory.name}"
            found[key], texts[key] = scenario, text
    return found


def play(
    service: LlamaCppLLMService,
    sampling: _Sampling,
    key: str,
    scenario: Scenario,
    persona_dir: Path,
    seed: int,
    call_sid: str,
) -> list[dict[str, Any]]:
    """One text-only call: the turns-like rows of its greeting and replies."""
    persona = load_persona(scenario.direction, persona_dir)
    messages = [
        {"role": "system", "content": persona.system_prompt},
        {"role": "assistant", "content": persona.greeting},
    ]
    rows = [_row(call_sid, key, 0, None, persona.greeting, 0.0)]
    for number, line in enumerate((t.say for t in scenario.turns if t.say), start=1):
        messages.append({"role": "user", "content": line})
        sampling.extra["seed"] = seed * 1000 + number
        start = time.perf_counter()
        reply = "".join(service.stream_reply(list(messages), threading.Event())).strip()
        rows.append(_row(call_sid, key, number, line, reply, time.perf_counter() - start))
        messages.append({"role": "assistant", "content": reply})
    return rows


def _row(
    sid: str, key: str, turn: int, caller: str | None, reply: str, seconds: float
) -> dict[str, Any]:
    return {
        "call_sid": sid,
        "scenario": key,
        "turn": turn,
        "caller_turn": turn,
        "speaker": "bot",
        "caller_text": caller,
        "stt_text": caller,
        "bot_text": reply,
        "bot_speech_s": float("nan"),  # text only: nothing was spoken
        "generate_s": seconds,
    }


def on_topic(caller: str, reply: str) -> bool:
    """The reply names the subject matter or a content word of the caller (or answers a
    goodbye with one), and says none of the known off-topic phrases."""
    if _OFF_TOPIC.search(reply):
        return False
    if _FAREWELL.search(caller) and _FAREWELL.search(reply):
        return True
    words = {w for w in re.findall(r"[a-z']{4,}", caller.lower()) if w not in _STOP}
    said = set(re.findall(r"[a-z']{4,}", reply.lower()))
    return bool(_TOPIC.search(reply) or words & said)


def echoes(caller: str, reply: str, n: int = 5) -> bool:
    """The reply repeats a run of ``n`` words of the caller's line (parroting, not answering)."""
    words = re.findall(r"[a-z']+", caller.lower())
    said = " " + " ".join(re.findall(r"[a-z']+", reply.lower())) + " "
    return any(f" {' '.join(words[i : i + n])} " in said for i in range(len(words) - n + 1))


def repeats(reply: str) -> bool:
    """The reply says a clause twice ("I'm sorry, I'm sorry.") or a three-word run twice."""
    clauses = [c for c in (" ".join(x.lower().split()) for x in re.split(r"[,;:.?!]", reply)) if c]
    words = re.findall(r"[a-z']+", reply.lower())
    runs = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(set(clauses)) < len(clauses) or len(set(runs)) < len(runs)


def score(turns: pd.DataFrame, expectations: dict[str, list[Expectation]]) -> pd.DataFrame:
    """voicelab's rule checks and the scenarios' expectations, on the replies (the greeting
    is fixed text: its rows are left out) plus the harness's own measures."""
    parts = [rule_checks(turns), check_expectations(turns, expectations)]
    scores = pd.concat(parts, ignore_index=True)
    scores = scores[scores["turn"].isna() | (scores["turn"] != 0)]
    replies = turns[turns["turn"] > 0]
    pairs = list(zip(replies["caller_text"], replies["bot_text"].fillna(""), strict=True))
    extra = pd.DataFrame(
        {
            "call_sid": replies["call_sid"],
            "turn": replies["turn"],
            "ends_on_boundary": replies["bot_text"].map(lambda t: bool(_BOUNDARY.search(t))),
            "on_topic": [on_topic(c, r) for c, r in pairs],
            "no_echo": [not echoes(c, r) for c, r in pairs],
            "no_repeat": [not repeats(r) for _, r in pairs],
        }
    ).melt(id_vars=["call_sid", "turn"], var_name="check", value_name="passed")
    return pd.concat([scores[["call_sid", "check", "turn", "passed"]], extra], ignore_index=True)


def summary(turns: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Pass rate and count per check, the share of replies passing every check of their own,
    then words per reply."""
    decided = scores[scores["passed"].notna()]
    table = decided.groupby("check")["passed"].agg(rate="mean", n="size")
    per_reply = decided[decided["turn"].notna()].groupby(["call_sid", "turn"])["passed"].all()
    table.loc["every check of the reply"] = [per_reply.mean(), len(per_reply)]
    replies = turns.loc[turns["turn"] > 0, "bot_text"]
    # A share, not a check: the persona asks one question after feedback, not after a goodbye.
    table.loc["asks a question (share)"] = [
        replies.str.contains("?", regex=False).mean(),
        len(replies),
    ]
    words = replies.map(lambda t: len(t.split()))
    table.loc["words/reply (mean)"] = [words.mean(), len(words)]
    table.loc["words/reply (max)"] = [words.max(), len(words)]
    table.loc["empty replies"] = [(words == 0).mean(), len(words)]
    return table


def generate(args: argparse.Namespace, chosen: dict[str, Scenario]) -> pd.DataFrame:
    """Every scenario's text-only call, ``args.seeds`` times, as turns-like rows."""
    pool = ModelPool()
    extra = {} if args.repeat_penalty is None else {"repeat_penalty": args.repeat_penalty}
    sampling = _Sampling(pool.llm(), **extra)
    options = {} if args.temperature is None else {"temperature": args.temperature}
    service = LlamaCppLLMService(llama=sampling, lock=pool.llm_lock, **options)
    label = args.label or args.persona_dir.name
    rows: list[dict[str, Any]] = []
    for seed in range(1, args.seeds + 1):
        for key, scenario in chosen.items():
            sid = f"{label}:{key}:{seed}"
            rows.extend(play(service, sampling, key, scenario, args.persona_dir, seed, sid))
    return pd.DataFrame(rows)


def expectations_of(
    turns: pd.DataFrame, chosen: dict[str, Scenario]
) -> dict[str, list[Expectation]]:
    """Each call's scenario expectations, less latency (no audio here); latency-only ones go."""
    calls = turns.drop_duplicates("call_sid")
    return {
        sid: [
            e.model_copy(update={"max_latency_s": None})
            for e in chosen[key].expect
            if e.contains or e.regex or e.must_not_say
        ]
        for sid, key in zip(calls["call_sid"], calls["scenario"], strict=True)
    }


def _read(path: Path, chosen: dict[str, Scenario]) -> pd.DataFrame:
    """A ``--save`` file; ``ValueError`` with a message if it is not one of these scenarios."""
    try:
        turns = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if "scenario" not in turns or not set(turns["scenario"]) <= set(chosen):
        raise ValueError(f"{path}: not a --save file of these scenarios")
    return turns


def _scored(turns: pd.DataFrame, chosen: dict[str, Scenario]) -> pd.DataFrame:
    turns = turns.astype({"turn": "Int64", "caller_turn": "Int64", "bot_speech_s": "float64"})
    turns["bot_text"] = turns["bot_text"].fillna("")  # an empty reply reads back as NaN
    return summary(turns, score(turns, expectations_of(turns, chosen)))


def _cells(table: pd.DataFrame) -> pd.Series:
    """``rate (n)`` per check, for a side-by-side table."""
    return pd.Series(
        [f"{rate:.2f} ({int(n)})" for rate, n in zip(table["rate"], table["n"], strict=True)],
        index=table.index,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persona-dir", type=Path, default=personas_dir())
    parser.add_argument(
        "--scenarios", type=Path, nargs="+", default=[scenarios_dir(), ROOT / "evals/scenarios"]
    )
    parser.add_argument("--seeds", type=int, default=5, help="runs per scenario (seeds 1..N)")
    parser.add_argument("--temperature", type=float, default=None, help="default: the service's")
    parser.add_argument("--repeat-penalty", type=float, default=None)
    parser.add_argument("--label", default=None, help="name of the variant in the output")
    parser.add_argument("--save", type=Path, default=None, help="write every reply (CSV)")
    parser.add_argument(
        "--rescore",
        type=Path,
        nargs="+",
        default=None,
        help="score --save CSVs again, side by side (named by file); generate nothing",
    )
    args = parser.parse_args(argv)
    for direction in _DIRECTIONS:
        if not (args.persona_dir / f"{direction}.md").is_file():
            print(f"error: {args.persona_dir} has no {direction}.md", file=sys.stderr)
            return 2
    if args.seeds < 1:
        print("error: --seeds must be at least 1", file=sys.stderr)
        return 2
    try:
        chosen = scenarios(args.scenarios)
        for direction in _DIRECTIONS:  # a malformed persona is said here, not mid-run
            load_persona(direction, args.persona_dir)
    except VoicelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.rescore is not None:
        try:
            tables = {path.stem: _scored(_read(path, chosen), chosen) for path in args.rescore}
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        side = pd.DataFrame({label: _cells(table) for label, table in tables.items()})
        print(side.fillna("-").to_markdown())
        return 0
    turns = generate(args, chosen)
    if args.save:
        turns.to_csv(args.save, index=False)
    temperature = args.temperature
    if temperature is None:
        temperature = inspect.signature(LlamaCppLLMService).parameters["temperature"].default
    settings = f"temperature {temperature}, repeat_penalty {args.repeat_penalty or 'default'}"
    label = args.label or args.persona_dir.name
    print(f"### {label}: {len(chosen)} scenarios x {args.seeds} seeds, {settings}\n")
    print(_scored(turns, chosen).to_markdown(floatfmt=".2f"))
    generate_s = turns.loc[turns["turn"] > 0, "generate_s"].median()
    print(f"\ngeneration: {generate_s:.2f} s/reply p50 (shared machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
