"""The segmented STT services' one rule for ``finalized`` transcripts.

Its own module because the instant STT (voicelab's core) and the pooled Whisper (the
``scripted`` extra) both follow it, and the instant one must not import Whisper's service.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.stt_service import SegmentedSTTService

__all__ = ["FinalWhenNoSpeechPending"]


class FinalWhenNoSpeechPending:
    """Mixin (before a ``SegmentedSTTService`` subclass): a transcript is ``finalized`` only
    when no later speech is pending.

    ``finalized`` tells the turn-stop strategy that no more text is coming, so the turn may
    end as soon as the transcript arrives. pipecat's segmented STT marks every segment's
    transcript final; but a pause mid-sentence splits one utterance into two VAD segments,
    and the first transcript then ended the turn before the second was transcribed.

    (pipecat's ``@traced_stt`` wraps the ``push_frame`` its class resolves, this one, so
    each service using the mixin gets its ``stt`` spans.)
    """

    _user_speaking: bool
    _segment_queue: Any

    async def push_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if isinstance(frame, TranscriptionFrame):
            frame.finalized = not self._user_speaking and self._segment_queue.empty()
        # Skip SegmentedSTTService.push_frame, which would set the flag back to True.
        await super(SegmentedSTTService, self).push_frame(frame, direction)  # type: ignore[misc]
