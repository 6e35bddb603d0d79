"""The window a workbench drains as JSON (`WireSubscription`): a span's start waits as the
running span and is made JSON only when drained, a span that started and ended between two
drains is one entry, and what it drains is what a plain window gives, in the same order."""

from __future__ import annotations

import time
from typing import Any

import orjson

from engine import events as ev
from engine.events import EventHub, Subscription, WireSubscription
from engine.tracing import Span


class Counted:
    """A running span as `publish_start` takes it, counting the times a reader made it JSON
    (a wrapper: the compiled engine's `Span` takes no interpreted subclass)."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.span_id = span.span_id
        self.start = span.start
        self.made = 0

    def to_json(self) -> dict[str, Any]:
        self.made += 1
        return self.span.to_json()


def started(hub: EventHub, step: str = "Hello") -> tuple[Counted, dict[str, Any]]:
    span = Counted(Span(None, None, step, "api", 1, {"method": "GET", "path": "/hello"}))
    before = span.span.to_json()
    hub.publish_start(span)
    return span, before


def end(hub: EventHub, counted: Counted, status: str = "ok") -> dict[str, Any]:
    now = time.time() * 1000
    span = counted.span
    span.status, span.duration_ms, span.output = status, 1.5, {"status": 200, "body": "hi"}
    span.add_emit({"topic": "greeted", "data": {}})
    data = span.to_json()
    hub.publish_end(now, span.span_id, data, orjson.dumps(data))
    return data


def windows(hub: EventHub, size: int = 100) -> tuple[WireSubscription, Subscription]:
    return hub.subscribe_wire(size), hub.subscribe(size)


def plain_json(plain: Subscription) -> list[Any]:
    return [event.to_json() for event in plain.drain()]


def test_a_span_started_and_ended_between_two_drains_is_one_entry() -> None:
    hub = EventHub()
    wire, plain = windows(hub)
    span, before = started(hub)
    ended = end(hub, span)
    assert len(wire._buffer) == 1, "the end took the start's own entry"
    drained = wire.drain_wire()
    assert drained == plain_json(plain)
    assert [(e["type"], e["data"]) for e in drained] == [
        (ev.SPAN_START, before), (ev.SPAN_END, ended)
    ]
    assert not wire._running, "nothing is held once the span ended"


def test_a_held_start_is_made_json_only_when_drained() -> None:
    hub = EventHub()
    wire = hub.subscribe_wire(100)
    span, before = started(hub)
    assert span.made == 0, "the start waits as the span itself"
    assert wire.drain_wire() == [{"type": ev.SPAN_START, "time": span.start, "data": before}]
    assert span.made == 1

    other, _before = started(hub)
    end(hub, other)
    wire.drain_wire()
    assert other.made == 0, "a start drained after its end is read off the end's data"


def test_a_start_drained_while_its_span_runs_reads_as_it_started_and_the_end_comes_alone() -> None:
    hub = EventHub()
    wire, plain = windows(hub)
    span, before = started(hub)
    span.span.add_log({"msg": "working"})
    span.span.topic = "greeted"
    [start] = wire.drain_wire()
    assert start["data"] == before
    ended = end(hub, span)
    assert wire.drain_wire() == [{"type": ev.SPAN_END, "time": plain_json(plain)[1]["time"],
                                  "data": ended}]


def test_events_between_a_start_and_its_end_keep_the_plain_window_s_order() -> None:
    hub = EventHub()
    wire, plain = windows(hub)
    first, _ = started(hub, "First")
    hub.publish(ev.LOG, {"msg": "between", "level": "info"})
    second, _ = started(hub, "Second")
    end(hub, first)
    end(hub, second, "error")
    third, _ = started(hub, "Third")
    end(hub, third)
    assert len(wire._buffer) == 6, "the third ended with nothing between: one entry"
    expected = plain_json(plain)
    assert [e["type"] for e in expected] == [
        ev.SPAN_START, ev.LOG, ev.SPAN_START, ev.SPAN_END, ev.SPAN_END, ev.SPAN_START,
        ev.SPAN_END,
    ]
    drained: list[Any] = []
    while batch := wire.drain_wire(2):  # a limit that splits a run's entry in two
        assert len(batch) <= 2
        drained += batch
    assert drained == expected


def test_a_drain_without_starts_leaves_them_out_and_counts_only_what_it_gives() -> None:
    hub = EventHub()
    wire, plain = windows(hub)
    first, _ = started(hub, "First")
    end(hub, first)
    hub.publish(ev.LOG, {"msg": "after", "level": "info"})
    running, _ = started(hub, "Running")
    made = running.made  # by the plain window
    expected = [e for e in plain_json(plain) if e["type"] != ev.SPAN_START]
    assert wire.drain_wire(2, starts=False) == expected
    assert wire.drain_wire(starts=False) == []
    assert not wire._buffer and not wire._running, "the running span's start was taken too"
    assert running.made == made, "no start made for the wire window"
    ended = end(hub, running)
    assert [e["data"] for e in wire.drain_wire()] == [ended]


def test_a_full_window_counts_every_event_it_lost() -> None:
    hub = EventHub()
    wire = hub.subscribe_wire(2)
    first, _ = started(hub, "First")
    end(hub, first)  # one entry, two events
    second, _ = started(hub, "Second")
    hub.publish(ev.LOG, {"msg": "third entry", "level": "info"})
    assert wire.take_dropped() == 2
    third, _ = started(hub, "Third")  # drops the second's start
    assert wire.take_dropped() == 1 and second.span_id not in wire._running
    ended = end(hub, second)  # drops the log record
    assert wire.take_dropped() == 1
    assert [(e["type"], e["data"]) for e in wire.drain_wire()] == [
        (ev.SPAN_START, third.span.to_json()), (ev.SPAN_END, ended)
    ]


async def test_get_and_drain_give_the_events_a_plain_window_gives() -> None:
    hub = EventHub()
    wire, plain = windows(hub)
    span, _ = started(hub)
    end(hub, span)
    first = await wire.get()
    assert first.type == ev.SPAN_START
    rest = wire.drain()
    assert [e.to_json() for e in [first, *rest]] == plain_json(plain)
