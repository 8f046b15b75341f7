"""VOICELAB_TURN_END=smart_turn_words: smart-turn's rule, ended at the words when it is unsure.

The doubles give smart-turn's verdicts (``UnsureThenFinished``: "incomplete" at the VAD's
stop, as it was on ~40 % of the Piper callers' turns; ``FinishedEveryTime``: "complete"); the
hold runs on the real Silero VAD fed a Piper line.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from pipecat.audio.turn.base_turn_analyzer import BaseTurnAnalyzer
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import (
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from turn_end_rig import (
    FinishedEveryTime,
    UnsureThenFinished,
    quiet,
    say,
    smart_turn_decides,
    vad_after_a_sentence,
    voice_starting,
    watch,
)

from voicelab.bot.turn_end import WordsOrSmartTurnStopStrategy

FINISHED = "It was at the London office cafeteria, around noon."
UNFINISHED = "My chicken curry was cold when"


@pytest.fixture(scope="module")
def thanks(caller_models: Any) -> np.ndarray:
    from voicelab.simulator.voices import CallerVoice

    return CallerVoice(models=caller_models).speak("Thanks, that is all.")


async def _words_rule(
    vad: SileroVADAnalyzer, analyzer: BaseTurnAnalyzer | None = None, *, speculate: bool = False
) -> tuple[WordsOrSmartTurnStopStrategy, dict[str, list]]:
    strategy = WordsOrSmartTurnStopStrategy(
        turn_analyzer=analyzer or UnsureThenFinished(),
        vad=vad,
        max_hold_secs=0.3,
        speculate=speculate,
    )
    return strategy, await watch(strategy)


@pytest.mark.asyncio
async def test_unsure_smart_turn_and_finished_words_end_the_turn_at_the_transcript(thanks):
    strategy, seen = await _words_rule(await vad_after_a_sentence(thanks))
    await say(strategy, FINISHED)
    (params,) = seen["stopped"]  # not after smart-turn's 1.5 s of silence
    assert not params.confirms_speculation and seen["inference"] == [None]
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_unsure_smart_turn_and_unfinished_words_wait_for_smart_turn(thanks):
    analyzer = UnsureThenFinished()
    strategy, seen = await _words_rule(await vad_after_a_sentence(thanks), analyzer)
    await say(strategy, UNFINISHED)
    await asyncio.sleep(0.1)
    assert seen["stopped"] == []  # the caller is mid-phrase
    await strategy.process_frame(VADUserStartedSpeakingFrame())  # "... it arrived."
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await strategy.process_frame(TranscriptionFrame(" it arrived.", "caller", "t", finalized=True))
    assert len(seen["stopped"]) == 1  # the rest of the line reads as finished
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_an_unfinished_line_ends_when_smart_turn_decides(thanks):
    analyzer = UnsureThenFinished()
    strategy, seen = await _words_rule(await vad_after_a_sentence(thanks), analyzer)
    await say(strategy, UNFINISHED)
    assert seen["stopped"] == []
    await smart_turn_decides(strategy, analyzer)  # the caller said nothing more
    assert len(seen["stopped"]) == 1
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_a_turn_smart_turn_calls_complete_ends_whatever_the_words(thanks):
    # The words only overrule an "incomplete": they never hold back smart-turn's "complete".
    vad = await vad_after_a_sentence(thanks)
    strategy, seen = await _words_rule(vad, FinishedEveryTime())
    await say(strategy, UNFINISHED)
    assert len(seen["stopped"]) == 1
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_the_words_wait_while_the_caller_resumes(thanks):
    vad = await vad_after_a_sentence(thanks)
    strategy, seen = await _words_rule(vad)
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await voice_starting(vad, thanks)  # "Thanks" begins in the gap
    await strategy.process_frame(TranscriptionFrame(FINISHED, "caller", "t", finalized=True))
    await asyncio.sleep(0.05)
    assert seen["stopped"] == []  # held: the VAD has not decided yet
    await strategy.process_frame(VADUserStartedSpeakingFrame())  # it has: speech
    await asyncio.sleep(0.4)
    assert seen["stopped"] == []  # the caller's turn goes on
    await quiet(vad)  # "Thanks." is over
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await strategy.process_frame(TranscriptionFrame(" Thanks.", "caller", "t", finalized=True))
    assert len(seen["stopped"]) == 1  # smart-turn is still unsure: the words ended it
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_voice_that_never_becomes_speech_lets_the_words_end_the_turn(thanks):
    vad = await vad_after_a_sentence(thanks)
    strategy, seen = await _words_rule(vad)
    await strategy.process_frame(VADUserStartedSpeakingFrame())
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    await voice_starting(vad, thanks)  # a cough
    await strategy.process_frame(TranscriptionFrame(FINISHED, "caller", "t", finalized=True))
    assert seen["stopped"] == []
    await quiet(vad)
    await asyncio.sleep(0.1)
    assert len(seen["stopped"]) == 1  # when the VAD falls quiet, not smart-turn's 1.5 s
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_finished_words_end_the_turn_without_a_speculative_reply(thanks):
    strategy, seen = await _words_rule(await vad_after_a_sentence(thanks), speculate=True)
    await say(strategy, FINISHED)
    (params,) = seen["stopped"]
    assert not params.confirms_speculation
    assert seen["inference"] == [None] and seen["withdrawn"] == []  # one ordinary inference
    await strategy.cleanup()


@pytest.mark.asyncio
async def test_a_speculative_reply_to_unfinished_words_gives_way_to_the_finished_line(thanks):
    analyzer = UnsureThenFinished()
    vad = await vad_after_a_sentence(thanks)
    strategy, seen = await _words_rule(vad, analyzer, speculate=True)
    await say(strategy, "My coffee was cold and")
    (speculation,) = seen["inference"]  # unsure, unfinished: the LLM starts, held back
    assert speculation.text == "My coffee was cold and" and seen["stopped"] == []
    await strategy.process_frame(VADUserStartedSpeakingFrame())  # "... the tea too."
    assert seen["withdrawn"] == [True]
    await strategy.process_frame(VADUserStoppedSpeakingFrame(stop_secs=0.2))
    text = "My coffee was cold and the tea too."
    await strategy.process_frame(TranscriptionFrame(text, "caller", "t", finalized=True))
    (params,) = seen["stopped"]  # at the transcript: smart-turn never decided
    assert not params.confirms_speculation and seen["inference"][-1] is None
    await strategy.cleanup()
