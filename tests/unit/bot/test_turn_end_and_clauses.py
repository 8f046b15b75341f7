"""The turn-end rule and the clause boundaries a reply is spoken and cut at."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from turn_end_rig import (
    FinishedEveryTime,
    UnsureThenFinished,
    ends_of_turn,
    quiet,
    say,
    smart_turn_decides,
    vad_after_a_sentence,
    voice_starting,
    watch,
)

from voicelab.bot.services.clauses import (
    ClauseTextAggregator,
    count_sentences,
    split_at_last_clause,
)
from voicelab.bot.turn_end import (
    HeldTurnAnalyzerStopStrategy,
    TranscriptTurnEndStrategy,
    caller_voice_pending,
    sounds_finished,
)


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
    return strategy, await ends_of_turn(strategy)


@pytest.mark.asyncio
async def test_a_finished_sentence_ends_the_turn_without_waiting() -> None:
    strategy, stopped = await _strategy(timeout=30.0)
    await say(strategy, "The chicken curry was cold.")
    assert len(stopped) == 1  # not 30 s later
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_an_unfinished_sentence_waits_for_the_caller() -> None:
    strategy, stopped = await _strategy(timeout=0.3)
    await say(strategy, "The chicken curry was cold when")
    assert stopped == []
    await asyncio.sleep(0.6)  # the caller said nothing more: the turn ends after the pause
    assert len(stopped) == 1
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_speech_resumed_after_an_unfinished_sentence_keeps_the_turn_open() -> None:
    strategy, stopped = await _strategy(timeout=0.3)
    await say(strategy, "The chicken curry was cold when")
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await asyncio.sleep(0.6)
    assert stopped == []  # still talking
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await strategy.process_frame(TranscriptionFrame(" it arrived.", "caller", "t", finalized=True))
    assert len(stopped) == 1
    await strategy.cleanup()


@pytest.fixture(scope="module")
def thanks(caller_models: Any) -> np.ndarray:
    from voicelab.simulator.voices import CallerVoice

    return CallerVoice(models=caller_models).speak("Thanks, that is all.")


async def _held(vad: SileroVADAnalyzer) -> tuple[HeldTurnAnalyzerStopStrategy, list[Any]]:
    strategy = HeldTurnAnalyzerStopStrategy(
        turn_analyzer=FinishedEveryTime(), vad=vad, max_hold_secs=0.3
    )
    return strategy, await ends_of_turn(strategy)


@pytest.mark.asyncio
async def test_the_real_silero_reports_voice_before_it_confirms_speech(thanks: np.ndarray):
    vad = await vad_after_a_sentence(thanks)
    assert not caller_voice_pending(vad)
    await voice_starting(vad, thanks)
    assert caller_voice_pending(vad)  # pipecat's STARTING: what the hold waits on
    await quiet(vad)
    assert not caller_voice_pending(vad)


@pytest.mark.asyncio
async def test_a_finished_turn_ends_at_once_when_the_line_is_quiet(thanks: np.ndarray):
    strategy, stopped = await _held(await vad_after_a_sentence(thanks))
    await say(strategy, "It was at the London office cafeteria, around noon.")
    assert len(stopped) == 1
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_a_caller_resuming_as_the_transcript_lands_keeps_the_turn(thanks: np.ndarray):
    vad = await vad_after_a_sentence(thanks)
    strategy, stopped = await _held(vad)
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await voice_starting(vad, thanks)  # "Thanks" begins in the gap
    text = "It was at the London office cafeteria, around noon."
    await strategy.process_frame(TranscriptionFrame(text, "caller", "t", finalized=True))
    await asyncio.sleep(0.05)
    assert stopped == []  # held: the VAD has not decided yet
    await strategy.process_frame(VADUserStartedSpeakingFrame())  # it has: speech
    await asyncio.sleep(0.4)
    assert stopped == []  # the caller's turn goes on
    await quiet(vad)  # "Thanks." is over
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await strategy.process_frame(TranscriptionFrame(" Thanks.", "caller", "t", finalized=True))
    assert len(stopped) == 1
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_voice_that_never_becomes_speech_lets_the_turn_end(thanks: np.ndarray) -> None:
    vad = await vad_after_a_sentence(thanks)
    strategy, stopped = await _held(vad)
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await voice_starting(vad, thanks)  # a cough, not the caller going on
    await strategy.process_frame(TranscriptionFrame("Around noon.", "caller", "t", finalized=True))
    assert stopped == []
    await quiet(vad)
    await asyncio.sleep(0.1)
    assert len(stopped) == 1  # as soon as the VAD falls quiet, well inside the hold
    await strategy.cleanup()


async def _speculative(thanks: np.ndarray) -> tuple[Any, UnsureThenFinished, dict[str, list]]:
    analyzer = UnsureThenFinished()
    strategy = HeldTurnAnalyzerStopStrategy(
        turn_analyzer=analyzer,
        vad=await vad_after_a_sentence(thanks),
        max_hold_secs=0.3,
        speculate=True,
    )
    seen = await watch(strategy)
    return strategy, analyzer, seen


@pytest.mark.asyncio
async def test_the_reply_starts_at_the_transcript_and_the_turn_end_releases_it(thanks):
    strategy, analyzer, seen = await _speculative(thanks)
    await say(strategy, "My coffee was cold")  # smart-turn unsure: the turn stays open
    assert seen["stopped"] == []
    (speculation,) = seen["inference"]  # the LLM is already answering, held back
    assert speculation is not None and speculation.text == "My coffee was cold"
    await smart_turn_decides(strategy, analyzer)
    (params,) = seen["stopped"]
    assert params.confirms_speculation  # released as it is: no second inference
    assert len(seen["inference"]) == 1 and seen["withdrawn"] == []
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_a_caller_who_goes_on_speaking_drops_the_early_reply(thanks):
    strategy, analyzer, seen = await _speculative(thanks)
    await say(strategy, "My coffee was cold")
    await strategy.process_frame(VADUserStartedSpeakingFrame())  # "... and the tea too."
    assert seen["withdrawn"] == [True] and seen["stopped"] == []
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    text = "My coffee was cold and the tea too."
    await strategy.process_frame(TranscriptionFrame(text, "caller", "t", finalized=True))
    await smart_turn_decides(strategy, analyzer)
    (params,) = seen["stopped"]
    assert params.confirms_speculation  # the second speculation, on the whole line
    assert [s.text for s in seen["inference"]] == ["My coffee was cold", text]
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_a_withdrawn_speculation_gets_an_ordinary_answer(thanks):
    strategy, analyzer, seen = await _speculative(thanks)
    await say(strategy, "Put me through to a manager")
    # The speculative reply wanted a tool: pipecat's LLM service withdraws it.
    await strategy.process_frame(EagerEndOfTurnCancelFrame())
    await smart_turn_decides(strategy, analyzer)
    (params,) = seen["stopped"]
    assert not params.confirms_speculation
    assert seen["inference"][-1] is None  # inference runs again, on the committed turn
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_without_speculation_nothing_starts_before_the_decision(thanks):
    strategy, analyzer, seen = await _speculative(thanks)
    strategy._speculate = False
    await say(strategy, "My coffee was cold")
    assert seen["inference"] == []
    await smart_turn_decides(strategy, analyzer)
    assert seen["inference"] == [None] and not seen["stopped"][0].confirms_speculation
    await strategy.cleanup()
