"""Observers grouped behind one of pipecat's observer queues see what they saw alone."""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat.frames.frames import Frame, InputAudioRawFrame, TextFrame
from pipecat.observers.base_observer import BaseObserver, FrameProcessed, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from voicelab.bot.observer_group import ObserverGroup


class Seen(BaseObserver):
    """Notes every event it is told of."""

    def __init__(self, *, every: bool, processed: bool = False) -> None:
        super().__init__(observe_every_push=every)
        self.pushed: list[tuple[str, str, bool]] = []
        self.started = 0
        if processed:
            self.processed: list[str] = []

    async def on_push_frame(self, data: FramePushed) -> None:
        source = type(data.source).__name__  # its class: instance counters differ per run
        self.pushed.append((type(data.frame).__name__, source, data.first_push))

    async def on_pipeline_started(self) -> None:
        self.started += 1


class SeenProcessing(Seen):
    async def on_process_frame(self, data: FrameProcessed) -> None:
        self.processed.append(type(data.frame).__name__)


class Relay(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


def _observe(grouped: bool) -> list[Any]:
    observers = [Seen(every=True), Seen(every=False), SeenProcessing(every=False, processed=True)]
    frames = [
        TextFrame("hello"),
        InputAudioRawFrame(audio=bytes(320), sample_rate=8000, num_channels=1),
        TextFrame("bye"),
        SleepFrame(0.1),
    ]
    asyncio.run(
        run_test(
            Pipeline([Relay(), Relay(), Relay()]),
            frames_to_send=frames,
            observers=[ObserverGroup(observers)] if grouped else list(observers),
        )
    )
    return [(o.pushed, o.started, sorted(getattr(o, "processed", []))) for o in observers]


def test_grouped_observers_see_what_they_see_alone() -> None:
    alone, grouped = _observe(grouped=False), _observe(grouped=True)
    assert grouped == alone
    every, first_only, processing = grouped
    # the group passes on every push to the one that wants them, the first to the others
    assert len(every[0]) > len(first_only[0]) > 0
    assert all(first for _, _, first in first_only[0])
    assert every[1] == 1 and processing[2]  # pipeline started; processing reported
