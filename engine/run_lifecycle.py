"""A run's life: it begins with a span, its handler is called within its step's timeout, it
ends with its span closed, and its unit of effects goes to the store (or, for a failed attempt,
only what settles its delivery). Shared by every trigger: the api path (`engine.http`), the
event delivery and cron paths (`engine.execution`) and what a person does (a manual emit).
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine import events as ev
from engine import triggers
from engine.bus import Bus
from engine.context import FlowContext
from engine.effects import Effect
from engine.events import EventHub
from engine.logs import LogStore, StepLogger
from engine.registry import StepRegistry
from engine.run_operations import RunOperations
from engine.runs import Deadlines, ForeignHandlerError, Run
from engine.settings import Settings
from engine.steps import Step
from engine.stores import Persistence, StoreFailing
from engine.streams import StreamStore
from engine.sync_pool import SyncPool
from engine.tracing import ERROR, OK, Span, TraceStore


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


class RunLifecycle(RunOperations):
    """Begins, calls, ends and commits runs."""

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
        super().__init__(settings, hub, store, logs, streams, bus, registry)
        self.project_dir = project_dir
        self.traces = traces
        self.system_log = StepLogger(self.record_sink, None, None, [])
        self.pool = SyncPool(
            settings.thread_pool_size,
            settings.max_abandoned_threads or settings.thread_pool_size,
            self._pool_exhausted,
        )
        self.steps = registry.steps
        self.stats: dict[str, dict[str, int]] = {}
        self.deadlines = Deadlines()

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
        span = Span(trace_id, parent_id, step.name, kind, attempt, input_, delivery_id)
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
            self.traces.end_span(run.span, ERROR, None, error)
        else:
            self.traces.end_span(run.span, OK, output)

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
        # Given the loop: without it, asyncio looks the running loop up in Python first
        # (3.11), which costs four times what the lookup of the task does, once a run. A
        # run happens only once the engine has started, so its loop is bound.
        task = asyncio.current_task(self._loop)
        assert task is not None
        self.deadlines.watch(run, task, timeout)
        try:
            if step.middleware:
                result = await self._through_middleware(step, run, args, context)
            elif step.is_async and step.handler is not None:  # without a coroutine of its own
                result = await step.handler(*args, context)
                if result is not None and type(result) is not dict and inspect.isawaitable(result):
                    result = await result
            else:
                result = await self._call_handler(step, run, args, context)
            if run.pending:
                await asyncio.gather(*run.pending)
            if run.emitted:
                self.bus.check_room(run.emitted)
        except asyncio.CancelledError:
            if not run.timed_out:
                raise
            raise self.timed_out(step, run, task, timeout) from None
        finally:
            self.deadlines.forget(run)
        return result

    @staticmethod
    def timed_out(
        step: Step, run: Run, task: asyncio.Task[Any], timeout: float
    ) -> HandlerTimeout:
        """What a run cancelled by its deadline raises instead: its task is no longer being
        cancelled, and its context takes no more calls."""
        task.uncancel()
        run.ended = True
        return HandlerTimeout(f"{step.name} timed out after {timeout:g}s")

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
        for middleware in step.middleware[::-1]:
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

    def refused(self, run: Run, exc: StoreFailing) -> None:
        """The store refused a run that had succeeded: it failed after all, and its span and
        counters say so."""
        counters = self.stats.get(run.step_name)
        if counters is not None:
            counters["failures"] += 1
        error = {"message": f"not kept: {exc}", "type": "StoreFailing"}
        self.traces.end_span(run.span, ERROR, error=error)

    def rejected(
        self, step: Step, input_: Any, message: str, details: list[Any]
    ) -> str:
        """A request refused before its handler (a body `bodySchema` rejects): one short span
        with the validation errors and one warning, so Traces and Logs say why; the step's
        counters are left alone, as it never ran. Answers the trace id."""
        span = Span(None, None, step.name, "api", 1, input_)
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
        span = Span(trace_id, None, what, "manual", 1, input_)
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

    def _pool_exhausted(self, message: str) -> None:
        self.system_log.error(message, {"abandonedThreads": self.pool.abandoned})

    def shutdown(self) -> None:
        self.pool.close()
