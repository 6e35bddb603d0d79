"""The engine event stream: everything the engine does, as typed events anyone can watch.

The TUI, the headless printer, the recorder and the introspection websocket are all views of
this one stream. Publishing never waits on a reader: each subscriber owns a bounded queue, and
when a slow reader lets it fill, the oldest events are dropped and counted so the reader can
resynchronise from the stores instead of stalling the engine.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

LOG: Final = "log"
SPAN_START: Final = "span.start"
SPAN_END: Final = "span.end"
STATE_CHANGE: Final = "state.change"
STREAM_CHANGE: Final = "stream.change"
STEP_LOADED: Final = "step.loaded"
STEP_FAILED: Final = "step.failed"
STEP_REMOVED: Final = "step.removed"
DLQ_ADDED: Final = "dlq.added"
DLQ_REMOVED: Final = "dlq.removed"
SERVER_STARTED: Final = "server.started"


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One thing that happened; `data` is plain JSON-ready data."""

    type: str
    time: float
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "time": self.time, "data": self.data}


class Subscription:
    """A reader's bounded window on the stream.

    `dropped` counts events lost to overflow since the last `take_dropped()`, so a view can
    reload from the stores rather than show a silently incomplete picture.
    """

    def __init__(self, hub: EventHub, maxsize: int, types: frozenset[str] | None) -> None:
        self._hub = hub
        self._buffer: deque[EngineEvent] = deque()
        self._maxsize = maxsize
        self._types = types
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0
        self.closed = False

    def _offer(self, event: EngineEvent) -> None:
        if self._types is not None and event.type not in self._types:
            return
        if len(self._buffer) >= self._maxsize:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drain(self) -> list[EngineEvent]:
        """Everything buffered, at once: the coalescing read a UI makes on its redraw tick."""
        events = list(self._buffer)
        self._buffer.clear()
        return events

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped

    async def wait(self) -> None:
        """Return once at least one event is buffered (or the subscription is closed)."""
        while not self._buffer and not self.closed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def get(self) -> EngineEvent:
        await self.wait()
        if not self._buffer:
            raise StopAsyncIteration
        return self._buffer.popleft()

    def __aiter__(self) -> AsyncIterator[EngineEvent]:
        return self

    async def __anext__(self) -> EngineEvent:
        return await self.get()

    def close(self) -> None:
        self.closed = True
        self._hub._remove(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class EventHub:
    """Fans engine events out to subscribers without ever blocking the publisher."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._wanted: frozenset[str] | None = frozenset()

    def subscribe(
        self, maxsize: int = 10_000, types: frozenset[str] | set[str] | None = None
    ) -> Subscription:
        sub = Subscription(self, maxsize, frozenset(types) if types is not None else None)
        self._subscribers.append(sub)
        self._recount()
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
            self._recount()

    def _recount(self) -> None:
        wanted: set[str] = set()
        for sub in self._subscribers:
            if sub._types is None:
                self._wanted = None
                return
            wanted |= sub._types
        self._wanted = frozenset(wanted)

    def wants(self, type_: str) -> bool:
        """Whether anyone listens for this type, so publishers can skip building the data."""
        return self._wanted is None or type_ in self._wanted

    def publish(self, type_: str, data: dict[str, Any]) -> None:
        if not self.wants(type_):
            return
        event = EngineEvent(type_, time.time() * 1000, data)
        for sub in self._subscribers:
            sub._offer(event)
