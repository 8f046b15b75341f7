"""Several pipecat observers behind one of the worker's observer queues.

pipecat's ``WorkerObserver`` gives every observer a queue and a task of its own, and puts
every event in every queue: each processor's ``on_process_frame`` (every hop of every
frame, 50 audio frames a second each way) and each push. A call's record needs four
observers, none of which reads ``on_process_frame``; as one :class:`ObserverGroup` they
cost one queue put per event instead of four, and the events nobody reads stop there.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipecat.observers.base_observer import (
    BaseObserver,
    FrameProcessed,
    FramePushed,
    ProcessorSetUp,
)
from pipecat.utils.asyncio.task_manager import BaseTaskManager

__all__ = ["ObserverGroup"]


def _reads(observer: BaseObserver, method: str) -> bool:
    """Whether ``observer``'s class does anything with ``method`` (BaseObserver's is a no-op)."""
    return getattr(type(observer), method) is not getattr(BaseObserver, method)


class ObserverGroup(BaseObserver):
    """Observers told of each event in turn, in their order, from one queue.

    Each observer sees what it would see on its own: every push, or only a frame's first
    when it was made with ``observe_every_push=False``.

    Args:
        observers: The observers, set up and cleaned up with the group.
    """

    def __init__(self, observers: Sequence[BaseObserver]) -> None:
        self.observers = list(observers)
        super().__init__(observe_every_push=any(o.observe_every_push for o in self.observers))
        self._processed = [o for o in self.observers if _reads(o, "on_process_frame")]
        self._set_up = [o for o in self.observers if _reads(o, "on_processor_setup")]
        self._started = [o for o in self.observers if _reads(o, "on_pipeline_started")]

    async def setup(self, task_manager: BaseTaskManager) -> None:
        await super().setup(task_manager)
        for observer in self.observers:
            await observer.setup(task_manager)

    async def cleanup(self) -> None:
        await super().cleanup()
        for observer in self.observers:
            await observer.cleanup()

    async def on_push_frame(self, data: FramePushed) -> None:
        for observer in self.observers:
            if data.first_push or observer.observe_every_push:
                await observer.on_push_frame(data)

    async def on_process_frame(self, data: FrameProcessed) -> None:
        for observer in self._processed:
            await observer.on_process_frame(data)

    async def on_processor_setup(self, data: ProcessorSetUp) -> None:
        for observer in self._set_up:
            await observer.on_processor_setup(data)

    async def on_pipeline_started(self) -> None:
        for observer in self._started:
            await observer.on_pipeline_started()
