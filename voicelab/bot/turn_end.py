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
"""

from __future__ import annotations

import re

from pipecat.frames.frames import TranscriptionFrame
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)

__all__ = ["TranscriptTurnEndStrategy", "sounds_finished"]

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
