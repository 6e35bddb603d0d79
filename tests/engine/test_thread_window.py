"""The window a thread's reader (the tape) drains: a span's start is held as the running span
and encoded only if the reader takes it before the span ends; a span whose start and end came
with nothing between them is one entry."""

from __future__ import annotations

import gc
import time
from typing import Any

import orjson

from engine import events as ev
from engine.events import Entry, EventHub, ThreadSubscription
from engine.stores.memory import MemoryStore
from engine.tracing import Span, TraceStore


def started(hub: EventHub) -> tuple[Span, dict[str, Any]]:
    span = Span(None, None, "Hello", "api", 1, {"method": "GET", "path": "/hello"})
    before = span.to_json()
    hub.publish_start(span)
    return span, before


def end(hub: EventHub, span: Span) -> bytes:
    span.status, span.duration_ms, span.output = "ok", 1.5, {"status": 200, "body": "hi"}
    span.add_emit({"topic": "greeted", "data": {}})
    data = span.to_json()
    encoded = orjson.dumps(data)
    hub.publish(ev.SPAN_END, data, encoded)
    return encoded


def taken(reader: ThreadSubscription) -> list[Entry]:
    """What the reader takes, a log record held as its JSON alone given its time and type."""
    entries, log_times = reader.take()
    times = iter(log_times)
    return [(next(times), ev.LOG, entry) if type(entry) is bytes else entry
            for entry in entries]


def window(hub: EventHub, size: int = 100) -> ThreadSubscription:
    return hub.subscribe_thread(size)


def test_a_start_followed_by_its_end_is_one_entry_and_never_encoded() -> None:
    hub = EventHub()
    reader = window(hub)
    span, _before = started(hub)
    encoded = end(hub, span)
    assert len(reader._entries) == 1, "the end took the start's own entry"
    [(start_time, kind, (end_time, data))] = taken(reader)
    assert kind == ev.SPAN_RUN and data is encoded and start_time <= end_time
    assert not reader._running, "nothing is held once the span ended"


def test_an_end_after_the_reader_took_the_start_s_entry_but_not_its_span_is_one_entry() -> None:
    """The reader pops an entry, then its span: between the two the span may end, and the end
    then owns the start, and comes as one entry after the empty one the reader holds."""
    hub = EventHub()
    reader = window(hub)
    span, _before = started(hub)
    taken_entry = reader._entries.popleft()
    encoded = end(hub, span)
    assert taken_entry[1] == ev.SPAN_START and taken_entry[2] == []
    [(start_time, kind, (_end_time, data))] = taken(reader)
    assert kind == ev.SPAN_RUN and data is encoded and start_time == span.start


def test_a_start_the_reader_takes_first_is_the_span_as_it_started() -> None:
    hub = EventHub()
    reader = window(hub)
    span, before = started(hub)
    [(_time, kind, data)] = taken(reader)
    assert kind == ev.SPAN_START and data == before
    encoded = end(hub, span)
    assert [(kind, data) for _time, kind, data in taken(reader)] == [(ev.SPAN_END, encoded)]


def test_an_end_with_events_between_lets_the_span_go_and_the_start_reads_as_it_was() -> None:
    hub = EventHub()
    reader = window(hub)
    span, before = started(hub)
    hub.publish(ev.LOG, {"msg": "between"}, b'{"msg":"between"}')
    encoded = end(hub, span)
    assert [type(item) for item in reader._entries[0][2]] == [bytes], "the span is let go"
    assert reader._entries[1] == b'{"msg":"between"}', "a log record waits as its JSON alone"
    assert [(kind, data) for _time, kind, data in taken(reader)] == [
        (ev.SPAN_START, before), (ev.LOG, b'{"msg":"between"}'), (ev.SPAN_END, encoded)
    ]


def test_a_start_taken_while_its_span_ends_still_reads_as_it_started() -> None:
    """The reader's view of a start never shows what the run did after it: the span may be
    ending on the loop while the reader encodes it."""
    hub = EventHub()
    reader = window(hub)
    span, before = started(hub)
    held = reader._entries[0][2][0]
    assert held is span
    span.status, span.duration_ms, span.output = "ok", 2.0, {"status": 200}
    [(_time, _kind, data)] = taken(reader)
    assert data == before


def test_a_full_window_counts_what_it_refused_and_keeps_the_rest_in_order() -> None:
    hub = EventHub()
    reader = window(hub, size=1)
    first, before = started(hub)
    second, _ = started(hub)
    end(hub, first)
    assert reader.dropped == 2
    [(_time, kind, data)] = taken(reader)
    assert kind == ev.SPAN_START and data == before
    encoded = end(hub, second)
    assert [(kind, data) for _time, kind, data in taken(reader)] == [
        (ev.EVENTS_DROPPED, {"count": 2}), (ev.SPAN_END, encoded)
    ]
    assert not reader._running


def test_other_readers_get_the_start_as_before() -> None:
    hub = EventHub()
    reader = window(hub)
    plain = hub.subscribe(10)
    logs_only = hub.subscribe(10, {ev.LOG})
    span, before = started(hub)
    [event] = plain.drain()
    assert event.type == ev.SPAN_START and event.data == before
    assert logs_only.drain() == []
    end(hub, span)
    assert [kind for _time, kind, _data in taken(reader)] == [ev.SPAN_RUN]


async def test_a_span_run_is_timed_by_the_span_s_own_clock_readings() -> None:
    """A run's one entry is at the span's start and ends where its duration was measured: the
    window reads no clock of its own for either."""
    hub = EventHub()
    reader = window(hub)
    traces = TraceStore(hub, MemoryStore(100, 1_000), memory_window=100)
    span = Span(None, None, "Hello", "api", 1, {"method": "GET", "path": "/hello"})
    traces.start_span(span)
    time.sleep(0.002)
    traces.end_span(span, "ok", {"status": 200})
    [(start_time, kind, (end_time, data))] = taken(reader)
    assert kind == ev.SPAN_RUN and start_time == span.start
    assert span.duration_ms is not None
    assert round((end_time - span.start) * 1000) / 1000 == span.duration_ms
    assert orjson.loads(data)["durationMs"] == span.duration_ms
    await traces.stop()


def test_a_log_record_waits_as_its_json_alone() -> None:
    """Under a flood thousands of records wait for the tape's writer: each as its bytes, which
    the collector never walks, and its time in a deque of floats, not as an entry tuple."""
    hub = EventHub()
    reader = window(hub, size=10_000)
    records = [{"time": n, "level": "info", "msg": f"record {n}"} for n in range(2_000)]
    encoded = [orjson.dumps(record) for record in records]
    gc.disable()
    try:
        before = gc.get_count()[0]
        for record, data in zip(records, encoded, strict=True):
            hub.publish(ev.LOG, record, data)
        after = gc.get_count()[0]
    finally:
        gc.enable()
    assert after - before < 50, f"{after - before} objects left for the collector"
    assert [(kind, data) for _time, kind, data in taken(reader)] == [
        (ev.LOG, data) for data in encoded]
