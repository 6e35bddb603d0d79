"""The engine event stream: everything the engine does, as typed events anyone can watch.

The TUI, the headless printer, the recorder and the introspection websocket are all views of
this one stream. Publishing never waits on a reader: each subscriber owns a bounded queue, and
when a slow reader lets it fill, the oldest events are dropped and counted so the reader can
resynchronise from the stores instead of stalling the engine.
"""


import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Final, Protocol, cast

import orjson

# Every event name and payload type, offered here too: readers import them with the hub.
# isort: off
from engine.event_types import (
    DLQ_ADDED as DLQ_ADDED,
    DLQ_FULL as DLQ_FULL,
    DLQ_REMOVED as DLQ_REMOVED,
    EVENT_TYPES as EVENT_TYPES,
    EVENTS_DROPPED as EVENTS_DROPPED,
    LOG as LOG,
    QUEUE_PURGED as QUEUE_PURGED,
    QUEUE_WARNING as QUEUE_WARNING,
    SERVER_STARTED as SERVER_STARTED,
    SPAN_END as SPAN_END,
    SPAN_START as SPAN_START,
    STATE_CHANGE as STATE_CHANGE,
    STEP_CHANGES as STEP_CHANGES,
    STEP_FAILED as STEP_FAILED,
    STEP_LOADED as STEP_LOADED,
    STEP_REMOVED as STEP_REMOVED,
    STORE_HEALTH as STORE_HEALTH,
    STREAM_CHANGE as STREAM_CHANGE,
    DeadLetterAddedEvent as DeadLetterAddedEvent,
    DeadLetterData as DeadLetterData,
    DeadLetterRemovedData as DeadLetterRemovedData,
    DeadLetterRemovedEvent as DeadLetterRemovedEvent,
    DeadLettersFullData as DeadLettersFullData,
    DeadLettersFullEvent as DeadLettersFullEvent,
    EventsDroppedData as EventsDroppedData,
    EventsDroppedEvent as EventsDroppedEvent,
    EventType as EventType,
    LogData as LogData,
    LogEvent as LogEvent,
    QueuePurgedData as QueuePurgedData,
    QueuePurgedEvent as QueuePurgedEvent,
    QueueWarningData as QueueWarningData,
    QueueWarningEvent as QueueWarningEvent,
    ServerStartedData as ServerStartedData,
    ServerStartedEvent as ServerStartedEvent,
    SpanData as SpanData,
    SpanEndEvent as SpanEndEvent,
    SpanStartEvent as SpanStartEvent,
    StateChangeData as StateChangeData,
    StateChangeEvent as StateChangeEvent,
    StepFailedData as StepFailedData,
    StepFailedEvent as StepFailedEvent,
    StepLoadedData as StepLoadedData,
    StepLoadedEvent as StepLoadedEvent,
    StepRemovedData as StepRemovedData,
    StepRemovedEvent as StepRemovedEvent,
    StoreHealthData as StoreHealthData,
    StoreHealthEvent as StoreHealthEvent,
    StreamChangeData as StreamChangeData,
    StreamChangeEvent as StreamChangeEvent,
    StreamInfo as StreamInfo,
    WireEvent as WireEvent,
    wire_event as wire_event,
)
# isort: on


class EngineEvent:
    """One thing that happened; `data` is plain JSON-ready data. Readers never change an event.

    `encoded` is `data` as JSON when the publisher encoded it anyway (a span it stores), so a
    reader that writes JSON (the tape) need not encode it again. `origin` names the worker of
    a cluster that published it, when that is another process (see `EventHub.relay`). A
    plain slotted class rather than a frozen dataclass: one is built per event, and a frozen
    one costs twice as much.
    """

    __slots__ = ("data", "encoded", "origin", "time", "type")

    def __init__(
        self,
        type_: EventType,
        time_: float,
        data: dict[str, Any],
        encoded: bytes | None = None,
        origin: str | None = None,
    ) -> None:
        self.type = type_
        self.time = time_
        self.data = data
        self.encoded = encoded
        self.origin = origin

    def __repr__(self) -> str:
        return f"EngineEvent({self.type!r}, {self.time!r}, {self.data!r})"

    def to_json(self) -> WireEvent:
        """The event as readers see it; `data` has the shape `WireEvent` gives its type."""
        return cast(WireEvent, {"type": self.type, "time": self.time, "data": self.data})


class Subscription:
    """A reader's bounded window on the stream.

    `dropped` counts events lost to overflow since the last `take_dropped()`, so a view can
    reload from the stores rather than show a silently incomplete picture. A `cluster`
    reader (a workbench, the events socket) also gets the events other workers of a cluster
    relayed here; every other reader (the log printer, the tape) sees this process's alone.
    """

    def __init__(
        self,
        hub: "EventHub",
        maxsize: int,
        types: frozenset[str] | None,
        cluster: bool = False,
    ) -> None:
        self._hub = hub
        self._buffer: deque[EngineEvent] = deque()
        self._maxsize = maxsize
        self._types = types
        self.cluster = cluster
        self._waiter: asyncio.Future[None] | None = None
        self.dropped = 0
        self.closed = False

    def _offer(self, event: EngineEvent) -> None:
        if self._types is not None and event.type not in self._types:
            return
        if event.origin is not None and not self.cluster:
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
        """Return once at least one event is buffered, some were lost (`take_dropped`), or
        the subscription is closed."""
        while not self._buffer and not self.dropped and not self.closed:
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
        self._wake()

    def _wake(self) -> None:
        """Ends a reader's `wait` (`_offer` does the same inline, once per event)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Run:
    """A span of this process as a `WireSubscription` holds it: its start as the running
    span, then its end's data."""

    __slots__ = ("end", "end_time", "merged", "span", "started", "time")

    def __init__(self, time_: float, span: "Started | None") -> None:
        self.time = time_
        self.span = span
        """The running span, while its start waits in the window."""
        self.started = span is None
        """Its start has left the window (drained, dropped, or never in it)."""
        self.merged = False
        """Its end came with nothing between it and its start: one entry holds both."""
        self.end_time = 0.0
        self.end: dict[str, Any] | None = None


class WireSubscription(Subscription):
    """A window drained whole as JSON-shaped events (`drain_wire`: a workbench's feed).

    A log record of this process waits as itself, its time beside it, rather than inside an
    `EngineEvent`: a record of plain values is a dict the collector does not track, and an
    event holding one is tracked. Between two drains a busy server publishes tens of
    thousands of records, and as events they were most of what each collection walked.

    A span of this process waits as one `_Run`, as the tape's window holds it: its start is
    the running span itself, made JSON only when drained (as it started, `running_view`:
    from the span while it runs, else from its end's data), and not at all by a drain that
    leaves starts out. Its end, once it comes, is held in the same `_Run`: in the start's
    entry when nothing came between them (one entry for the run), else in a second entry
    where a plain window has the end, so the order is the same. On the request's path, then,
    a span is neither made JSON nor an event for this window, and between two drains a run
    holds one object more than its end's data instead of two events and two spans' JSON.
    """

    def __init__(
        self, hub: "EventHub", maxsize: int, types: frozenset[str] | None, cluster: bool
    ) -> None:
        super().__init__(hub, maxsize, types, cluster)
        self._buffer: deque[Any] = deque()
        """`EngineEvent`s, `_Run`s, and log records (dicts) whose times are in `_log_times`."""
        self._log_times: deque[float] = deque()
        self._running: dict[str, _Run] = {}
        """The runs whose start is in the window and whose span has not ended, by span id."""

    def _make_room(self) -> None:
        """Drop the oldest entry (the window is full), counting the events it held."""
        item = self._buffer.popleft()
        kind = type(item)
        if kind is dict:
            self._log_times.popleft()
        elif kind is _Run and not item.started:
            item.started = True
            if item.span is not None:
                del self._running[item.span.span_id]
                item.span = None
            if item.merged:
                self.dropped += 1  # its end, in the same entry
        self.dropped += 1

    def _offer(self, event: EngineEvent) -> None:
        if self._types is not None and event.type not in self._types:
            return
        origin = event.origin
        if origin is not None and not self.cluster:
            return
        if origin is None and event.type == SPAN_END:
            self.offer_end(event.time, event.data)
            return
        if len(self._buffer) >= self._maxsize:
            self._make_room()
        if origin is None and event.type == LOG:
            self._buffer.append(event.data)
            self._log_times.append(event.time)
        else:
            self._buffer.append(event)
        self._wake()

    def offer_start(self, span: "Started") -> None:
        """A span's start, held as the span (see the class), at the span's own start time."""
        if len(self._buffer) >= self._maxsize:
            self._make_room()
        run = _Run(span.start, span)
        self._running[span.span_id] = run
        self._buffer.append(run)
        self._wake()

    def offer_end(self, time_: float, data: dict[str, Any]) -> None:
        """A span's end at `time_`, `data` its JSON-ready data."""
        run = self._running.pop(data["spanId"], None)
        if run is None:
            run = _Run(time_, None)
        else:
            run.span = None
            if self._buffer[-1] is run:
                run.merged = True
        run.end_time, run.end = time_, data
        if not run.merged:
            if len(self._buffer) >= self._maxsize:
                self._make_room()
            self._buffer.append(run)
            self._wake()

    def drain_wire(self, limit: int | None = None, starts: bool = True) -> list[WireEvent]:
        """The oldest `limit` events buffered (all without one), as `EngineEvent.to_json()`
        gives each; without `starts`, this process's `span.start`s are left out (taken, not
        counted in `limit`): for a reader that would skip them, who need not have them made."""
        buffer, times = self._buffer, self._log_times
        left = len(buffer) * 2 if limit is None else limit
        events: list[WireEvent] = []
        while left > 0 and buffer:
            item = buffer.popleft()
            kind = type(item)
            if kind is dict:
                events.append({"type": LOG, "time": times.popleft(), "data": item})
            elif kind is not _Run:
                events.append(item.to_json())
            elif item.started:
                events.append({"type": SPAN_END, "time": item.end_time, "data": item.end})
            else:
                item.started = True
                span = item.span
                if span is not None:  # still running
                    del self._running[span.span_id]
                    item.span = None
                if item.merged:
                    buffer.appendleft(item)  # its end, next (or first in the next drain)
                if not starts:
                    continue
                data = running_view(span.to_json() if span is not None else dict(item.end))
                events.append({"type": SPAN_START, "time": item.time,
                               "data": cast(SpanData, data)})
            left -= 1
        return events

    def drain(self) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        while self._buffer:
            events.append(self._next())
        return events

    def _next(self) -> EngineEvent:
        """The oldest event buffered, as itself when it waits as one (a run's entry gives its
        start, then its end)."""
        buffer = self._buffer
        if type(buffer[0]) is EngineEvent:
            event: EngineEvent = buffer.popleft()
            return event
        [wire] = self.drain_wire(1)
        return EngineEvent(wire["type"], wire["time"], cast(dict[str, Any], wire["data"]))

    async def get(self) -> EngineEvent:
        await self.wait()
        if not self._buffer:
            raise StopAsyncIteration
        return self._next()


SPAN_RUN: Final = "span.run"
"""Not an engine event: a `ThreadSubscription`'s entry (and the tape's line) for a span whose
`span.start` and `span.end` came with no event between them and the reader took neither
apart; its data is `(end time, the ended span's JSON)`, and the start's event is the span as
it ran (`running_view`)."""

Entry = tuple[float, str, Any]
"""An event as a `ThreadSubscription` holds it: time, type, and its data as JSON where the
publisher encoded it, else the data itself (for `SPAN_RUN`, the end's time and JSON)."""

Taken = tuple[list[Entry | bytes], list[float]]
"""What a `ThreadSubscription`'s reader takes: the entries in order, where a log record the
publisher encoded is its JSON alone, and those records' times in the same order."""


class Started(Protocol):
    """A running span as `EventHub.publish_start` takes it (`engine.tracing.Span`)."""

    span_id: str
    start: float
    """When it started (ms since the epoch): the time of its `span.start`."""

    def to_json(self) -> dict[str, Any]: ...


def running_view(data: dict[str, Any]) -> dict[str, Any]:
    """A span's JSON as its `span.start` said it, from its JSON at any later moment: the
    fields a run changes as it goes back as they start (a span starts with no emits, state
    operations or logs, and an event step's topic is set just after its start is published,
    `engine.execution`)."""
    data.update(status="running", durationMs=None, emits=[], stateOps=[], logs=[])
    data.pop("output", None)
    data.pop("error", None)
    data.pop("topic", None)
    return data


class ThreadSubscription(Subscription):
    """A window another thread drains (the tape's writer), so its reader never waits on the
    loop and the loop pays one append per event.

    Only the loop appends and only the reader pops, each atomic on a deque. When the window is
    full the newest events are refused, counted, and marked in order by one `events.dropped`
    event as soon as there is room again: a reader of this stream always knows where the hole
    is and how big it was.

    An event the publisher encoded is held as its bytes alone: its data (a span, its input,
    its output) is then freed on the loop at once, instead of surviving until the reader takes
    it. Thousands of requests' dicts alive at a time would be what the loop's young
    collections walk, and each request's would survive one.

    A span's start is held as the running span itself, in a one-item list that whoever pops
    it first owns (each pop is atomic): the reader, which then encodes the span as it started
    (`running_view`), or the span's end, which then takes the start's place as one `SPAN_RUN`
    entry when nothing came between them (the start's own entry replaced, so the reader takes
    one entry for the run, not two). Most runs end before the reader wakes, so their
    start is never encoded at all. An end with events between it and its start puts its JSON
    in the list instead of the span (one atomic store), which the reader reads the start off:
    the span (alive anyway while it runs) is let go at its end either way.

    A log record the publisher encoded waits as its JSON alone, its time in a deque beside the
    entries (appended first, so a reader that finds the record finds its time): bytes the
    collector never walks, where an entry tuple a record, thousands waiting under a flood,
    was a third of what each young collection walked.
    """

    def __init__(self, hub: "EventHub", maxsize: int) -> None:
        super().__init__(hub, maxsize, None)
        self._entries: deque[Entry | bytes] = deque()
        self._log_times: deque[float] = deque()
        """The times of the log records in `_entries` (as JSON alone), in order."""
        self._running: dict[str, list[Started | bytes]] = {}
        """Each running span's start, by span id, until the span ends."""
        self._tail: list[Started | bytes] | None = None
        """The start last appended, while nothing has been appended after it."""
        self._tail_time = 0.0

    def _room(self, time_: float) -> bool:
        """Whether the window takes one more event (else it is counted as dropped); the first
        after a refusal is preceded by its `events.dropped` marker."""
        entries = self._entries
        if len(entries) >= self._maxsize:
            self.dropped += 1
            return False
        if self.dropped:
            entries.append((time_, EVENTS_DROPPED, {"count": self.dropped}))
            self.dropped = 0
            self._tail = None
        return True

    def _offer(self, event: EngineEvent) -> None:
        if event.origin is not None:
            return
        if event.type == SPAN_END:
            self.offer_end(event.time, event.data["spanId"], event.data if event.encoded is None
                           else event.encoded)
            return
        if (len(self._entries) >= self._maxsize or self.dropped) and not self._room(event.time):
            return
        self._tail = None
        encoded = event.encoded
        if encoded is None:
            self._entries.append((event.time, event.type, event.data))
        elif event.type == LOG:
            self._log_times.append(event.time)
            self._entries.append(encoded)
        else:
            self._entries.append((event.time, event.type, encoded))

    def offer_start(self, span: Started) -> None:
        """A span's start, held as the span (see the class), at the span's own start time."""
        time_ = span.start
        if (len(self._entries) >= self._maxsize or self.dropped) and not self._room(time_):
            return
        start: list[Started | bytes] = [span]
        self._running[span.span_id] = start
        self._tail = start
        self._tail_time = time_
        self._entries.append((time_, SPAN_START, start))

    def offer_end(self, time_: float, span_id: str, held: bytes | dict[str, Any]) -> None:
        """A span's end: `held` is its JSON, or its data where the publisher did not encode it
        (only JSON takes the start's place, see the class)."""
        start = self._running.pop(span_id, None)
        entries = self._entries
        if (len(entries) >= self._maxsize or self.dropped) and not self._room(time_):
            return
        if start is not None and type(held) is bytes:
            if start is not self._tail:
                # One atomic store: the span is let go, and the reader reads its start off the
                # JSON (or, had it popped the span meanwhile, nobody reads the list again).
                start[:] = (held,)
            else:
                try:
                    start.pop()
                except IndexError:
                    pass  # the reader took the start meanwhile
                else:
                    self._tail = None
                    run = (self._tail_time, SPAN_RUN, (time_, held))
                    try:
                        # The start was the last entry appended: it is the last one still,
                        # or the reader took every entry (and will find the list empty).
                        entries[-1] = run
                    except IndexError:
                        entries.append(run)
                    return
        self._tail = None
        entries.append((time_, SPAN_END, held))

    def pending(self) -> int:
        """Events buffered for the reader, from any thread."""
        return len(self._entries)

    def take(self) -> Taken:
        """Everything buffered, from any thread, losing nothing appended meanwhile; a start
        taken before its span's end as the span's JSON then (`running_view`)."""
        entries, log_times = self._entries, self._log_times
        taken: list[Entry | bytes] = []
        times: list[float] = []
        for _ in range(len(entries)):
            entry = entries.popleft()
            if type(entry) is bytes:
                times.append(log_times.popleft())
                taken.append(entry)
                continue
            assert type(entry) is tuple
            if entry[1] == SPAN_START and type(entry[2]) is list:
                try:
                    held = entry[2].pop()
                except IndexError:
                    continue  # its end holds it, as one SPAN_RUN entry
                data = orjson.loads(held) if type(held) is bytes else held.to_json()
                entry = (entry[0], SPAN_START, running_view(data))
            taken.append(entry)
        return taken, times

    def take_dropped(self) -> int:
        """Events refused and not yet marked in the buffer; read it once the loop stopped
        publishing (the marker is otherwise written before the next event)."""
        dropped, self.dropped = self.dropped, 0
        return dropped


class EventHub:
    """Fans engine events out to subscribers without ever blocking the publisher."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self.wanted: frozenset[str] | None = frozenset()
        """The event types someone listens for (None: every type), for `wants`; a publisher
        once a run reads it without the call."""
        self.wants_bytes = False
        """A reader on another thread (the tape) takes events: a publisher that passes the
        data encoded spares it holding the dicts (see `ThreadSubscription`)."""

    def subscribe(
        self,
        maxsize: int = 10_000,
        types: frozenset[str] | set[str] | None = None,
        *,
        cluster: bool = False,
    ) -> Subscription:
        """`cluster`: the reader wants the other workers' events too (`relay`)."""
        sub = Subscription(
            self, maxsize, frozenset(types) if types is not None else None, cluster
        )
        self._subscribers.append(sub)
        self._recount()
        return sub

    @property
    def cluster_readers(self) -> int:
        """How many readers want the other workers' events: while none does, a cluster's
        workers need not send this one theirs."""
        return sum(1 for sub in self._subscribers if sub.cluster)

    def relay(self, type_: EventType, time_: float, data: dict[str, Any], origin: str) -> None:
        """An event another worker of the cluster published, for the `cluster` readers."""
        event = EngineEvent(type_, time_, data, None, origin)
        for sub in self._subscribers:
            if sub.cluster:
                sub._offer(event)

    def lost(self, count: int) -> None:
        """Another worker's events that never reached this one: the `cluster` readers
        count them as dropped, and reload from the stores."""
        for sub in self._subscribers:
            if sub.cluster:
                sub.dropped += count
                waiter = sub._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    def subscribe_wire(self, maxsize: int = 10_000, *, cluster: bool = False) -> WireSubscription:
        """Every event, drained whole as JSON-shaped events (see `WireSubscription`)."""
        sub = WireSubscription(self, maxsize, None, cluster)
        self._subscribers.append(sub)
        self._recount()
        return sub

    def subscribe_thread(self, maxsize: int) -> ThreadSubscription:
        """Every event, for a reader on another thread (see `ThreadSubscription`)."""
        sub = ThreadSubscription(self, maxsize)
        self._subscribers.append(sub)
        self._recount()
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
            self._recount()

    def _recount(self) -> None:
        self.wants_bytes = any(type(sub) is ThreadSubscription for sub in self._subscribers)
        wanted: set[str] = set()
        for sub in self._subscribers:
            if sub._types is None:
                self.wanted = None
                return
            wanted |= sub._types
        self.wanted = frozenset(wanted)

    def wants(self, type_: EventType) -> bool:
        """Whether anyone listens for this type, so publishers can skip building the data."""
        return self.wanted is None or type_ in self.wanted

    def publish_start(self, span: Started) -> None:
        """A span's `span.start`, at its start time: a thread's reader and a workbench's
        window are handed the running span (see `ThreadSubscription`, `WireSubscription`),
        every other reader that wants it its JSON."""
        event: EngineEvent | None = None
        for sub in self._subscribers:
            kind = type(sub)
            if kind is ThreadSubscription or kind is WireSubscription:
                cast(ThreadSubscription | WireSubscription, sub).offer_start(span)
            elif sub._types is None or SPAN_START in sub._types:
                if event is None:
                    event = EngineEvent(SPAN_START, span.start, span.to_json())
                sub._offer(event)

    def publish_end(
        self, time_: float, span_id: str, data: dict[str, Any], encoded: bytes
    ) -> None:
        """A span's `span.end` at `time_`, the clock reading its duration was taken from: a
        thread's reader takes its JSON (or its start's place, see `ThreadSubscription`) and a
        workbench's window its data (`WireSubscription`) without an event made for them,
        every other reader that wants it the event."""
        event: EngineEvent | None = None
        for sub in self._subscribers:
            kind = type(sub)
            if kind is ThreadSubscription:
                cast(ThreadSubscription, sub).offer_end(time_, span_id, encoded)
            elif kind is WireSubscription:
                cast(WireSubscription, sub).offer_end(time_, data)
            elif sub._types is None or SPAN_END in sub._types:
                if event is None:
                    event = EngineEvent(SPAN_END, time_, data, encoded)
                sub._offer(event)

    def publish(
        self, type_: EventType, data: dict[str, Any], encoded: bytes | None = None
    ) -> None:
        """`encoded`: `data` as JSON, when the caller has it (see `EngineEvent`)."""
        if not self.wants(type_):
            return
        event = EngineEvent(type_, time.time() * 1000, data, encoded)
        for sub in self._subscribers:
            sub._offer(event)
