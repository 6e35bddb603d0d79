"""Running steps: one attempt of one handler, its span, and what it did.

This is where a trigger (a delivery, a cron tick, an HTTP request, a manual call) becomes a
span, a handler call with a timeout, and one batch of durable effects. The context's state,
stream and emit calls land here too, so every operation is traced on the span that made it
and published on the engine event stream.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.bus import Bus, Delivery
from engine.context import FlowContext, Run
from engine.deadlines import Deadlines
from engine.events import EventHub
from engine.logs import LogStore, RecordSink, StepLogger
from engine.records import wrap
from engine.settings import Settings
from engine.state import StateError, StateStore, encode
from engine.steps import Step
from engine.store import Statement, Store
from engine.streams import CREATE, DELETE, EVENT, UPDATE, StreamDefinition, StreamStore, call_custom
from engine.tracing import ERROR, OK, Span, TraceStore, new_id


class HandlerTimeout(Exception):
    """A run that went past its step's timeout."""


def error_info(exc: BaseException, project_dir: Path | None = None) -> dict[str, Any]:
    """An error as data: message, type, traceback, and the user's file and line."""
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


class Executor:
    """Runs handlers and carries out the context's calls."""

    def __init__(
        self,
        settings: Settings,
        project_dir: Path,
        hub: EventHub,
        store: Store,
        traces: TraceStore,
        logs: LogStore,
        state: StateStore,
        streams: StreamStore,
        bus: Bus,
        stream_definitions: dict[str, StreamDefinition],
    ) -> None:
        self.settings = settings
        self.project_dir = project_dir
        self.hub = hub
        self.store = store
        self.traces = traces
        self.state = state
        self.stream_store = streams
        self.bus = bus
        self.stream_definitions = stream_definitions
        self.record_sink = RecordSink(logs)
        self.system_log = StepLogger(self.record_sink, None, None, [])
        self.pool = ThreadPoolExecutor(settings.thread_pool_size, thread_name_prefix="motia-step")
        self.steps: dict[str, Step] = {}
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.stats: dict[str, dict[str, int]] = {}
        self.deadlines = Deadlines()
        self._cron_runs: set[asyncio.Task[None]] = set()
        bus.handle = self.handle_delivery

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.record_sink.loop = loop

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
        self.traces.start_span(span)
        counters = self.stats.get(step.name)
        if counters is None:
            counters = self.stats[step.name] = {"runs": 0, "failures": 0, "running": 0}
        counters["running"] += 1
        return Run(step.name, step.flows, span, step.emit_topics)

    def end(self, run: Run, output: Any = None, error: dict[str, Any] | None = None) -> None:
        counters = self.stats[run.step_name]
        counters["running"] -= 1
        counters["runs"] += 1
        if error is not None:
            counters["failures"] += 1
            run.span_rows = self.traces.end_span(run.span, ERROR, error=error)
        else:
            run.span_rows = self.traces.end_span(run.span, OK, output=output)

    def commit(
        self,
        run: Run,
        extra: Sequence[Statement] = (),
        durable: bool = False,
    ) -> asyncio.Future[None] | None:
        """Hand the run's effects and its span to the store as one batch; a future when asked
        to wait. A run with no effects waits for nothing: its span is history, not work."""
        statements = run.batch
        retractable = {}
        for delivery in run.emitted:
            if not delivery.done:
                retractable[delivery.id] = len(statements)
                statements.append(delivery.insert())
        statements.extend(extra)
        if not statements:
            if run.span_rows:
                self.store.submit(run.span_rows)
            return None
        statements.extend(run.span_rows)
        done = self.loop.create_future() if durable else None
        self.store.submit(statements, done, retractable)
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
                result = await self._through_middleware(step, args, context)
            else:
                result = await self._call_handler(step, args, context)
        except asyncio.CancelledError:
            if not run.timed_out:
                raise
            task.uncancel()
            raise HandlerTimeout(f"{step.name} timed out after {timeout:g}s") from None
        finally:
            self.deadlines.forget(run)
        if run.pending:
            await asyncio.gather(*run.pending)
        return result

    async def _call_handler(self, step: Step, args: tuple[Any, ...], context: FlowContext) -> Any:
        handler = step.handler
        assert handler is not None
        if step.is_async:
            result = await handler(*args, context)
        else:
            result = await self.loop.run_in_executor(
                self.pool, self._call_sync, handler, args, context
            )
        if result is not None and inspect.isawaitable(result):
            result = await result
        return result

    def _through_middleware(
        self, step: Step, args: tuple[Any, ...], context: FlowContext
    ) -> Awaitable[Any]:
        def call_handler() -> Awaitable[Any]:
            return self._call_handler(step, args, context)

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
        """One attempt of one delivery; True once it is settled."""
        step = self.steps.get(delivery.step)
        if step is None or step.type != "event":
            self.system_log.warn(
                f"dropping event {delivery.topic!r}: step {delivery.step!r} no longer exists",
                {"traceId": delivery.trace_id},
            )
            self.store.submit(self.bus.finished(delivery))
            return True
        data = delivery.data
        run = self.begin(
            step,
            "event",
            data,
            delivery.trace_id,
            delivery.parent_span,
            delivery.attempt,
            delivery.id,
        )
        if step.input_schema is not None:
            problems = step.input_schema.errors(data)
            if problems:
                self.step_logger(run).warn(
                    f"input does not match {step.name}'s schema", {"details": problems}
                )
        try:
            output = await self.invoke(step, run, (wrap(data),))
        except Exception as exc:
            error = error_info(exc, self.project_dir)
            settled, statements = self.bus.after_failure(delivery, step.queue.max_retries, error)
            retries = step.queue.max_retries + 1
            outcome = "moved to the dead-letter queue" if settled else "will retry"
            self.log_failure(
                run,
                f"{step.name} failed (attempt {run.span.attempt}/{retries}), {outcome}: "
                f"{error['message']}",
                error,
            )
            self.end(run, error=error)
            self.commit(run, statements)
            return settled
        self.end(run, output=output)
        self.commit(run, self.bus.finished(delivery))
        return True

    def fire_cron(self, step: Step, trace_id: str | None = None) -> str:
        """Start a cron run now (a tick or a manual trigger); answer its trace id."""
        run = self.begin(step, "cron", None, trace_id)
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
        else:
            self.end(run, output=output)
        self.commit(run)

    def manual_run(self, what: str, input_: Any = None, trace_id: str | None = None) -> Run:
        """A span for something a person did (an emit, a state edit), so traces show it."""
        span = Span(trace_id or new_id(), None, what, "manual", 1, input_)
        self.traces.start_span(span)
        return Run(what, [], span)

    def finish_manual(self, run: Run, durable: bool = True) -> asyncio.Future[None] | None:
        run.span_rows = self.traces.end_span(run.span, OK)
        return self.commit(run, durable=durable)

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
        run.emitted.extend(deliveries)
        run.span.add_emit({"topic": topic, "data": data, "subscribers": len(deliveries)})

    def _state_changed(self, run: Run, op: str, group: str, key: str | None, value: Any) -> None:
        change = {
            "op": op,
            "group": group,
            "key": key,
            "traceId": run.trace_id,
            "step": run.step_name,
        }
        if op == "set":
            change["value"] = value
        run.span.add_op({k: v for k, v in change.items() if k not in ("traceId", "step")})
        self.hub.publish(ev.STATE_CHANGE, change)

    def state_get(self, run: Run, group: str, key: str) -> Any:
        value = self.state.get(group, key)
        run.span.add_op({"op": "get", "group": group, "key": key, "found": value is not None})
        if self.settings.state_get == "wrapped":
            if value is None:
                return {"data": None}
            if isinstance(value, dict) and "data" not in value:
                return {"data": value}
        return value

    def state_set(self, run: Run, group: str, key: str, value: Any) -> Any:
        stored = self.state.set(str(group), str(key), value, run.batch)
        self._state_changed(run, "set", str(group), str(key), stored)
        return stored

    def state_delete(self, run: Run, group: str, key: str) -> Any:
        removed = self.state.delete(str(group), str(key), run.batch)
        if removed is not None:
            self._state_changed(run, "delete", str(group), str(key), None)
        return removed

    def state_get_group(self, run: Run, group: str) -> list[Any]:
        run.span.add_op({"op": "getGroup", "group": group})
        return self.state.get_group(group)

    def state_clear(self, run: Run, group: str) -> None:
        self.state.clear(str(group), run.batch)
        self._state_changed(run, "clear", str(group), None, None)

    def _stream(self, name: str) -> StreamDefinition:
        definition = self.stream_definitions.get(name)
        if definition is None:
            raise KeyError(f"no stream named {name!r}")
        return definition

    def _stream_changed(
        self, run: Run | None, name: str, group: str, item_id: str | None, kind: str, data: Any
    ) -> None:
        change = {
            "stream": name,
            "groupId": group,
            "id": item_id,
            "type": kind,
            "data": data,
            "timestamp": self.stream_store.stamp(name, group, item_id),
            "traceId": run.trace_id if run else None,
            "step": run.step_name if run else None,
        }
        if run is not None:
            run.span.add_op(
                {"op": f"stream.{kind}", "stream": name, "groupId": group, "id": item_id}
            )
        self.stream_store.notify(change)
        self.hub.publish(ev.STREAM_CHANGE, change)

    def stream_get(self, run: Run | None, name: str, group: str, item_id: str) -> Any:
        definition = self._stream(name)
        if run is not None:
            run.span.add_op({"op": "stream.get", "stream": name, "groupId": group, "id": item_id})
        if definition.custom is not None:
            return call_custom(definition.custom, "get", group, item_id)
        return self.stream_store.get(name, group, item_id)

    def stream_get_group(self, run: Run | None, name: str, group: str) -> Any:
        definition = self._stream(name)
        if run is not None:
            run.span.add_op({"op": "stream.getGroup", "stream": name, "groupId": group})
        if definition.custom is not None:
            return call_custom(definition.custom, "get_group", group)
        return self.stream_store.get_group(name, group)

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
        batch = run.batch if run is not None else []
        stored, created = self.stream_store.set(name, group, item_id, item, batch)
        if run is None and batch:
            self.store.submit(batch)
        self._stream_changed(run, name, group, item_id, CREATE if created else UPDATE, stored)
        return stored

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
        batch = run.batch if run is not None else []
        removed = self.stream_store.delete(name, group, item_id, batch)
        if run is None and batch:
            self.store.submit(batch)
        if removed is not None:
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

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
