"""Telling whoever watches the engine that a topic's queue grows fast, or is full.

A step that emits more than its subscribers consume (a loop through a topic, a fan-out that
fans out again) grows its queue by thousands of events a second until the bound refuses its
runs. The watch samples every topic's depth once a second and publishes `queue.warning` when
a topic grew by `GROWTH_PER_S` or more in each of the last `SAMPLES` seconds, and when a run
was refused at the bound; once a topic was warned about, it is quiet for `QUIET_S`, so the
workbench shows a toast, not a stream of them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable

from engine import events as ev
from engine.events import EventHub

SAMPLE_S = 1.0
SAMPLES = 3
GROWTH_PER_S = 1_000
QUIET_S = 30.0


class QueueWatch:
    """Samples the queue depth per topic; warns about fast growth and refusals."""

    def __init__(self, hub: EventHub, depths: Callable[[], dict[tuple[str, str], int]]) -> None:
        self._hub = hub
        self._depths = depths
        self._history: dict[str, deque[int]] = {}
        self._warned: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer = loop.call_later(SAMPLE_S, self._sample)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sample(self) -> None:
        totals: dict[str, int] = {}
        for (topic, _step), count in self._depths().items():
            totals[topic] = totals.get(topic, 0) + count
        for topic in list(self._history):
            if topic not in totals:
                del self._history[topic]
        for topic, total in totals.items():
            history = self._history.get(topic)
            if history is None:
                history = self._history[topic] = deque(maxlen=SAMPLES + 1)
            history.append(total)
            steps = list(history)
            rises = [later - earlier for earlier, later in itertools.pairwise(steps)]
            if len(rises) == SAMPLES and min(rises) >= GROWTH_PER_S * SAMPLE_S:
                self._warn(topic, total, sum(rises) / (SAMPLES * SAMPLE_S), None)
        assert self._loop is not None
        self._timer = self._loop.call_later(SAMPLE_S, self._sample)

    def full(self, topic: str, depth: int, bound: int) -> None:
        """A run was refused for want of room in `topic`'s queue."""
        self._warn(topic, depth, None, bound)

    def _warn(self, topic: str, queued: int, per_second: float | None, bound: int | None) -> None:
        loop = self._loop or asyncio.get_running_loop()
        now = loop.time()
        last = self._warned.get(topic)
        if last is not None and now - last < QUIET_S:
            return
        self._warned[topic] = now
        self._hub.publish(
            ev.QUEUE_WARNING,
            {
                "topic": topic,
                "queued": queued,
                "perSecond": None if per_second is None else round(per_second, 1),
                "full": bound is not None,
                "bound": bound,
            },
        )
