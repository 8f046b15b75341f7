"""Judged criteria: a scenario's ``eval:`` and ``metrics:``, decided by pipecat's judge.

After a call, :func:`judge_call` reads its record, builds the conversation pipecat's judges
read, and asks pipecat's ``EvalJudge`` (a reply's ``eval:``) and ``EvalSimulationJudge``
(the whole call's ``eval:``, the per-reply ``metrics:``) through a classifier over the
judge's own LLM (``VOICELAB_JUDGE``: offline SmolLM2, any OpenAI-compatible server, or
Ollama). Each verdict and its reason is appended to the call's ``events.jsonl``
(``judge.verdict``) and loads as :func:`voicelab.analysis.judgments_df`; the checks
(:func:`voicelab.testing.expectation_checks`, ``voicelab simulate``) judge before they
check.

    >>> from voicelab.judging import judge_call
    >>> verdicts = judge_call("recordings/20250301-101500_CA...")
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from voicelab.expectations import Expectation
from voicelab.judging._backends import CriteriaJudge, LlamaJudgeService
from voicelab.judging._conversation import Conversation, read_conversation
from voicelab.judging._verdicts import Metric, Verdict, ajudge_call, ajudge_reply, criteria_of

__all__ = [
    "Conversation",
    "CriteriaJudge",
    "LlamaJudgeService",
    "Metric",
    "Verdict",
    "ajudge_call",
    "ajudge_reply",
    "criteria_of",
    "judge_call",
    "read_conversation",
]


def judge_call(
    directory: str | os.PathLike[str],
    judge: CriteriaJudge | None = None,
    *,
    expectations: Iterable[Expectation] | None = None,
    metrics: Iterable[Any] | None = None,
) -> list[Verdict]:
    """Judge a recorded call's ``eval:`` expectations and ``metrics:``, into its record.

    Verdicts already recorded for the same criterion, conversation and judge are read back,
    not asked again. Runs its own event loop (on a worker thread when called from one).

    Args:
        directory: The call directory.
        judge: Default :meth:`CriteriaJudge.from_settings` (``VOICELAB_JUDGE``), built
            only when there is something to judge.
        expectations: Default the ``expectations`` of the scenario in its ``call.json``.
        metrics: Default the scenario's ``metrics`` (``name``, ``criterion``,
            ``min_score``: models or dicts).

    Returns:
        The verdicts, as the ``judge.verdict`` events record them.

    Raises:
        ConfigError: No judge can be built from the settings (``openai`` without a key).
    """
    coro = ajudge_call(Path(directory), judge, expectations, metrics)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from a running loop (an async test): judge on a loop of its own.
    result: list[list[Verdict]] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised on the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="voicelab-judge")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]
