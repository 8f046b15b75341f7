"""Voicemail on outbound calls: pipecat's voicemail detector, a message, then the bot hangs up.

The reference agent's outbound calls run pipecat's ``VoicemailDetector`` (after the STT)
and its ``TTSGate`` (after the TTS): the bot's speech is held until what answered is known.
A machine's greeting gets the persona's ``voicemail`` line once it ends, then the bot ends
the call (``voicemail.detected`` event; ``call.json`` ``voicemail: {detected, message}``);
a person gets the held greeting (``voicemail: {detected: false}``).

The classifier is pipecat's ``LLMClassifier`` over the cloud LLM, or, for the stacks without
one that can be trusted with it (offline, scripted, instant), :class:`VoicemailKeywords`:
the words of a machine's greeting, deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from loguru import logger
from pipecat.classifiers.base_classifier import (
    BaseClassifier,
    ChoiceQuestion,
    ChoiceResult,
    ClassifierError,
    ClassifierImage,
    ClassifierQuestion,
    ClassifierResult,
    YesNoQuestion,
    YesNoResult,
)
from pipecat.extensions.voicemail.voicemail_detector import VoicemailDetector
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    StartFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
)
from pipecat.metrics.metrics import LLMTokenUsage
from pipecat.processors.frame_processor import FrameDirection

from voicelab.recording.store import CallRecord

__all__ = ["MACHINE_PHRASES", "OutboundVoicemail", "VoicemailKeywords"]

MACHINE_PHRASES = (
    "leave a message",
    "leave your message",
    "leave me a message",
    "after the beep",
    "after the tone",
    "at the tone",
    "not available",
    "unavailable",
    "can't take your call",
    "cannot take your call",
    "can't come to the phone",
    "you have reached",
    "you've reached",
    "voicemail",
    "voice mail",
    "mailbox",
    "record your message",
)
"""What a machine's greeting says and a person answering does not (lower case)."""


class VoicemailKeywords(BaseClassifier):
    """Voicemail or a person, from the words of what answered: no model, deterministic.

    Answers pipecat's voicemail question (a choice with a ``voicemail`` option) and yes/no
    questions about voicemail: voicemail when the transcript holds one of ``phrases``.

    Args:
        phrases: Lower-case phrases that mark a machine (default :data:`MACHINE_PHRASES`).
        **kwargs: For pipecat's ``BaseClassifier``.
    """

    def __init__(self, phrases: Sequence[str] = MACHINE_PHRASES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._phrases = tuple(phrase.lower() for phrase in phrases)

    @property
    def model(self) -> str | None:
        return "keywords"

    def is_machine(self, text: str) -> bool:
        """Whether ``text`` (what answered said) holds one of the phrases."""
        said = " ".join(text.lower().replace("\u2019", "'").split())
        return any(phrase in said for phrase in self._phrases)

    async def _ask(
        self,
        state: str | dict[str, Any] | list[Any],
        questions: Mapping[str, ClassifierQuestion],
        images: Sequence[ClassifierImage] = (),
    ) -> tuple[dict[str, ClassifierResult], LLMTokenUsage | None]:
        machine = self.is_machine(state if isinstance(state, str) else str(state))
        results: dict[str, ClassifierResult] = {}
        for name, question in questions.items():
            if isinstance(question, YesNoQuestion):
                results[name] = YesNoResult(probability=1.0 if machine else 0.0)
            elif isinstance(question, ChoiceQuestion) and "voicemail" in question.options:
                person = next(option for option in question.options if option != "voicemail")
                choice = "voicemail" if machine else person
                probabilities = {option: float(option == choice) for option in question.options}
                results[name] = ChoiceResult(
                    choice=choice, probabilities=probabilities, confidence=1.0
                )
            else:
                raise ClassifierError(f"{self} answers only whether a voicemail answered")
        return results, None


class OutboundVoicemail(VoicemailDetector):
    """pipecat's voicemail detector, recording its verdict and leaving the persona's message.

    Place :meth:`detector` (this) after the STT and :meth:`gate` after the TTS. A line
    silent for ``answer_silence_secs`` after the call connects is a person waiting to be
    spoken to (a machine's greeting starts at once): pipecat's detector decides only on
    what it hears, and would hold the bot's greeting forever.

    Args:
        record: The call's record (the verdict goes into ``call.json`` and an event).
        message: Left on a machine before the bot hangs up (``None``: it just hangs up).
        classifier: Decides between a person and a machine.
        answer_silence_secs: Silence after the call connects that means a person.
        **kwargs: For pipecat's ``VoicemailDetector`` (``voicemail_response_delay``...).
    """

    def __init__(
        self,
        *,
        record: CallRecord,
        message: str | None,
        classifier: BaseClassifier,
        answer_silence_secs: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(classifier=classifier, **kwargs)
        self._record = record
        self._message = message
        self._answer_silence_secs = answer_silence_secs
        self._heard_anything = False
        self._silence_task: asyncio.Task[None] | None = None
        self.add_event_handler("on_voicemail_detected", self._leave_message)
        self.add_event_handler("on_conversation_detected", self._person_answered)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, StartFrame):
            self._silence_task = self.create_task(self._person_if_silent())
        elif isinstance(frame, UserStartedSpeakingFrame | TranscriptionFrame):
            self._heard_anything = True
        await super().process_frame(frame, direction)

    async def cleanup(self) -> None:
        if self._silence_task is not None:
            await self.cancel_task(self._silence_task)
            self._silence_task = None
        await super().cleanup()

    async def _person_if_silent(self) -> None:
        await asyncio.sleep(self._answer_silence_secs)
        # pipecat 1.14's detector has no public way to decide: its own verdict method.
        if not self._heard_anything and self._decision is None:
            logger.debug(f"{self}: silence since the call connected: a person is waiting")
            await self._decide("conversation")

    async def _person_answered(self, _: VoicemailDetector) -> None:
        self._record.update_manifest(voicemail_detection={"detected": False})

    async def _leave_message(self, _: VoicemailDetector) -> None:
        self._record.emit("voicemail.detected", message=self._message)
        self._record.update_manifest(
            voicemail_detection={"detected": True, "message": self._message}
        )
        if self._message:
            await self.push_frame(TTSSpeakFrame(self._message))
        # Behind the message: the call ends once it has been left (the serializer hangs up).
        await self.push_frame(EndWorkerFrame(reason="voicemail: message left"))
