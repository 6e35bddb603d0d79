"""The context's calls: state, streams and emit, each traced on the span of the run that made it.

With `failed_attempts = "discard"` (the default) a run's writes are effects it keeps until it
ends: its reads see them through the run's overlay, nobody else does, and they are announced
once the run's unit is in the store. With `"keep"` (Motia 0.17's way) each effect goes to the
store, and is announced, when it is called, whatever the run does afterwards.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from engine import events as ev
from engine import jsonio
from engine.bus import Bus, Delivery
from engine.effects import (
    Effect,
    StateClear,
    StateDelete,
    StateSet,
    StreamItemDelete,
    StreamItemSet,
)
from engine.events import EventHub
from engine.logs import LogStore, RecordSink, StepLogger
from engine.registry import StepRegistry
from engine.runs import Run
from engine.settings import Settings
from engine.span_bounds import cut_body
from engine.state import StateError, encode
from engine.stores import Persistence
from engine.streams import CREATE, DELETE, EVENT, UPDATE, StreamDefinition, StreamStore, call_custom
from engine.tracing import op_value


def _traced(raw: Any, limit: int) -> Any:
    """A stored value as a span keeps it, or None: nothing stored, or a networked adapter's
    awaitable, whose value the span then does without."""
    return op_value(jsonio.loads(raw), raw, limit) if isinstance(raw, str) else None


def _observed(done: asyncio.Future[None] | None) -> asyncio.Future[None] | None:
    """A commit future that only its last holder may await: a failure it ends in is already
    told by the store's health, so the others need not hear it."""
    if done is not None:
        done.add_done_callback(_retrieve)
    return done


def _retrieve(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()


class RunOperations:
    """Carries out the context's calls (`engine.context.RunOps`) for a run."""

    def __init__(
        self,
        settings: Settings,
        hub: EventHub,
        store: Persistence,
        logs: LogStore,
        streams: StreamStore,
        bus: Bus,
        registry: StepRegistry,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.store = store
        self.stream_store = streams
        self.bus = bus
        self.stream_definitions = registry.streams
        self.keep = settings.failed_attempts == "keep"
        self.record_sink = RecordSink(logs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: int | None = None
        self._answered_none: asyncio.Future[None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called on the loop's thread, as the engine starts."""
        self._loop = loop
        self.loop_thread = threading.get_ident()
        self.record_sink.loop = loop
        self._answered_none = loop.create_future()
        self._answered_none.set_result(None)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop runs happen on, bound when the engine starts."""
        if self._loop is None:
            raise RuntimeError("the engine has not started: no loop to run steps on")
        return self._loop

    @property
    def answered_none(self) -> asyncio.Future[None]:
        """What a context call that answers nothing hands back (`engine.context.RunOps`)."""
        if self._answered_none is None:
            raise RuntimeError("the engine has not started: no loop to run steps on")
        return self._answered_none

    def stream_names(self) -> dict[str, StreamDefinition]:
        return self.stream_definitions

    def step_logger(self, run: Run) -> StepLogger:
        """Records bound to a run's trace, span, step and flows."""
        return StepLogger(
            lambda record: self.record_sink(record, run.span),
            run.trace_id,
            run.step_name,
            run.flows,
            run.span.span_id,
        )

    def _effect(self, run: Run, effect: Effect) -> None:
        """A run's effect: kept in the run, or (`keep`) in the store at once."""
        if self.keep:
            run.kept = _observed(self.store.commit([effect], True, run.epoch))
        else:
            run.effects.append(effect)

    def emit_from_run(self, run: Run, event: Any) -> None:
        if not isinstance(event, dict) or not isinstance(event.get("topic"), str):
            raise TypeError('emit takes {"topic": str, "data": ...}')
        topic = event["topic"]
        data = event.get("data")
        if run.declared_emits is not None and topic not in run.declared_emits:
            self.step_logger(run).warn(
                f"{run.step_name} emitted {topic!r}, which its config does not declare in 'emits'"
            )
        try:
            data_json = encode(data)
        except StateError as exc:
            raise TypeError(f"emitted data for {topic!r} must be JSON: {exc}") from None
        span = run.span
        deliveries = self.bus.make_deliveries(topic, data_json, span.trace_id, span.span_id)
        if not deliveries:
            self.step_logger(run).warn(f"no step subscribes to {topic!r}; the event is dropped")
        self.queue_deliveries(run, deliveries)
        limit = self.settings.span_body_bytes
        shown = data if len(data_json) <= limit else cut_body(data_json.encode(), limit)
        span.add_emit({"topic": topic, "data": shown, "subscribers": len(deliveries)})

    def queue_deliveries(self, run: Run, deliveries: list[Delivery]) -> None:
        if self.keep:
            if deliveries:
                self.bus.check_room(deliveries)
                run.kept = _observed(
                    self.store.commit(list(deliveries), True, run.epoch)
                )
                self.bus.dispatch_all(deliveries)
            return
        run.effects.extend(deliveries)
        if run.emitted:
            run.emitted.extend(deliveries)
        else:
            run.emitted = list(deliveries)

    def _state_changed(
        self,
        run: Run,
        op: str,
        group: str,
        key: str | None,
        value: Any,
        previous: Any = None,
    ) -> None:
        """Announce a change (once the run succeeds) and trace it with the value it replaced."""
        change: dict[str, Any] = {
            "op": op,
            "group": group,
            "key": key,
            "traceId": run.trace_id,
            "step": run.step_name,
        }
        if op == "set":
            change["value"] = value
        traced = {k: v for k, v in change.items() if k not in ("traceId", "step")}
        if previous is not None:
            traced["previous"] = previous
        run.span.add_op(traced)
        if self.keep:
            self.hub.publish(ev.STATE_CHANGE, change)
        else:
            run.notice("state", change)

    def _state_raw(self, run: Run, group: str, key: str) -> str | None:
        if run.state is not None:
            found, raw = run.state.lookup(group, key)
            if found:
                return raw
        stored: str | None = self.store.state_get(group, key)
        return stored

    def state_get(self, run: Run, group: str, key: str) -> Any:
        raw = self._state_raw(run, group, key)
        value = None if raw is None else jsonio.loads(raw)
        op = {"op": "get", "group": group, "key": key, "found": value is not None}
        if raw is not None:
            op["value"] = op_value(value, raw, self.settings.span_body_bytes)
        run.span.add_op(op)
        if self.settings.state_get == "wrapped":
            if value is None:
                return {"data": None}
            if isinstance(value, dict) and "data" not in value:
                return {"data": value}
        return value

    def state_set(self, run: Run, group: str, key: str, value: Any) -> Any:
        group, key = str(group), str(key)
        raw = encode(value)
        previous = self._state_raw(run, group, key)
        self._effect(run, StateSet(group, key, raw))
        if not self.keep:
            run.state_overlay().put(group, key, raw)
        stored = jsonio.loads(raw)
        replaced = _traced(previous, self.settings.span_body_bytes)
        self._state_changed(run, "set", group, key, stored, replaced)
        return stored

    def state_delete(self, run: Run, group: str, key: str) -> Any:
        group, key = str(group), str(key)
        raw = self._state_raw(run, group, key)
        if raw is None:
            return None
        self._effect(run, StateDelete(group, key))
        if not self.keep:
            run.state_overlay().put(group, key, None)
        replaced = _traced(raw, self.settings.span_body_bytes)
        self._state_changed(run, "delete", group, key, None, replaced)
        return jsonio.loads(raw)

    def state_get_group(self, run: Run, group: str) -> list[Any]:
        items = self.store.state_group(group)
        if run.state is not None:
            items = run.state.merge(group, items)
        values = {key: jsonio.loads(raw) for key, raw in items.items()}
        limit = self.settings.span_body_bytes
        run.span.add_op(
            {
                "op": "getGroup",
                "group": group,
                "items": {key: op_value(values[key], raw, limit) for key, raw in items.items()},
            }
        )
        return list(values.values())

    def state_clear(self, run: Run, group: str) -> None:
        group = str(group)
        items = self.store.state_group(group)
        if run.state is not None and isinstance(items, dict):
            items = run.state.merge(group, items)
        self._effect(run, StateClear(group))
        if not self.keep:
            run.state_overlay().clear(group)
        previous = None
        if isinstance(items, dict):
            limit = self.settings.span_body_bytes
            previous = {key: _traced(raw, limit) for key, raw in items.items()}
        self._state_changed(run, "clear", group, None, None, previous)

    def _stream(self, name: str) -> StreamDefinition:
        definition = self.stream_definitions.get(name)
        if definition is None:
            raise KeyError(f"no stream named {name!r}")
        return definition

    def _stream_changed(
        self, run: Run | None, name: str, group: str, item_id: str | None, kind: str, data: Any
    ) -> None:
        # The run's names, not the run: a change the run keeps must not hold the run.
        trace_id, step = (run.trace_id, run.step_name) if run is not None else (None, None)
        change = (name, group, item_id, kind, data, trace_id, step)
        if run is not None:
            run.span.add_op(
                {"op": f"stream.{kind}", "stream": name, "groupId": group, "id": item_id}
            )
        if run is None or self.keep or self.stream_definitions[name].custom is not None:
            self._announce(change)
        else:
            run.notice("stream", change)

    def _announce(self, change: tuple[Any, ...]) -> None:
        name, group, item_id, kind, data, trace_id, step = change
        message = {
            "stream": name,
            "groupId": group,
            "id": item_id,
            "type": kind,
            "data": data,
            "timestamp": self.stream_store.stamp(name, group, item_id),
            "traceId": trace_id,
            "step": step,
        }
        self.stream_store.notify(message)
        self.hub.publish(ev.STREAM_CHANGE, message)
        self.store.broadcast(("stream", message))

    def _item_raw(self, run: Run | None, name: str, group: str, item_id: str) -> str | None:
        if run is not None and run.streams is not None:
            found, raw = run.streams.lookup((name, group), item_id)
            if found:
                return raw
        stored: str | None = self.store.stream_get(name, group, item_id)
        return stored

    def stream_get(self, run: Run | None, name: str, group: str, item_id: str) -> Any:
        definition = self._stream(name)
        if run is not None:
            run.span.add_op({"op": "stream.get", "stream": name, "groupId": group, "id": item_id})
        if definition.custom is not None:
            return call_custom(definition.custom, "get", group, item_id)
        raw = self._item_raw(run, name, group, item_id)
        return None if raw is None else jsonio.loads(raw)

    def stream_get_group(self, run: Run | None, name: str, group: str) -> Any:
        definition = self._stream(name)
        if run is not None:
            run.span.add_op({"op": "stream.getGroup", "stream": name, "groupId": group})
        if definition.custom is not None:
            return call_custom(definition.custom, "get_group", group)
        items = self.store.stream_group(name, group)
        if run is not None and run.streams is not None:
            items = run.streams.merge((name, group), items)
        return [jsonio.loads(raw) for raw in items.values()]

    def stream_set(self, run: Run | None, name: str, group: str, item_id: str, data: Any) -> Any:
        definition = self._stream(name)
        if not isinstance(data, dict):
            raise TypeError(f"stream {name!r}: items must be dicts, got {type(data).__name__}")
        item = {**data, "id": item_id}
        if definition.schema is not None:
            problems = definition.schema.errors(item)
            if problems:
                details = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
                raise ValueError(f"stream {name!r} item does not match its schema: {details}")
        if definition.custom is not None:
            return self._custom_set(run, definition, group, item_id, item)
        raw = encode(item)
        created = self._item_raw(run, name, group, item_id) is None
        self._item_effect(run, StreamItemSet(name, group, item_id, raw), raw)
        stored = jsonio.loads(raw)
        self._stream_changed(run, name, group, item_id, CREATE if created else UPDATE, stored)
        return stored

    def _item_effect(
        self, run: Run | None, effect: StreamItemSet | StreamItemDelete, raw: str | None
    ) -> None:
        if run is None:
            self.store.commit([effect], False, self.store.epoch)
            return
        self._effect(run, effect)
        if not self.keep:
            run.stream_overlay().put((effect.stream, effect.group), effect.id, raw)

    async def _custom_set(
        self,
        run: Run | None,
        definition: StreamDefinition,
        group: str,
        item_id: str,
        item: dict[str, Any],
    ) -> Any:
        existing = await call_custom(definition.custom, "get", group, item_id)
        stored = await call_custom(definition.custom, "set", group, item_id, item)
        stored = item if stored is None else stored
        kind = UPDATE if existing is not None else CREATE
        self._stream_changed(run, definition.name, group, item_id, kind, stored)
        return stored

    def stream_delete(self, run: Run | None, name: str, group: str, item_id: str) -> Any:
        definition = self._stream(name)
        if definition.custom is not None:
            return self._custom_delete(run, definition, group, item_id)
        raw = self._item_raw(run, name, group, item_id)
        if raw is None:
            return None
        self._item_effect(run, StreamItemDelete(name, group, item_id), None)
        removed = jsonio.loads(raw)
        self._stream_changed(run, name, group, item_id, DELETE, removed)
        return removed

    async def _custom_delete(
        self, run: Run | None, definition: StreamDefinition, group: str, item_id: str
    ) -> Any:
        removed = await call_custom(definition.custom, "delete", group, item_id)
        if removed is not None:
            self._stream_changed(run, definition.name, group, item_id, DELETE, removed)
        return removed

    def stream_send(self, run: Run | None, name: str, channel: Any, event: Any) -> None:
        self._stream(name)
        if not isinstance(channel, dict) or "groupId" not in channel:
            raise TypeError('send takes a channel {"groupId", "id"?} first')
        if not isinstance(event, dict) or "type" not in event:
            raise TypeError('send takes an event {"type", "data"} second')
        encode(event.get("data"))
        self._stream_changed(
            run,
            name,
            str(channel["groupId"]),
            channel.get("id"),
            EVENT,
            {"type": event["type"], "data": event.get("data")},
        )
