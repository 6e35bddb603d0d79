"""Running steps: one attempt of one handler, its span, and what it did.

This is where a trigger (a delivery, a cron tick, an HTTP request, a manual call) becomes a
span, a handler call with a timeout, and one unit of effects. The context's state, stream and
emit calls land here too, so every operation is traced on the span that made it.

With `failed_attempts = "discard"` (the default) a run's effects wait in the run: its reads see
them, nobody else does, and only a run that succeeds hands them to the store, announces its
state and stream changes and dispatches its emitted events. With `"keep"` (Motia 0.17's way)
each effect goes to the store, and is announced, when it is called, whatever the run does
afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine import events as ev
from engine import jsonio, triggers
from engine.bus import Bus, Delivery
from engine.context import FlowContext
from engine.effects import (
    DeadLettered,
    DeliveryFailed,
    Effect,
    StateClear,
    StateDelete,
    StateSet,
    StreamItemDelete,
    StreamItemSet,
)
from engine.events import EventHub
from engine.logs import LogStore, RecordSink, StepLogger
from engine.records import wrap
from engine.registry import StepRegistry
from engine.runs import Deadlines, ForeignHandlerError, HandlerLost, Run
from engine.settings import Settings
from engine.span_bounds import cut_body
from engine.state import StateError, encode
from engine.steps import Step
from engine.stores import Persistence, StoreFailing
from engine.streams import CREATE, DELETE, EVENT, UPDATE, StreamDefinition, StreamStore, call_custom
from engine.sync_pool import SyncPool
from engine.tracing import ERROR, OK, Span, TraceStore, new_id, op_value

LOST_REDELIVERIES = 5
"""Deliveries of one event in a row whose handler's process died before they count as a
failed attempt."""


class HandlerTimeout(Exception):
    """A run that went past its step's timeout."""


GENERIC_ERROR = "internal error; the server log has the details"
"""What `motia start` tells a client about a failure: exception messages can hold secrets."""


def error_info(exc: BaseException, project_dir: Path | None = None) -> dict[str, Any]:
    """An error as data: message, type, traceback, and the user's file and line."""
    if isinstance(exc, ForeignHandlerError):
        return dict(exc.info)
    frames = traceback.extract_tb(exc.__traceback__)
    info: dict[str, Any] = {
        "message": str(exc) or type(exc).__name__,
        "type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    root = str(project_dir) if project_dir is not None else None
    for frame in reversed(frames):
        if root is None or frame.filename.startswith(root):
            info["file"], info["line"] = frame.filename, frame.lineno
            break
    return info


def _through(
    middleware: Callable[..., Any], request: Any, context: Any, next_fn: Callable[[], Any]
) -> Callable[[], Any]:
    """One layer of middleware: `mw(req, context, next_fn)`, sync or async."""

    async def call() -> Any:
        result = middleware(request, context, next_fn)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call


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


class Executor:
    """Runs handlers and carries out the context's calls."""

    def __init__(
        self,
        settings: Settings,
        project_dir: Path,
        hub: EventHub,
        store: Persistence,
        traces: TraceStore,
        logs: LogStore,
        streams: StreamStore,
        bus: Bus,
        registry: StepRegistry,
    ) -> None:
        self.settings = settings
        self.project_dir = project_dir
        self.hub = hub
        self.store = store
        self.traces = traces
        self.stream_store = streams
        self.bus = bus
        self.stream_definitions = registry.streams
        self.keep = settings.failed_attempts == "keep"
        self.record_sink = RecordSink(logs)
        self.system_log = StepLogger(self.record_sink, None, None, [])
        self.pool = SyncPool(
            settings.thread_pool_size,
            settings.max_abandoned_threads or settings.thread_pool_size,
            self._pool_exhausted,
        )
        self.steps = registry.steps
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats: dict[str, dict[str, int]] = {}
        self.deadlines = Deadlines()
        self._cron_runs: set[asyncio.Task[None]] = set()
        bus.handle = self.handle_delivery
        bus.crashed = self.delivery_crashed

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.record_sink.loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop runs happen on, bound when the engine starts."""
        if self._loop is None:
            raise RuntimeError("the engine has not started: no loop to run steps on")
        return self._loop

    def stream_names(self) -> dict[str, StreamDefinition]:
        return self.stream_definitions

    # -- runs ------------------------------------------------------------------------

    def begin(
        self,
        step: Step,
        kind: str,
        input_: Any,
        trace_id: str | None = None,
        parent_id: str | None = None,
        attempt: int = 1,
        delivery_id: str | None = None,
    ) -> Run:
        span = Span(trace_id or new_id(), parent_id, step.name, kind, attempt, input_, delivery_id)
        if parent_id is None and trace_id is None:
            span.rerun_of = triggers.current_rerun()
        self.traces.start_span(span)
        counters = self.stats.get(step.name)
        if counters is None:
            counters = self.stats[step.name] = {"runs": 0, "failures": 0, "running": 0}
        counters["running"] += 1
        return Run(step.name, step.flows, span, self.store.epoch, step.emit_topics)

    def end(self, run: Run, output: Any = None, error: dict[str, Any] | None = None) -> None:
        """The handler is done: count it and close its span (history, kept either way)."""
        run.ended = True
        counters = self.stats[run.step_name]
        counters["running"] -= 1
        counters["runs"] += 1
        if error is not None:
            counters["failures"] += 1
            self.traces.end_span(run.span, ERROR, error=error)
        else:
            self.traces.end_span(run.span, OK, output=output)

    def finish(
        self,
        run: Run,
        succeeded: bool,
        extra: Effect | None = None,
        durable: bool = False,
    ) -> asyncio.Future[None] | None:
        """Hand the run's unit to the store: its effects when it succeeded (or `keep`), and
        `extra` (what settles its delivery) either way; then announce and dispatch what it
        did. Raises `StoreFailing` when the store refuses the unit: then nothing happened.
        A future when `durable` and there was something to commit."""
        run.ended = True
        effects = run.effects if succeeded else []
        if extra is not None:
            effects.append(extra)
        done = self.store.commit(effects, durable, run.epoch) if effects else None
        if done is None and durable:
            done = run.kept
        if succeeded:
            for kind, change in run.notices:
                if kind == "state":
                    self.hub.publish(ev.STATE_CHANGE, change)
                    self.store.broadcast(("state", change))
                else:
                    self._announce(change)
            if run.emitted:
                self.bus.dispatch_all(run.emitted)
        return done

    async def invoke(self, step: Step, run: Run, args: tuple[Any, ...]) -> Any:
        """Call the handler (through the step's middleware) within the step's timeout."""
        context = FlowContext(self, run)
        timeout = step.timeout_s or self.settings.handler_timeout_s
        task = asyncio.current_task()
        assert task is not None
        self.deadlines.watch(run, task, timeout)
        try:
            if step.middleware:
                result = await self._through_middleware(step, run, args, context)
            else:
                result = await self._call_handler(step, run, args, context)
            if run.pending:
                await asyncio.gather(*run.pending)
            if run.emitted:
                self.bus.check_room(run.emitted)
        except asyncio.CancelledError:
            if not run.timed_out:
                raise
            task.uncancel()
            run.ended = True
            raise HandlerTimeout(f"{step.name} timed out after {timeout:g}s") from None
        finally:
            self.deadlines.forget(run)
        return result

    async def _call_handler(
        self, step: Step, run: Run, args: tuple[Any, ...], context: FlowContext
    ) -> Any:
        handler = step.handler
        assert handler is not None
        if step.is_async:
            result = await handler(*args, context)
        else:
            self.deadlines.pause(run)
            result = await self.pool.call(
                self._call_sync, handler, args, context, on_start=lambda: self.deadlines.resume(run)
            )
        if result is not None and type(result) is not dict and inspect.isawaitable(result):
            result = await result  # a sync handler's awaitable (a response dict never is one)
        return result

    def _through_middleware(
        self, step: Step, run: Run, args: tuple[Any, ...], context: FlowContext
    ) -> Awaitable[Any]:
        def call_handler() -> Awaitable[Any]:
            return self._call_handler(step, run, args, context)

        call: Callable[[], Awaitable[Any]] = call_handler
        for middleware in reversed(step.middleware):
            call = _through(middleware, args[0], context, call)
        return call()

    @staticmethod
    def _call_sync(handler: Callable[..., Any], args: tuple[Any, ...], context: Any) -> Any:
        return handler(*args, context)

    def log_failure(self, run: Run, what: str, error: dict[str, Any]) -> None:
        self.step_logger(run).error(
            what,
            {
                "error": error["message"],
                "errorType": error["type"],
                "file": error.get("file"),
                "line": error.get("line"),
                "traceback": error["traceback"],
            },
        )

    async def handle_delivery(self, delivery: Delivery) -> bool:
        """One attempt of one delivery; True once it is settled (or no longer this bus's)."""
        step = self.steps.get(delivery.step)
        if step is None or step.type != "event":
            self.system_log.warn(
                f"dropping event {delivery.topic!r}: step {delivery.step!r} no longer exists",
                {"traceId": delivery.trace_id},
            )
            with contextlib.suppress(StoreFailing):
                self.store.commit([self.bus.finished(delivery)], False, self.store.epoch)
            return True
        data = delivery.data
        raw, limit = delivery.data_json, self.settings.span_body_bytes
        run = self.begin(
            step,
            "event",
            data if len(raw) <= limit else cut_body(raw.encode(), limit),
            delivery.trace_id,
            delivery.parent_span,
            delivery.attempt,
            delivery.id,
        )
        run.span.topic = delivery.topic
        if step.input_schema is not None:
            problems = step.input_schema.errors(data)
            if problems:
                self.step_logger(run).warn(
                    f"input does not match {step.name}'s schema", {"details": problems}
                )
        try:
            output = await self.invoke(step, run, (wrap(data),))
        except HandlerLost as exc:
            if self._lost(run, delivery, exc):
                return False
            error = error_info(exc, self.project_dir)
            settled, effect = self.bus.after_failure(delivery, step.queue.max_retries, error)
            self.end(run, error=error)
            return self._settle(run, delivery, False, effect, settled)
        except Exception as exc:
            error = error_info(exc, self.project_dir)
            settled, effect = self.bus.after_failure(delivery, step.queue.max_retries, error)
            retries = step.queue.max_retries + 1
            outcome = "moved to the dead-letter queue" if settled else "will retry"
            self.log_failure(
                run,
                f"{step.name} failed (attempt {run.span.attempt}/{retries}), {outcome}: "
                f"{error['message']}",
                error,
            )
            self.end(run, error=error)
            return self._settle(run, delivery, False, effect, settled)
        self.end(run, output=output)
        return self._settle(run, delivery, True, None, True)

    def _lost(self, run: Run, delivery: Delivery, exc: HandlerLost) -> bool:
        """The handler's process died: the attempt did not happen, as after a crash of the
        engine. True when the delivery goes again at once, with the same attempt number;
        after LOST_REDELIVERIES in a row it counts as a failure, so an event that kills its
        worker every time ends in the dead-letter queue rather than looping."""
        delivery.lost += 1
        error = error_info(exc, self.project_dir)
        if delivery.lost > LOST_REDELIVERIES:
            delivery.lost = 0
            self.log_failure(run, f"{run.step_name}: {exc} ({delivery.lost} times in a row)", error)
            return False
        self.step_logger(run).warn(
            f"{run.step_name}: {exc}; delivering the event again "
            f"(attempt {delivery.attempt} is not counted)"
        )
        self.end(run, error=error)
        return True

    def delivery_crashed(self, delivery: Delivery, exc: Exception) -> None:
        """The engine failed around a handler (not in it): log it as an engine error and
        move the delivery to the dead-letter queue, where it can be seen and retried."""
        error = error_info(exc)
        self.system_log.error(
            f"engine error delivering {delivery.topic!r} to {delivery.step}: {error['message']};"
            " moved to the dead-letter queue",
            {"traceId": delivery.trace_id, "traceback": error["traceback"]},
        )
        _, effect = self.bus.after_failure(delivery, -1, error)
        if effect is None:
            return
        try:
            self.store.commit([effect], False, self.store.epoch)
        except StoreFailing:
            return  # the store holds the delivery still; it runs again once the store recovers
        self.bus.settled(delivery, effect)

    def refused(self, run: Run, exc: StoreFailing) -> None:
        """The store refused a run that had succeeded: it failed after all, and its span and
        counters say so."""
        counters = self.stats.get(run.step_name)
        if counters is not None:
            counters["failures"] += 1
        error = {"message": f"not kept: {exc}", "type": "StoreFailing"}
        self.traces.end_span(run.span, ERROR, error=error)

    def _settle(
        self,
        run: Run,
        delivery: Delivery,
        succeeded: bool,
        effect: DeliveryFailed | DeadLettered | None,
        settled: bool,
    ) -> bool:
        if not self.bus.current(delivery):
            return True
        try:
            self.finish(run, succeeded, effect or self.bus.finished(delivery))
        except StoreFailing as exc:
            if succeeded:
                self.refused(run, exc)
            return True  # the bus was suspended: the store still holds the delivery
        self.bus.settled(delivery, effect)
        return settled

    def fire_cron(self, step: Step, trace_id: str | None = None) -> str:
        """Start a cron run now (a tick or a manual trigger); answer its trace id."""
        run = self.begin(step, "cron", None, trace_id)
        if trace_id is None:
            triggers.record(self.store, run.trace_id, triggers.cron_trigger(step.name))
        task = asyncio.ensure_future(self._cron_run(step, run))
        self._cron_runs.add(task)
        task.add_done_callback(self._cron_runs.discard)
        return run.trace_id

    async def stop_cron_runs(self) -> None:
        """Cancel the cron runs still going at shutdown, as the bus cancels its workers."""
        runs = list(self._cron_runs)
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    async def _cron_run(self, step: Step, run: Run) -> None:
        try:
            output = await self.invoke(step, run, ())
        except Exception as exc:
            error = error_info(exc, self.project_dir)
            self.log_failure(run, f"cron {step.name} failed: {error['message']}", error)
            self.end(run, error=error)
            succeeded = False
        else:
            self.end(run, output=output)
            succeeded = True
        try:
            self.finish(run, succeeded)
        except StoreFailing as exc:
            self.step_logger(run).error(f"cron {step.name}'s run was not kept: {exc}")
            if succeeded:
                self.refused(run, exc)

    def rejected(
        self, step: Step, input_: Any, message: str, details: list[Any]
    ) -> str:
        """A request refused before its handler (a body `bodySchema` rejects): one short span
        with the validation errors and one warning, so Traces and Logs say why; the step's
        counters are left alone, as it never ran. Answers the trace id."""
        span = Span(new_id(), None, step.name, "api", 1, input_)
        span.rerun_of = triggers.current_rerun()
        self.traces.start_span(span)
        run = Run(step.name, step.flows, span, self.store.epoch)
        self.step_logger(run).warn(f"{step.name} not called: {message}", {"details": details})
        run.ended = True
        self.traces.end_span(
            span, ERROR, error={"message": message, "type": "BodyRejected", "details": details}
        )
        return span.trace_id

    def manual_run(self, what: str, input_: Any = None, trace_id: str | None = None) -> Run:
        """A span for something a person did (an emit, a state edit), so traces show it."""
        span = Span(trace_id or new_id(), None, what, "manual", 1, input_)
        if trace_id is None:
            span.rerun_of = triggers.current_rerun()
        self.traces.start_span(span)
        return Run(what, [], span, self.store.epoch)

    def finish_manual(self, run: Run, durable: bool = True) -> asyncio.Future[None] | None:
        """Commit what a person did; raises `StoreFailing` (and keeps nothing) while the store
        cannot write."""
        run.ended = True
        try:
            done = self.finish(run, True, durable=durable)
        except StoreFailing as exc:
            self.traces.end_span(run.span, ERROR, error={"message": str(exc)})
            raise
        self.traces.end_span(run.span, OK)
        return done

    # -- context operations ------------------------------------------------------------

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
        deliveries = self.bus.make_deliveries(topic, data_json, run.trace_id, run.span.span_id)
        if not deliveries:
            self.step_logger(run).warn(f"no step subscribes to {topic!r}; the event is dropped")
        self.queue_deliveries(run, deliveries)
        limit = self.settings.span_body_bytes
        shown = data if len(data_json) <= limit else cut_body(data_json.encode(), limit)
        run.span.add_emit({"topic": topic, "data": shown, "subscribers": len(deliveries)})

    def queue_deliveries(self, run: Run, deliveries: list[Delivery]) -> None:
        if self.keep:
            if deliveries:
                self.bus.check_room(deliveries)
                run.kept = _observed(
                    self.store.commit([d.queued() for d in deliveries], True, run.epoch)
                )
                self.bus.dispatch_all(deliveries)
            return
        for delivery in deliveries:
            run.effects.append(delivery.queued())
        run.emitted.extend(deliveries)

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
        change = {
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
            run.notices.append(("state", change))

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
        change = (name, group, item_id, kind, data, run)
        if run is not None:
            run.span.add_op(
                {"op": f"stream.{kind}", "stream": name, "groupId": group, "id": item_id}
            )
        if run is None or self.keep or self.stream_definitions[name].custom is not None:
            self._announce(change)
        else:
            run.notices.append(("stream", change))

    def _announce(self, change: tuple[Any, ...]) -> None:
        name, group, item_id, kind, data, run = change
        message = {
            "stream": name,
            "groupId": group,
            "id": item_id,
            "type": kind,
            "data": data,
            "timestamp": self.stream_store.stamp(name, group, item_id),
            "traceId": run.trace_id if run else None,
            "step": run.step_name if run else None,
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

    def _pool_exhausted(self, message: str) -> None:
        self.system_log.error(message, {"abandonedThreads": self.pool.abandoned})

    def shutdown(self) -> None:
        self.pool.close()
