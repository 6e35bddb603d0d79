"""Topics to subscribers: delivery, retries with backoff, fifo order and the dead-letter queue.

Each emit becomes one delivery per subscribing step. A delivery is queued in the store as an
effect of the emitting run and dispatched in memory once that run has finished; it leaves the
store only in the unit of the run that handled it, so after a crash every unfinished delivery
is run again (at-least-once). A handler that raises is retried with exponential backoff and
jitter up to `maxRetries` times, then the delivery moves to the dead-letter queue.

While the store cannot write, the bus is suspended: it forgets what it had in memory, and when
the store recovers it takes the queue and the dead letters back from what the store committed.

With a shared queue (several processes on one store) the store's consumer hands this process
its deliveries instead: emitted events reach whichever process claims them, and a failed
attempt's retry goes back to the store to be claimed again after its backoff (a fifo step's
stays here, where its order holds).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from engine import events as ev
from engine import jsonio
from engine.dead_letter_bound import DeadLetterBound
from engine.effects import (
    DeadLettered,
    DeadLetterRemoved,
    DeliveryDone,
    DeliveryFailed,
    EventQueued,
)
from engine.events import EventHub
from engine.overload import QueueFull
from engine.queue_watch import QueueWatch
from engine.registry import StepRegistry
from engine.steps import Step
from engine.stores import Persistence, Subscription
from engine.tracing import new_id
from engine.workers import WorkerPool

_seq = itertools.count(int(time.time() * 1000) * 1000)


Delivery = EventQueued
"""One event on its way to one subscriber: the effect that queued it, kept by the bus."""


class Edge:
    """One subscription's queue in memory (a topic to one step): how many deliveries the bus
    holds on it. A delivery carries its edge, so dispatching, bounding and settling it count
    without building and hashing a `(topic, step)` key each time (three times a delivery)."""

    __slots__ = ("queued", "step", "topic")

    def __init__(self, topic: str, step: str) -> None:
        self.topic = topic
        self.step = step
        self.queued = 0


Handle = Callable[[Delivery], Awaitable[bool]]
"""Runs one attempt of a delivery; True when it is settled (succeeded or dead-lettered)."""
Crashed = Callable[[Delivery, Exception], None]
"""Told of an attempt that failed in the engine itself, outside any handler."""


async def _unserved(delivery: Delivery) -> bool:
    raise RuntimeError("the bus has no one to run its deliveries (`Bus.serve`)")


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Delay before retry number `attempt` (1-based): doubling from base, jittered, capped."""
    delay = min(max_s, base_s * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.8, 1.0)


def dead_letter_item(dead: DeadLettered) -> dict[str, Any]:
    """A dead letter as the API and the workbench show it; data that is not JSON (a damaged
    row, the reason it died) is shown as the text it is."""
    try:
        data = jsonio.loads(dead.data_json)
    except ValueError:
        data = dead.data_json
    return {
        "id": dead.id,
        "topic": dead.topic,
        "step": dead.step,
        "data": data,
        "error": dead.error,
        "traceback": dead.traceback,
        "attempts": dead.attempts,
        "traceId": dead.trace_id,
        "failedAt": dead.failed_at,
    }


class Bus:
    """Subscriptions and the deliveries in flight."""

    def __init__(
        self,
        hub: EventHub,
        store: Persistence,
        registry: StepRegistry,
        base_s: float,
        max_s: float,
        max_queued: int = 100_000,
        max_dead_letters: int = 10_000,
    ) -> None:
        self._hub = hub
        self._max_queued = max_queued
        self._store = store
        self._registry = registry
        self._base_s = base_s
        self._max_s = max_s
        self.handle: Handle = _unserved
        self.crashed: Crashed | None = None
        self.in_flight: set[Delivery] = set()
        """Keyed by the delivery itself, not its random id: an object hashes by identity,
        where a churned dict of thousands of fresh strings reads each key's hash back from
        the string, cold by then. A delivery a shared queue hands over twice (claimed again
        while its first attempt runs) is two objects, each held and counted until it ends."""
        self._fifo: dict[str, asyncio.Queue[Delivery]] = {}
        self._fifo_workers: dict[str, asyncio.Task[None]] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._pool: WorkerPool[Delivery] = WorkerPool(_unserved, self._again, self._crash)
        self.dlq: dict[str, dict[str, Any]] = {}
        self.dead_letter_bound = DeadLetterBound(hub, store, max_dead_letters)
        self._edges: dict[tuple[str, str], Edge] = {}
        self._fanout: dict[str, list[tuple[Step, Edge]]] = {}
        """Per subscribed topic, its subscribers and their edges (rebuilt as the steps
        change): topics nobody subscribes to are not kept, so a person's emits of made-up
        topics leave nothing behind."""
        self.generation = 0
        self.suspended = False
        self.shared = store.shared_queue
        self.watch = QueueWatch(hub, lambda: self.queued_by_edge)
        registry.on_change.append(self._subscriptions_changed)

    def serve(self, handle: Handle, crashed: Crashed) -> None:
        """Who runs the attempts: `handle` skips a delivery that is no longer current (purged,
        or from before an outage) as settled."""
        self.handle = self._pool.work = handle
        self.crashed = crashed

    @property
    def queued_by_edge(self) -> dict[tuple[str, str], int]:
        """Deliveries held per `(topic, step)`, for the ones that hold any."""
        return {key: edge.queued for key, edge in self._edges.items() if edge.queued}

    def _edge(self, topic: str, step: str) -> Edge:
        edge = self._edges.get((topic, step))
        if edge is None:
            edge = self._edges[(topic, step)] = Edge(topic, step)
        return edge

    def _edge_of(self, delivery: Delivery) -> Edge:
        """The delivery's edge: set as it was made, looked up for one claimed from a store."""
        edge = delivery.edge
        if edge is None:
            edge = delivery.edge = self._edge(delivery.topic, delivery.step)
        return edge

    def _subscriptions_changed(self, steps: list[Step]) -> None:
        """Edges are rebuilt per topic, and an empty one nobody subscribes to any more is
        dropped (a delivery on its way keeps an edge of its own to count on)."""
        self._fanout.clear()
        subscribed = self._registry.subscribers
        for key in [
            key
            for key, edge in self._edges.items()
            if not edge.queued and all(s.name != key[1] for s in subscribed.get(key[0], ()))
        ]:
            del self._edges[key]
        self._store.subscribe(
            [
                Subscription(topic, step.name, step.queue.fifo, step.queue.visibility_timeout_s)
                for topic, subscribers in self._registry.subscribers.items()
                for step in subscribers
            ]
        )

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
        is queued again), to dispatch once the run that made them is in the store."""
        fanout = self._fanout.get(topic)
        if fanout is None:
            subscribers = self._registry.subscribers.get(topic)
            if not subscribers:
                return []
            fanout = self._fanout[topic] = [
                (step, self._edge(topic, step.name)) for step in subscribers
            ]
        deliveries = []
        for step, edge in fanout:
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
                1,
                time.time() + step.queue.delay_s if step.queue.delay_s else 0.0,
            )
            delivery.edge = edge
            deliveries.append(delivery)
        return deliveries

    def dispatch_all(self, deliveries: list[Delivery]) -> None:
        if self.shared:
            return  # they are in the shared queue now, for whichever process claims them
        steps = self._registry.steps
        for delivery in deliveries:
            self.dispatch(delivery, steps.get(delivery.step))

    def dispatch(self, delivery: Delivery, step: Step | None) -> None:
        if self.suspended:
            return
        delivery.generation = self.generation
        self.in_flight.add(delivery)
        (delivery.edge or self._edge_of(delivery)).queued += 1
        if step is not None and step.queue.fifo:
            queue = self._fifo.get(step.name)
            if queue is None:
                queue = self._fifo[step.name] = asyncio.Queue()
                self._fifo_workers[step.name] = asyncio.ensure_future(self._fifo_worker(queue))
            queue.put_nowait(delivery)
        elif delivery.not_before:
            self._schedule(delivery)
        else:
            self._pool.submit(delivery)  # current, and too new to be purged

    def current(self, delivery: Delivery) -> bool:
        """Whether the delivery still belongs to this bus (not to one before an outage)."""
        return delivery.generation == self.generation and not self.suspended

    def _schedule(self, delivery: Delivery) -> None:
        if not self.current(delivery):
            return
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
        if self.current(delivery) and not delivery.purged:
            self._pool.submit(delivery)

    def _again(self, delivery: Delivery) -> None:
        """An attempt on a pool worker failed: its retry waits for its backoff off the worker
        (with a shared queue, in the store, for whichever process claims it)."""
        if not self.shared:
            self._schedule(delivery)

    def _crash(self, delivery: Delivery, exc: Exception) -> None:
        if self.crashed is not None:
            self.crashed(delivery, exc)

    async def _guarded(self, delivery: Delivery) -> bool:
        """An attempt whose engine-side failure is told, never raised: a worker that raised
        would stop taking deliveries."""
        try:
            return await self.handle(delivery)
        except Exception as exc:
            self._crash(delivery, exc)
            return True

    async def _fifo_worker(self, queue: asyncio.Queue[Delivery]) -> None:
        """One delivery at a time, waiting through retries, so a fifo step's order holds."""
        while True:
            delivery = await queue.get()
            while self.current(delivery):
                wait = delivery.not_before - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if delivery.purged or not self.current(delivery):
                    break
                if await self._guarded(delivery):
                    break

    def finished(self, delivery: Delivery) -> DeliveryDone:
        """A delivery whose run succeeded (or was abandoned): it leaves the queue."""
        self._forget(delivery)
        return DeliveryDone(delivery.id)

    def purge(self, topic: str) -> int:
        """Forget every delivery of `topic` (the store's purge is committed): none of them
        starts again; answers how many there were."""
        doomed = [d for d in self.in_flight if d.topic == topic]
        for delivery in doomed:
            delivery.purged = True
            self._forget(delivery)
        return len(doomed)

    def depth(self, topic: str, step: str) -> int:
        edge = self._edges.get((topic, step))
        return edge.queued if edge is not None else 0

    def check_room(self, deliveries: Sequence[Delivery]) -> None:
        """Refuse a run whose emits would take a subscription's queue past its bound (the
        subscriber's `infrastructure.queue.maxQueued`, else the setting `max_queued`): the
        queue stays as it is and the run fails (an api step answers 503, an event step
        retries), so a step that emits more than is consumed cannot fill memory and disk."""
        if len(deliveries) == 1:  # most runs emit once: no tally to build
            first = deliveries[0]
            self._room(first.edge or self._edge_of(first), 1)
            return
        adding: dict[Edge, int] = {}
        for delivery in deliveries:
            edge = self._edge_of(delivery)
            adding[edge] = adding.get(edge, 0) + 1
        for edge, count in adding.items():
            self._room(edge, count)

    def _room(self, edge: Edge, count: int) -> None:
        topic, step_name, depth = edge.topic, edge.step, edge.queued
        step = self._registry.steps.get(step_name)
        bound = (step.queue.max_queued if step else None) or self._max_queued
        if depth + count > bound:
            self.watch.full(topic, depth, bound)
            raise QueueFull(
                f"the queue of {topic!r} for {step_name} holds {depth} events, and "
                f"{count} more would pass its bound of {bound} (setting max_queued, or "
                f"{step_name}'s infrastructure.queue.maxQueued); purge it with "
                f"`motia queue purge {topic}`"
            )

    def _forget(self, delivery: Delivery) -> None:
        try:
            self.in_flight.remove(delivery)
        except KeyError:
            return  # settled already, or held by the bus before an outage
        (delivery.edge or self._edge_of(delivery)).queued -= 1

    def after_failure(
        self, delivery: Delivery, max_retries: int, error: dict[str, Any]
    ) -> tuple[bool, DeliveryFailed | DeadLettered | None]:
        """Plan what follows a failed attempt: a retry after backoff, or the dead-letter
        queue once `max_retries` retries are spent. Answers (settled, effect); a purged
        delivery is settled with no effect (it left the queue already)."""
        if delivery.purged:
            return True, None
        if delivery.attempt <= max_retries:
            delay = backoff_s(delivery.attempt, self._base_s, self._max_s)
            delivery.attempt += 1
            delivery.not_before = time.time() + delay
            return False, DeliveryFailed(delivery.id, delivery.attempt, delivery.not_before)
        return True, DeadLettered(
            delivery.id,
            delivery.topic,
            delivery.step,
            delivery.data_json,
            error.get("message", ""),
            error.get("traceback"),
            delivery.attempt,
            delivery.trace_id,
            time.time() * 1000,
        )

    def settled(self, delivery: Delivery, effect: DeliveryFailed | DeadLettered | None) -> None:
        """The unit that settles this attempt is in the store: update memory to match."""
        if isinstance(effect, DeadLettered) or (
            self.shared and isinstance(effect, DeliveryFailed) and not self._is_fifo(delivery)
        ):
            self._forget(delivery)
        if isinstance(effect, DeadLettered):
            item = dead_letter_item(effect)
            self.dlq[delivery.id] = item
            self._hub.publish(ev.DLQ_ADDED, item)
            self.dead_letter_bound.trim(self.dlq)

    def _is_fifo(self, delivery: Delivery) -> bool:
        step = self._registry.steps.get(delivery.step)
        return step is not None and step.queue.fifo

    def remote_dead_letter(self, kind: str, change: dict[str, Any]) -> None:
        """Another process sharing the store added or removed a dead letter."""
        if kind == "dlq.removed":
            self.forget_dead_letter(change["id"])
            return
        for dead in self._store.dead_letters():
            if dead.id == change["id"]:
                item = dead_letter_item(dead)
                self.dlq[dead.id] = item
                self._hub.publish(ev.DLQ_ADDED, item)

    def load_dlq(self) -> None:
        self.dlq = {dead.id: dead_letter_item(dead) for dead in self._store.dead_letters()}

    def remove_dead_letter(self, item_id: str) -> DeadLetterRemoved | None:
        """The effect that removes a dead letter; `forget_dead_letter` once it is committed."""
        return DeadLetterRemoved(item_id) if item_id in self.dlq else None

    def forget_dead_letter(self, item_id: str) -> dict[str, Any] | None:
        item = self.dlq.pop(item_id, None)
        if item is not None:
            self._hub.publish(ev.DLQ_REMOVED, {"id": item_id})
        return item

    def recover(self) -> int:
        """Dispatch every delivery the store still holds: the work a crash interrupted (with
        a shared queue: start taking this process's share of it)."""
        if self.shared:
            self._store.serve(self._claimed)
            return 0
        claimed = self._store.claim_queued()
        for queued in claimed:
            self._claimed(queued)
        return len(claimed)

    def _claimed(self, queued: EventQueued) -> None:
        """Dispatch a copy: an in-memory store hands back the very objects this bus held
        before an outage, marked with its old generation."""
        delivery = Delivery(
            queued.id,
            queued.seq,
            queued.topic,
            queued.step,
            queued.data_json,
            queued.trace_id,
            queued.parent_span,
            queued.attempt,
            queued.not_before,
        )
        self.dispatch(delivery, self._registry.steps.get(delivery.step))

    async def drain(self, grace_s: float) -> int:
        """Take no more deliveries and let the ones held here finish, for `grace_s` at most;
        answers how many were still unfinished (the store hands those back)."""
        self._store.stop_claiming()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return len(self.in_flight)

    def suspend(self) -> None:
        """The store cannot write: forget everything in memory; the store keeps the truth."""
        self.suspended = True
        self.generation += 1
        self._cancel_waiting()
        self.in_flight.clear()
        for edge in self._edges.values():
            edge.queued = 0

    def resume(self) -> int:
        """The store writes again: take the queue and the dead letters back from it."""
        self.suspended = False
        before = self.dlq
        self.load_dlq()
        for item_id in before.keys() - self.dlq.keys():
            self._hub.publish(ev.DLQ_REMOVED, {"id": item_id})
        for item_id in self.dlq.keys() - before.keys():
            self._hub.publish(ev.DLQ_ADDED, self.dlq[item_id])
        return self.recover()

    def _cancel_waiting(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._pool.clear()
        for task in self._fifo_workers.values():
            task.cancel()
        self._fifo_workers.clear()
        self._fifo.clear()

    async def stop(self) -> None:
        self.watch.stop()
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
