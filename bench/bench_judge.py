"""How far to trust the judge: its agreement with hand-labelled replies, and its cost.

    .venv/bin/python bench/bench_judge.py [--limit N] [--append]

Every item of ``tests/data/judge_labels.yaml`` (a reply of the reference agent, the caller's
line before it, a criterion, a human's yes/no) is judged the way an ``eval:`` on a turn is:
pipecat's ``EvalJudge.evaluate`` through :func:`voicelab.judging.ajudge_reply`, with the judge
``VOICELAB_JUDGE`` configures (default the offline SmolLM2). Reports accuracy, Cohen's kappa
(agreement beyond chance: 0 is what a judge that ignores the reply gets), the confusion
counts, and seconds per verdict (the explainer's sentence for a ``no`` included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np
import yaml
from _bench import ROOT, add_output_args, emit

from voicelab.judging import CriteriaJudge, ajudge_reply

LABELS = ROOT / "tests" / "data" / "judge_labels.yaml"


def load_labels(path: Path = LABELS) -> list[dict[str, Any]]:
    """The labelled items; YAML reads ``yes``/``no`` as booleans, kept as such."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    for item in items:
        item["label"] = item["label"] in (True, "yes")
    return items


def messages(item: dict[str, Any]) -> list[dict[str, str]]:
    """The item as pipecat conversation messages: the caller's line, then the reply."""
    said = [{"role": "user", "content": item["caller"]}] if item.get("caller") else []
    return [*said, {"role": "assistant", "content": item["reply"]}]


def cohen_kappa(truth: list[bool], judged: list[bool]) -> float:
    """Cohen's kappa of two yes/no raters (numpy; scikit-learn is not a dependency)."""
    a, b = np.asarray(truth, bool), np.asarray(judged, bool)
    observed = float(np.mean(a == b))
    expected = float(np.mean(a) * np.mean(b) + np.mean(~a) * np.mean(~b))
    return 0.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)


async def run(items: list[dict[str, Any]], judge: CriteriaJudge) -> list[tuple[bool, str, float]]:
    out = []
    for item in items:
        start = time.perf_counter()
        verdict = await ajudge_reply(judge, messages(item), item["criterion"])
        seconds = time.perf_counter() - start
        out.append((verdict.passed, verdict.verdict, seconds))
        print(
            f"{item['id']:24} label {'yes' if item['label'] else 'no ':3} judge "
            f"{verdict.verdict:4} {seconds:5.1f} s  {verdict.reason[:70]}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="judge only the first N items")
    add_output_args(parser)
    args = parser.parse_args()
    items = load_labels()[: args.limit]
    judge = CriteriaJudge.from_settings()
    start = time.perf_counter()
    results = asyncio.run(run(items, judge))
    wall = time.perf_counter() - start
    truth = [item["label"] for item in items]
    judged = [passed for passed, _, _ in results]
    seconds = [s for _, _, s in results]
    agree = sum(t == j for t, j in zip(truth, judged, strict=True))
    tp = sum(t and j for t, j in zip(truth, judged, strict=True))
    tn = sum(not t and not j for t, j in zip(truth, judged, strict=True))
    fp = sum(j and not t for t, j in zip(truth, judged, strict=True))
    fn = sum(t and not j for t, j in zip(truth, judged, strict=True))
    kappa = cohen_kappa(truth, judged)
    section = "\n".join(
        [
            f"## Judge agreement with hand labels ({judge.name})",
            "",
            f"`bench/bench_judge.py`: {len(items)} hand-labelled replies of the reference agent "
            f"(`tests/data/judge_labels.yaml`, {sum(truth)} yes / {len(truth) - sum(truth)} no), "
            "each judged as an `eval:` on its turn is (pipecat's `EvalJudge.evaluate`, "
            "`LLMClassifier`, explainer on).",
            "",
            "| judge | n | accuracy | Cohen's kappa | yes→yes | no→no | no→yes | yes→no "
            "| s/verdict p50 | max | total |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {judge.name} | {len(items)} | {agree / len(items):.2f} | {kappa:.2f} | {tp} | {tn} "
            f"| {fp} | {fn} | {statistics.median(seconds):.1f} | {max(seconds):.1f} "
            f"| {wall:.0f} s |",
        ]
    )
    emit(args, section)


if __name__ == "__main__":
    main()
