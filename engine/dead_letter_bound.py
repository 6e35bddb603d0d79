"""The bound on the dead-letter queue (setting `max_dead_letters`).

A runaway step that fails every event would otherwise grow the queue, in memory and in the
store, for as long as events keep coming. Past the bound the oldest dead letters are removed,
in a unit of their own committed right after the one that added the newest, so the newest
failures (the ones a developer is looking at) are kept. Nothing goes silently: every removal
is a `dlq.removed` event, the count since start is in `GET /__motia/stats`, and a `dlq.full`
event and a warning in the log say so, at most every few seconds while it goes on. With
several workers on one store, the worker that added a dead letter is the one that trims.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any

from engine import events as ev
from engine.effects import DeadLetterRemoved
from engine.events import EventHub
from engine.stores import Persistence, StoreFailing

QUIET_S = 5.0
"""Least time between two reports while dead letters keep being dropped (the drops in
between are told together at its end)."""


class DeadLetterBound:
    """Trims a dead-letter queue to its bound, counting and reporting what it drops."""

    def __init__(self, hub: EventHub, store: Persistence, bound: int) -> None:
        self.bound = bound
        self.dropped = 0
        """Dead letters removed to keep the bound since this process started."""
        self.quiet_s = QUIET_S
        self.warn: Callable[[str], None] = lambda _message: None
        self._hub = hub
        self._store = store
        self._unreported = 0
        self._held = 0
        self._reported_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def stats(self, held: int) -> dict[str, int]:
        return {"held": held, "bound": self.bound, "dropped": self.dropped}

    def trim(self, dlq: dict[str, dict[str, Any]]) -> None:
        """Remove the oldest of `dlq` past the bound, from the store and then from `dlq`."""
        excess = len(dlq) - self.bound
        if excess <= 0:
            return
        oldest = heapq.nsmallest(excess, dlq.values(), key=lambda item: item["failedAt"])
        ids = [str(item["id"]) for item in oldest]
        try:
            self._store.commit([DeadLetterRemoved(i) for i in ids], False, self._store.epoch)
        except StoreFailing:
            return  # the bus is suspended; the next dead letter after recovery trims
        for item_id in ids:
            dlq.pop(item_id, None)
            self._hub.publish(ev.DLQ_REMOVED, {"id": item_id})
        self.dropped += len(ids)
        self._unreported += len(ids)
        self._held = len(dlq)
        self._report()

    def _report(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._reported_at is not None and now - self._reported_at < self.quiet_s:
            if self._timer is None:
                self._timer = loop.call_later(
                    self._reported_at + self.quiet_s - now, self._report_later
                )
            return
        self._reported_at = now
        count, self._unreported = self._unreported, 0
        self.warn(
            f"the dead-letter queue is full (setting max_dead_letters = {self.bound}): "
            f"dropped the {count} oldest; {self.dropped} dropped since start"
        )
        self._hub.publish(
            ev.DLQ_FULL,
            {
                "dropped": count,
                "totalDropped": self.dropped,
                "held": self._held,
                "bound": self.bound,
            },
        )

    def _report_later(self) -> None:
        self._timer = None
        if self._unreported:
            self._reported_at = None
            self._report()
