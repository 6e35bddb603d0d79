"""Topics to subscribers: delivery, retries with backoff, fifo order and the dead-letter queue.

Each emit becomes one delivery per subscribing step. A delivery is dispatched in memory at
once and written to the store in the emitting run's batch; it leaves the store only in the
batch of the run that handled it, so after a crash every unfinished delivery is run again
(at-least-once). A handler that raises is retried with exponential backoff and jitter up to
`maxRetries` times, then the delivery moves to the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from engine import events as ev
from engine import jsonio
from engine.events import EventHub
from engine.steps import Step
from engine.store import Statement, Store
from engine.tracing import new_id
from engine.workers import WorkerPool

_seq = itertools.count(int(time.time() * 1000) * 1000)


@dataclass(slots=True)
class Delivery:
    """One event on its way to one subscriber."""

    id: str
    seq: int
    topic: str
    step: str
    data_json: str
    trace_id: str
    parent_span: str | None
    attempt: int = 1
    not_before: float = 0.0
    done: bool = False
    stored: bool = False

    @property
    def data(self) -> Any:
        return jsonio.loads(self.data_json)

    def insert(self) -> Statement:
        self.stored = True
        return (
            "INSERT OR REPLACE INTO queue (id, seq, topic, step, data, trace_id, parent_span, "
            "attempt, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.id,
                self.seq,
                self.topic,
                self.step,
                self.data_json,
                self.trace_id,
                self.parent_span,
                self.attempt,
                self.not_before,
            ),
        )

    def remove(self) -> Statement:
        return ("DELETE FROM queue WHERE id = ?", (self.id,))

    def reschedule(self) -> Statement:
        return (
            "UPDATE queue SET attempt = ?, not_before = ? WHERE id = ?",
            (self.attempt, self.not_before, self.id),
        )


Handle = Callable[[Delivery], Awaitable[bool]]
"""Runs one attempt of a delivery; True when it is settled (succeeded or dead-lettered)."""


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Delay before retry number `attempt` (1-based): doubling from base, jittered, capped."""
    delay = min(max_s, base_s * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.8, 1.0)


class Bus:
    """Subscriptions and the deliveries in flight."""

    def __init__(self, hub: EventHub, store: Store, base_s: float, max_s: float) -> None:
        self._hub = hub
        self._store = store
        self._base_s = base_s
        self._max_s = max_s
        self.subscribers: dict[str, list[Step]] = {}
        self.handle: Handle | None = None
        self.in_flight: dict[str, Delivery] = {}
        self._fifo: dict[str, asyncio.Queue[Delivery]] = {}
        self._fifo_workers: dict[str, asyncio.Task[None]] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._pool: WorkerPool[Delivery] = WorkerPool(self._attempt)
        self.dlq: dict[str, dict[str, Any]] = {}
        self.queued_by_edge: dict[tuple[str, str], int] = {}

    def rebuild(self, steps: list[Step]) -> None:
        subscribers: dict[str, list[Step]] = {}
        for step in steps:
            if step.type == "event":
                for topic in step.subscribes:
                    subscribers.setdefault(topic, []).append(step)
        self.subscribers = subscribers

    def make_deliveries(
        self,
        topic: str,
        data_json: str,
        trace_id: str,
        parent_span: str | None,
        only: str | None = None,
        delivery_id: str | None = None,
    ) -> list[Delivery]:
        """One delivery per subscriber (or to `only`, keeping `delivery_id` when a dead letter
        is re-queued), dispatched now or after `delaySeconds`."""
        deliveries = []
        for step in self.subscribers.get(topic, ()):
            if only is not None and step.name != only:
                continue
            delivery = Delivery(
                delivery_id or new_id(),
                next(_seq),
                topic,
                step.name,
                data_json,
                trace_id,
                parent_span,
                not_before=time.time() + step.queue.delay_s if step.queue.delay_s else 0.0,
            )
            deliveries.append(delivery)
            self.dispatch(delivery, step)
        return deliveries

    def dispatch(self, delivery: Delivery, step: Step | None) -> None:
        self.in_flight[delivery.id] = delivery
        edge = (delivery.topic, delivery.step)
        self.queued_by_edge[edge] = self.queued_by_edge.get(edge, 0) + 1
        if step is not None and step.queue.fifo:
            queue = self._fifo.get(step.name)
            if queue is None:
                queue = self._fifo[step.name] = asyncio.Queue()
                self._fifo_workers[step.name] = asyncio.ensure_future(self._fifo_worker(queue))
            queue.put_nowait(delivery)
            return
        self._schedule(delivery)

    def _schedule(self, delivery: Delivery) -> None:
        wait = delivery.not_before and delivery.not_before - time.time()
        if wait > 0:
            loop = asyncio.get_running_loop()
            timer: asyncio.TimerHandle | None = None

            def fire() -> None:
                self._timers.discard(timer)
                self._start(delivery)

            timer = loop.call_later(wait, fire)
            self._timers.add(timer)
        else:
            self._start(delivery)

    def _start(self, delivery: Delivery) -> None:
        self._pool.submit(delivery)

    async def _attempt(self, delivery: Delivery) -> None:
        """One attempt on a pool worker; a retry waits for its backoff off the worker."""
        assert self.handle is not None
        if not await self.handle(delivery):
            self._schedule(delivery)

    async def _fifo_worker(self, queue: asyncio.Queue[Delivery]) -> None:
        """One delivery at a time, waiting through retries, so a fifo step's order holds."""
        assert self.handle is not None
        while True:
            delivery = await queue.get()
            while True:
                wait = delivery.not_before - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if await self.handle(delivery):
                    break

    def finished(self, delivery: Delivery) -> list[Statement]:
        """A delivery whose run succeeded (or was abandoned): it leaves the queue."""
        delivery.done = True
        self._forget(delivery)
        if not delivery.stored or self._store.retract(delivery.id):
            return []
        return [delivery.remove()]

    def _forget(self, delivery: Delivery) -> None:
        self.in_flight.pop(delivery.id, None)
        edge = (delivery.topic, delivery.step)
        count = self.queued_by_edge.get(edge, 0) - 1
        if count > 0:
            self.queued_by_edge[edge] = count
        else:
            self.queued_by_edge.pop(edge, None)

    def after_failure(
        self, delivery: Delivery, max_retries: int, error: dict[str, Any]
    ) -> tuple[bool, list[Statement]]:
        """Plan what follows a failed attempt: a retry after backoff, or the dead-letter
        queue once `max_retries` retries are spent. Answers (settled, statements)."""
        if delivery.attempt <= max_retries:
            delay = backoff_s(delivery.attempt, self._base_s, self._max_s)
            delivery.attempt += 1
            delivery.not_before = time.time() + delay
            return False, [delivery.reschedule()] if delivery.stored else []
        return True, self.dead_letter(delivery, error)

    def dead_letter(self, delivery: Delivery, error: dict[str, Any]) -> list[Statement]:
        item = {
            "id": delivery.id,
            "topic": delivery.topic,
            "step": delivery.step,
            "data": delivery.data,
            "error": error.get("message", ""),
            "attempts": delivery.attempt,
            "traceId": delivery.trace_id,
            "failedAt": time.time() * 1000,
        }
        self.dlq[delivery.id] = item
        statements = self.finished(delivery)
        statements.append(
            (
                "INSERT OR REPLACE INTO dlq (id, topic, step, data, error, attempts, trace_id, "
                "failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery.id,
                    delivery.topic,
                    delivery.step,
                    delivery.data_json,
                    item["error"],
                    delivery.attempt,
                    delivery.trace_id,
                    item["failedAt"],
                ),
            )
        )
        self._hub.publish(ev.DLQ_ADDED, item)
        return statements

    def load_dlq(self) -> None:
        for row in self._store.read(
            "SELECT id, topic, step, data, error, attempts, trace_id, failed_at FROM dlq "
            "ORDER BY failed_at"
        ):
            self.dlq[row[0]] = {
                "id": row[0],
                "topic": row[1],
                "step": row[2],
                "data": jsonio.loads(row[3]),
                "error": row[4],
                "attempts": row[5],
                "traceId": row[6],
                "failedAt": row[7],
            }

    def remove_dead_letter(self, item_id: str) -> dict[str, Any] | None:
        item = self.dlq.pop(item_id, None)
        if item is not None:
            self._store.submit([("DELETE FROM dlq WHERE id = ?", (item_id,))])
            self._hub.publish(ev.DLQ_REMOVED, {"id": item_id})
        return item

    def recover(self, steps: dict[str, Step]) -> int:
        """Dispatch every delivery the store still holds: the work a crash interrupted."""
        rows = self._store.read(
            "SELECT id, seq, topic, step, data, trace_id, parent_span, attempt, not_before "
            "FROM queue ORDER BY seq"
        )
        for row in rows:
            delivery = Delivery(*row)
            delivery.stored = True
            self.dispatch(delivery, steps.get(delivery.step))
        return len(rows)

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await self._pool.stop()
        workers = list(self._fifo_workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._fifo_workers.clear()
        self._fifo.clear()
