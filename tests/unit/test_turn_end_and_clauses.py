"""The turn-end rule and the clause boundaries a reply is spoken and cut at."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pipecat.clocks.system_clock import SystemClock
from pipecat.frames.frames import (
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.asyncio.task_manager import TaskManager

from voicelab.bot.services.clauses import (
    ClauseTextAggregator,
    count_sentences,
    split_at_last_clause,
)
from voicelab.bot.turn_end import TranscriptTurnEndStrategy, sounds_finished


@pytest.mark.parametrize(
    ("text", "finished"),
    [
        ("No.", True),
        ("Thank you.", True),
        ("Yes, it was.", True),
        ("What was it for?", True),
        ("The chicken curry I had for lunch today was cold.", True),
        ("My chicken curry was cold when", False),
        ("The coffee was burnt and.", False),  # Whisper's period on a cut-off phrase
        ("I wanted the", False),
        ("I...", False),
        ("Hello", False),
    ],
)
def test_sounds_finished(text: str, finished: bool) -> None:
    assert sounds_finished(text) is finished


def test_clause_split_keeps_numbers_and_holds_the_unfinished_tail() -> None:
    assert split_at_last_clause("I'm sorry, truly. Could") == ("I'm sorry, truly. ", "Could")
    assert split_at_last_clause("about 1,000 people") == ("", "about 1,000 people")
    assert count_sentences("Hi. How are you? ") == 2
    assert count_sentences("Hi there") == 0


@pytest.mark.asyncio
async def test_clause_aggregator_speaks_each_clause_as_it_completes() -> None:
    aggregator = ClauseTextAggregator()
    spoken: list[str] = []
    for token in ["I'm", " so", " sorry", ",", " could", " you", " tell", " me", " more", "?"]:
        spoken += [a.text async for a in aggregator.aggregate(token)]
    assert spoken == ["I'm so sorry,"]  # the comma ends a clause once a space follows
    last = await aggregator.flush()
    assert last is not None and last.text == "could you tell me more?"


async def _strategy(timeout: float) -> tuple[TranscriptTurnEndStrategy, list[Any]]:
    strategy = TranscriptTurnEndStrategy(user_speech_timeout=timeout)
    setup: Any = FrameProcessorSetup(
        clock=SystemClock(),
        task_manager=TaskManager(loop=asyncio.get_running_loop()),
        pipeline_worker=None,  # type: ignore[arg-type]
    )
    await strategy.setup(setup)
    stopped: list[Any] = []

    @strategy.event_handler("on_user_turn_stopped")
    async def _stopped(_: Any, params: Any) -> None:
        stopped.append(params)

    return strategy, stopped


async def _say(strategy: TranscriptTurnEndStrategy, text: str) -> None:
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await strategy.process_frame(TranscriptionFrame(text, "caller", "t", finalized=True))


@pytest.mark.asyncio
async def test_a_finished_sentence_ends_the_turn_without_waiting() -> None:
    strategy, stopped = await _strategy(timeout=30.0)
    await _say(strategy, "The chicken curry was cold.")
    assert len(stopped) == 1  # not 30 s later
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_an_unfinished_sentence_waits_for_the_caller() -> None:
    strategy, stopped = await _strategy(timeout=0.3)
    await _say(strategy, "The chicken curry was cold when")
    assert stopped == []
    await asyncio.sleep(0.6)  # the caller said nothing more: the turn ends after the pause
    assert len(stopped) == 1
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_speech_resumed_after_an_unfinished_sentence_keeps_the_turn_open() -> None:
    strategy, stopped = await _strategy(timeout=0.3)
    await _say(strategy, "The chicken curry was cold when")
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await asyncio.sleep(0.6)
    assert stopped == []  # still talking
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await strategy.process_frame(TranscriptionFrame(" it arrived.", "caller", "t", finalized=True))
    assert len(stopped) == 1
    await strategy.cleanup()
