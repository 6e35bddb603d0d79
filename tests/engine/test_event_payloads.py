"""Every engine event has the payload `engine.events` types for it.

A real engine and server do everything that publishes an event (a request that logs, sets
state, writes a stream and emits; a handler that fails into the dead-letter queue; a retry; a
step file that breaks, loads and goes away; a stream file that goes away), and every event
the hub hands out is checked key by key against the `TypedDict` that `WireEvent` pairs with
its type. The workbench reads these payloads through those types, so a producer that drifts
from them fails here rather than in a pane.
"""

from __future__ import annotations

import collections.abc
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, Union, get_args, get_origin

import httpx
from engine_support import wait_until, write_files

from engine import Engine, Settings
from engine import events as ev
from engine.events import EngineEvent, WireEvent, wire_event
from engine.server import EngineServer

STEPS = {
    "steps/put_api_step.py": """
        config = {
            "type": "api",
            "name": "Put",
            "path": "/put",
            "method": "POST",
            "emits": ["doomed"],
            "flows": ["payloads"],
        }


        async def handler(req, context):
            context.logger.info("putting", {"extra": 1})
            await context.state.set("things", "a", {"n": 1})
            await context.streams.notes.set("g", "n1", {"text": "hi"})
            await context.emit({"topic": "doomed", "data": {"n": 1}})
            return {"status": 200, "body": {"traceId": context.trace_id}}
    """,
    "steps/doomed_step.py": """
        config = {
            "type": "event",
            "name": "Doomed",
            "subscribes": ["doomed"],
            "emits": [],
            "flows": ["payloads"],
            "infrastructure": {"queue": {"maxRetries": 0}},
        }


        async def handler(input, context):
            raise RuntimeError("no luck")
    """,
    "steps/notes_stream.py": """
        config = {
            "name": "notes",
            "schema": {"type": "object"},
            "baseConfig": {"storageType": "default"},
        }
    """,
}

OPEN_PAYLOADS = {"LogData", "StepLoadedData"}
"""Payloads that carry more keys than they name: a log record's own fields, a step's view."""


def payload_types() -> dict[str, type]:
    """Event type -> its payload TypedDict, read off the `WireEvent` union itself."""
    pairs = {}
    for member in get_args(WireEvent):
        hints = typing.get_type_hints(member)
        (event_type,) = get_args(hints["type"])
        pairs[event_type] = hints["data"]
    return pairs


def conforms(value: Any, annotation: Any) -> bool:
    """A JSON value against a type annotation, as far as JSON can tell."""
    origin = get_origin(annotation)
    if annotation is Any:
        return True
    if origin is NotRequired:
        return conforms(value, get_args(annotation)[0])
    if origin is Literal:
        return value in get_args(annotation)
    if origin in (Union, types.UnionType):
        return any(conforms(value, arm) for arm in get_args(annotation))
    if annotation is type(None):
        return value is None
    if typing.is_typeddict(annotation):
        return not problems(value, annotation)
    if origin is list:
        (item,) = get_args(annotation)
        return isinstance(value, list) and all(conforms(v, item) for v in value)
    if origin is collections.abc.Sequence:
        (item,) = get_args(annotation)
        return isinstance(value, list | tuple) and all(conforms(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def problems(data: Any, payload: Any) -> list[str]:
    if not isinstance(data, dict):
        return [f"not an object: {data!r}"]
    hints = typing.get_type_hints(payload)
    found = [f"missing {key!r}" for key in payload.__required_keys__ if key not in data]
    found += [
        f"{key!r} = {data[key]!r} is not {hints[key]}"
        for key in hints
        if key in data and not conforms(data[key], hints[key])
    ]
    if payload.__name__ not in OPEN_PAYLOADS:
        found += [f"unknown key {key!r}" for key in data if key not in hints]
    return found


async def test_every_published_event_has_its_typed_payload(tmp_path: Path) -> None:
    root = write_files(tmp_path / "project", STEPS)
    engine = Engine(root, Settings(), mode="dev")
    subscription = engine.events.subscribe(maxsize=100_000)
    server = EngineServer(
        engine, "127.0.0.1", 0, introspect=True, token=None, cors_origins=None, watch=False
    )
    seen: list[EngineEvent] = []
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
            assert (await client.post("/put", json={})).status_code == 200
            await engine.idle()

            async def dead_letters() -> list[dict[str, Any]]:
                items: list[dict[str, Any]] = (await client.get("/__motia/dlq")).json()["items"]
                return items

            dead = await wait_until(dead_letters, 10, what="a dead letter")
            retried = await client.post(f"/__motia/dlq/{dead[0]['id']}/retry")
            assert retried.status_code == 202, retried.text
            await engine.idle()
            assert (await client.delete("/__motia/queues/nothing-queued")).status_code == 200

        broken = root / "steps" / "later_step.py"
        broken.write_text("def handler(:\n", encoding="utf-8")
        await engine.load_file(broken)
        broken.write_text(
            'config = {"type": "event", "name": "Later", "subscribes": ["x"], "emits": []}\n\n'
            "async def handler(input, context):\n    pass\n",
            encoding="utf-8",
        )
        await engine.load_file(broken)
        broken.unlink()
        engine.remove_file(broken)
        stream_file = root / "steps" / "notes_stream.py"
        stream_file.unlink()
        engine.remove_file(stream_file)
        seen = subscription.drain()
    finally:
        await server.stop()

    expected = payload_types()
    # store.health needs a store that cannot write (test_fail_stop checks its payload), and
    # queue.warning a runaway (tests/hardening/test_runaway_queues.py checks its payload), and
    # dlq.full a full dead-letter queue (tests/hardening/test_dead_letter_bound.py)
    unseen = {ev.EVENTS_DROPPED, ev.STORE_HEALTH, ev.QUEUE_WARNING, ev.DLQ_FULL}
    assert {e.type for e in seen} == set(expected) - unseen
    removed = [e.data for e in seen if e.type == ev.STEP_REMOVED]
    assert any("stream" in data for data in removed), removed
    for event in seen:
        assert problems(event.data, expected[event.type]) == [], (event.type, event.data)
        wire = json.loads(json.dumps(event.to_json(), default=str))
        assert wire_event(wire) == wire


def test_the_dropped_marker_has_its_payload() -> None:
    marker = {"type": ev.EVENTS_DROPPED, "time": 0, "data": {"count": 3}}
    assert problems(marker["data"], payload_types()[ev.EVENTS_DROPPED]) == []
    assert wire_event(marker) == marker


def test_wire_event_refuses_what_is_not_an_engine_event() -> None:
    assert wire_event([1]) is None
    assert wire_event({"type": "span.start", "time": 1}) is None
    assert wire_event({"type": "span.start", "time": "soon", "data": {}}) is None
    assert wire_event({"type": "from.a.newer.engine", "time": 1, "data": {}}) is None


def test_every_event_type_is_paired_with_a_payload() -> None:
    assert set(payload_types()) == ev.EVENT_TYPES
