"""The pure in-memory adapter (`store = ":memory:"`): nothing on disk, nothing survives the
process. Units commit the moment they are handed over, so it never fails; history is kept in
bounded rings of the configured sizes so older traces and logs still answer queries."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

from engine.effects import (
    DeadLettered,
    DeadLetterRemoved,
    DeliveryDone,
    DeliveryFailed,
    Effect,
    EventQueued,
    History,
    LogRecord,
    QueuePurged,
    SpanRecord,
    TriggerRecord,
    is_span,
)
from engine.stores.base import (
    HealthListener,
    LocalQueue,
    StoreFailing,
    StoreHealth,
    TriggerLimits,
)
from engine.stores.layered import Planes


def _start(span: SpanRecord) -> float:
    return span[3]


class MemoryStore(LocalQueue, Planes):
    """State, streams, the queue, dead letters and bounded history in dicts."""

    def __init__(
        self, trace_limit: int, log_limit: int, triggers: TriggerLimits | None = None
    ) -> None:
        super().__init__()
        self.health = StoreHealth("memory", ":memory:")
        self.epoch = 0
        self.notices: list[str] = []
        self._queue: dict[str, EventQueued] = {}
        self._dead: dict[str, DeadLettered] = {}
        self._traces: OrderedDict[str, dict[str, SpanRecord]] = OrderedDict()
        self._trace_limit = trace_limit
        self._logs: deque[LogRecord] = deque(maxlen=log_limit)
        self._triggers: OrderedDict[str, TriggerRecord] = OrderedDict()
        self._trigger_limits = triggers or TriggerLimits()
        self._trigger_bytes = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop, on_health: HealthListener) -> None:
        self._loop = loop

    async def close(self) -> None:
        """Nothing to release."""

    def commit(
        self, effects: Sequence[Effect], durable: bool, epoch: int
    ) -> asyncio.Future[None] | None:
        if epoch != self.epoch:
            raise StoreFailing("the run began before the store's last outage")
        self.settle(effects, 0)
        queue, dead = self._queue, self._dead
        effect: Any
        for effect in effects:
            kind = type(effect)
            if kind is EventQueued:
                queue[effect.id] = effect
            elif kind is DeliveryDone:
                queue.pop(effect.id, None)
            elif kind is DeliveryFailed:
                queued = queue.get(effect.id)
                if queued is not None:
                    queued.attempt = effect.attempt
                    queued.not_before = effect.not_before
            elif kind is DeadLettered:
                queue.pop(effect.id, None)
                dead[effect.id] = effect
            elif kind is DeadLetterRemoved:
                dead.pop(effect.id, None)
            elif kind is QueuePurged:
                for queued_id in [i for i, q in queue.items() if q.topic == effect.topic]:
                    del queue[queued_id]
        if not durable:
            return None
        future = (self._loop or asyncio.get_running_loop()).create_future()
        future.set_result(None)
        return future

    def record(self, history: History) -> None:
        if isinstance(history, TriggerRecord):
            self._keep_trigger(history)
            return
        if not is_span(history):
            self._logs.append(history)
            return
        span_id, trace_id = history[0], history[1]
        spans = self._traces.get(trace_id)
        if spans is None:
            spans = self._traces[trace_id] = {}
            if len(self._traces) > self._trace_limit:
                self._traces.popitem(last=False)
        spans[span_id] = history

    def _keep_trigger(self, record: TriggerRecord) -> None:
        triggers, limits = self._triggers, self._trigger_limits
        replaced = triggers.pop(record.trace_id, None)
        if replaced is not None:
            self._trigger_bytes -= replaced.size
        triggers[record.trace_id] = record
        self._trigger_bytes += record.size
        while triggers and (len(triggers) > limits.count or self._trigger_bytes > limits.bytes):
            _name, oldest = triggers.popitem(last=False)
            self._trigger_bytes -= oldest.size

    def trigger(self, trace_id: str) -> str | None:
        record = self._triggers.get(trace_id)
        return None if record is None else record.data

    async def settled(self) -> None:
        """Every unit is committed as it arrives."""

    def claim_queued(self) -> list[EventQueued]:
        return sorted(self._queue.values(), key=lambda queued: queued.seq)

    def queue_depths(self) -> dict[tuple[str, str], int]:
        depths: dict[tuple[str, str], int] = {}
        for queued in self._queue.values():
            edge = (queued.topic, queued.step)
            depths[edge] = depths.get(edge, 0) + 1
        return depths

    def dead_letters(self) -> list[DeadLettered]:
        return sorted(self._dead.values(), key=lambda dead: dead.failed_at)

    def recent_spans(self, traces: int) -> list[str]:
        names = list(self._traces)[-traces:] if traces else []
        spans = [span for name in names for span in self._traces[name].values()]
        return [span[4] for span in sorted(spans, key=_start)]

    def trace_spans(self, trace_id: str) -> list[str]:
        spans = self._traces.get(trace_id, {}).values()
        return [span[4] for span in sorted(spans, key=_start)]

    def recent_logs(self, count: int) -> list[str]:
        records = list(self._logs)
        return [raw for *_, raw in records[-count:]] if count else []

    def query_logs(
        self,
        trace_id: str | None,
        step: str | None,
        level: int | None,
        text: str | None,
        limit: int,
        since: float | None = None,
        until: float | None = None,
    ) -> list[str]:
        needle = text.lower() if text else None
        found: list[str] = []
        for time_ms, rank, trace, step_name, msg, raw in reversed(self._logs):
            if until is not None and time_ms > until:
                continue
            if since is not None and time_ms < since:
                continue
            if trace_id and trace != trace_id:
                continue
            if step and step_name != step:
                continue
            if level and rank < level:
                continue
            if needle and needle not in msg.lower() and needle not in raw.lower():
                continue
            found.append(raw)
            if len(found) >= limit:
                break
        found.reverse()
        return found

    def count_logs(self, since: float | None, until: float | None) -> int:
        return sum(
            1
            for time_ms, *_ in self._logs
            if (since is None or time_ms >= since) and (until is None or time_ms <= until)
        )
