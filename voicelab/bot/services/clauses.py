"""Where a reply may be cut for speech: clause and sentence boundaries, defined once.

The LLM releases text to TTS a clause at a time (a caller hears the first words sooner
than if TTS waited for the whole sentence) and never past the last boundary (a reply cut
by its token budget stops after a clause, not mid-word). The TTS aggregator speaks each
released clause as it arrives.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

__all__ = ["ClauseTextAggregator", "count_sentences", "split_at_last_clause"]

# A boundary is punctuation followed by whitespace: "1,000" and "e.g." mid-word are not.
_CLAUSE_END = re.compile(r"[,;:.?!]['\")\]]*\s+")
_SENTENCE_END = re.compile(r"[.?!]['\")\]]*(?:\s+|\Z)")


def split_at_last_clause(text: str) -> tuple[str, str]:
    """``(ready, held)``: text up to and including the last clause boundary, and the rest."""
    ends = [match.end() for match in _CLAUSE_END.finditer(text)]
    if not ends:
        return "", text
    return text[: ends[-1]], text[ends[-1] :]


def count_sentences(text: str) -> int:
    """Finished sentences in ``text``."""
    return len(_SENTENCE_END.findall(text.strip() + " ")) if text.strip() else 0


class ClauseTextAggregator(SimpleTextAggregator):
    """pipecat text aggregator that hands TTS one clause at a time.

    pipecat's ``SimpleTextAggregator`` waits for a sentence's end and for the first
    character after it; a small local model takes 0.1-0.3 s to write a sentence. Each
    aggregation is typed ``SENTENCE`` so the TTS service treats it as a unit of speech.
    (A subclass so it fits where TTSService keeps its aggregator; every method is its own.)
    """

    def __init__(self, *, language: str | None = None) -> None:
        super().__init__(aggregation_type=TextType.SENTENCE, language=language)
        self._text = ""

    @property
    def text(self) -> Aggregation:
        """What is buffered and not yet spoken."""
        return Aggregation(text=self._text.strip(" "), type=TextType.SENTENCE)

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        """Buffer ``text``; yield every clause it completes."""
        self._text += text
        ready, self._text = split_at_last_clause(self._text)
        if ready.strip():
            yield Aggregation(text=ready.strip(), type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        """The rest, at the end of the reply."""
        rest, self._text = self._text.strip(), ""
        return Aggregation(text=rest, type=TextType.SENTENCE) if rest else None

    async def handle_interruption(self) -> None:
        """Drop what an interrupted reply had buffered."""
        self._text = ""

    async def reset(self) -> None:
        """Empty the buffer."""
        self._text = ""
