"""When the caller's turn is over: at once if the transcript reads as finished, later if not.

pipecat's ``SpeechTimeoutUserTurnStopStrategy`` waits a fixed ``user_speech_timeout`` after
every VAD stop: short enough to answer quickly and it cuts callers off at a pause inside a
sentence; long enough not to and every turn pays it. Its smart-turn model (shipped in the
wheel) reads prosody, which voicelab's synthetic callers do not carry: it took 0.17 s per
decision on this machine and called "My chicken curry was cold when" finished (bench/RESULTS.md).

This rule reads the words instead. Whisper punctuates from the audio; a transcript that ends
in ``.``, ``?`` or ``!`` and not on a word that needs a continuation ("and", "the", "when",
...) ends the turn as soon as it arrives. Anything else waits ``user_speech_timeout`` for
more speech, which cancels the wait as it would have before.

:class:`HeldTurnAnalyzerStopStrategy` is the smart-turn rule (the default) with one hold: a
turn is not ended while the VAD hears the caller's voice starting again. Piper, and people,
leave about 200 ms between sentences; smart-turn calls "...around noon." finished, the
transcript lands about 0.2 s after the VAD stop, and the caller's next sentence is
confirmed by the VAD only ``start_secs`` (0.2 s) after it began. When the transcript wins
that race the bot answers half a line and is interrupted by the rest (the CI failure of
2026-12-02). Held until the VAD decides, the caller's resumed speech cancels the end of turn
the way pipecat already does for speech it has confirmed.

:class:`WordsOrSmartTurnStopStrategy` (``VOICELAB_TURN_END=smart_turn_words``) is that held
smart-turn rule with the words as a second opinion: when smart-turn has called the turn
unfinished at the VAD's stop (it would wait out its ``stop_secs``, 1.5 s) and the final
transcript :func:`sounds_finished`, the turn ends at the transcript. smart-turn is unsure on
~40 % of the Piper-voiced callers' turns, most of which read as finished sentences; a line cut
off mid-phrase ("...cold when") still waits for smart-turn.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADState
from pipecat.frames.frames import EagerEndOfTurnCancelFrame, Frame, TranscriptionFrame
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_stop.turn_analyzer_user_turn_stop_strategy import (
    TurnAnalyzerUserTurnStopStrategy,
)

__all__ = [
    "HeldTurnAnalyzerStopStrategy",
    "TranscriptTurnEndStrategy",
    "WordsOrSmartTurnStopStrategy",
    "caller_voice_pending",
    "sounds_finished",
]

# Words a statement cannot end on: conjunctions, articles and possessives, prepositions
# that need an object, subject pronouns. (Objects like "it"/"you"/"that" and auxiliaries
# end sentences: "Thank you.", "Yes, it was.") A question or exclamation is always finished.
_CONTINUES = frozenset(
    (
        *("and", "or", "but", "because", "if", "when", "while", "although", "though"),
        *("unless", "until", "whether", "than", "where", "which", "who", "whose"),
        *("a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "every"),
        *("of", "with", "from", "into", "onto", "at", "by", "to", "between", "through"),
        *("i", "we", "they", "he", "she", "i'm", "we're", "they're", "i've", "we've", "i'd"),
    )
)
_TERMINAL = re.compile(r"[.?!]['\")\]]*\s*\Z")
_LAST_WORD = re.compile(r"([a-z']+)\W*\Z")


def sounds_finished(text: str) -> bool:
    """Whether a transcript reads as a finished turn (sentence-final, not mid-phrase)."""
    text = text.strip()
    if not _TERMINAL.search(text) or text.endswith("..."):
        return False
    if text.rstrip("'\")] ").endswith(("?", "!")):
        return True
    last = _LAST_WORD.search(text.lower())
    return last is None or last.group(1) not in _CONTINUES


class TranscriptTurnEndStrategy(SpeechTimeoutUserTurnStopStrategy):
    """``SpeechTimeoutUserTurnStopStrategy`` that skips its wait when the words are finished.

    Args:
        user_speech_timeout: How long a caller may pause inside an unfinished sentence.
        **kwargs: Passed to :class:`SpeechTimeoutUserTurnStopStrategy`.
    """

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        await super()._handle_transcription(frame)
        if (
            frame.finalized
            and self._vad_stopped
            and not self._vad_user_speaking
            and not self._user_speech_wait_done
            and sounds_finished(self._text)
        ):
            # The floor timer exists for a caller who is not done; this one is.
            if self._user_speech_timeout_task:
                await self.task_manager.cancel_task(self._user_speech_timeout_task)
                self._user_speech_timeout_task = None
            self._user_speech_wait_done = True
            await self._maybe_trigger_user_turn_stopped()


_HOLD_POLL_S = 0.01


def caller_voice_pending(vad: VADAnalyzer) -> bool:
    """Whether ``vad`` hears voice it has not yet reported as stopped (or ever started).

    pipecat 1.14's analyzer keeps its state machine in ``_vad_state`` (QUIET, STARTING,
    SPEAKING, STOPPING) and reports only confirmed transitions; STARTING is the voice heard
    during ``start_secs``, before a ``VADUserStartedSpeakingFrame``.
    """
    return getattr(vad, "_vad_state", VADState.QUIET) in (VADState.STARTING, VADState.SPEAKING)


class HeldTurnAnalyzerStopStrategy(TurnAnalyzerUserTurnStopStrategy):
    """pipecat's turn-analyzer (smart-turn) stop, held while the caller's voice resumes.

    With ``speculate``, the reply starts before the turn-end decision: when the final
    transcript arrives after the VAD's stop and smart-turn has not called the turn finished
    (it waits up to its ``stop_secs``, 1.5 s, when unsure), the LLM answers that transcript
    at once, speculatively (pipecat's ``UserTurnSpeculation``: a provisional context, the
    reply held by the LLM service's ``SpeculationGate``). The end of the turn releases it if
    the words are still the same; the caller speaking again, other words, or a tool call
    (pipecat withdraws a speculation that wants one: a tool's effects cannot be undone)
    drop it, and the turn is answered the ordinary way.

    Args:
        vad: The analyzer the user aggregator runs on the caller's audio.
        max_hold_secs: The longest hold: the VAD has decided by ``start_secs`` (noise that
            never becomes speech lets the turn end then).
        speculate: Start the reply at the transcript, before the turn-end decision.
        **kwargs: As :class:`TurnAnalyzerUserTurnStopStrategy` (``turn_analyzer``).
    """

    def __init__(
        self, *, vad: VADAnalyzer, max_hold_secs: float, speculate: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._vad = vad
        self._max_hold_secs = max_hold_secs
        self._hold_task: asyncio.Task[None] | None = None
        self._speculate = speculate
        self._speculation: UserTurnSpeculation | None = None

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, EagerEndOfTurnCancelFrame):
            # The LLM withdrew the speculation (it wanted a tool): the turn's end must run
            # inference again, so forget it without another withdrawal.
            self._speculation = None
        return await super().process_frame(frame)

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        await super()._handle_transcription(frame)
        if (
            self._speculate
            and self._speculation is None
            and self._vad_stopped
            and not self._vad_user_speaking
            and not self._turn_complete  # decided already: the turn ends the ordinary way
            and self._text.strip()
        ):
            self._speculation = UserTurnSpeculation(text=self._text)
            await self.trigger_user_turn_inference_triggered(speculation=self._speculation)

    async def trigger_user_turn_stopped(self, **kwargs: Any) -> None:
        if self._hold_task is not None:
            return  # already holding this end of turn
        if not caller_voice_pending(self._vad):
            await self._end_turn(kwargs)
            return
        self._hold_task = self.task_manager.create_task(self._hold(kwargs), f"{self}::_hold")

    async def _end_turn(self, kwargs: dict[str, Any]) -> None:
        """End the turn: keep a speculative reply to the same words, else answer anew."""
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation.text == self._text:
            await self.trigger_user_turn_finalized(confirms_speculation=True, **kwargs)
            return
        if speculation is not None:
            await self.trigger_user_turn_speculation_cancelled()
        await super().trigger_user_turn_stopped(**kwargs)

    async def _withdraw(self) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is not None:
            await self.trigger_user_turn_speculation_cancelled()

    async def _hold(self, kwargs: dict[str, Any]) -> None:
        # Confirmed speech cancels this task (_discard_pending_end_of_turn); voice that never
        # becomes speech, or the deadline, ends the hold and the turn with it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_hold_secs
        try:
            while caller_voice_pending(self._vad) and loop.time() < deadline:
                await asyncio.sleep(_HOLD_POLL_S)
        finally:
            self._hold_task = None
        if self._turn_complete:
            await self._end_turn(kwargs)

    async def _cancel_hold(self) -> None:
        if self._hold_task is not None:
            await self.task_manager.cancel_task(self._hold_task)
            self._hold_task = None

    async def _discard_pending_end_of_turn(self) -> None:
        # The caller speaks again (or a turn boundary): a reply started early is not wanted.
        await super()._discard_pending_end_of_turn()
        await self._cancel_hold()
        await self._withdraw()

    async def cleanup(self) -> None:
        await self._cancel_hold()
        await super().cleanup()


class WordsOrSmartTurnStopStrategy(HeldTurnAnalyzerStopStrategy):
    """The held smart-turn stop, ended at the transcript when smart-turn is unsure but the
    words read as finished.

    The words only overrule an "incomplete": a turn smart-turn calls complete ends as
    before, and an unfinished transcript waits for smart-turn (its ``stop_secs`` of
    silence, or the caller speaking again). The end still passes the hold, so a caller whose
    voice resumes in the gap keeps the turn. Only a finalized transcript after the VAD's stop
    counts: one that landed while the caller was still speaking may be of an earlier part of
    the line, so smart-turn alone decides that stop.

    Args:
        **kwargs: As :class:`HeldTurnAnalyzerStopStrategy`.
    """

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        if frame.finalized and self._unsure_but_words_finished(frame.text):
            # Decided before the parent looks: no speculation for a turn that ends now.
            self._turn_complete = True
        await super()._handle_transcription(frame)

    def _unsure_but_words_finished(self, text: str) -> bool:
        """Whether smart-turn called this stop incomplete and ``text`` reads as finished."""
        return (
            self._vad_stopped
            and not self._vad_user_speaking
            and not self._turn_complete
            and sounds_finished(text)
        )
