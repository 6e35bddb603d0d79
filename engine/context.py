"""The `context` handed to handlers: emit, state, streams, logger and the trace id.

Every call works awaited or not. On the loop, the in-memory stores answer at once, so a call
does its work immediately and hands back an already-finished future; slow work (a custom
stream store) becomes a task the run waits for before it counts as finished. From a plain
`def` handler, running in a worker thread, each call hops onto the loop and blocks until it
has its answer, so sync handlers read values directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from engine.logs import StepLogger
from engine.store import Statement
from engine.tracing import Span

if TYPE_CHECKING:
    from engine.bus import Delivery
    from engine.execution import Executor


class Run:
    """One attempt of one step, and the effects it must commit together."""

    __slots__ = (
        "batch",
        "declared_emits",
        "emitted",
        "flows",
        "pending",
        "span",
        "span_rows",
        "step_name",
        "timed_out",
    )

    def __init__(
        self,
        step_name: str,
        flows: list[str],
        span: Span,
        declared_emits: frozenset[str] | None = None,
    ) -> None:
        self.step_name = step_name
        self.flows = flows
        self.span = span
        self.declared_emits = declared_emits
        self.batch: list[Statement] = []
        self.emitted: list[Delivery] = []
        self.pending: list[asyncio.Future[Any]] = []
        self.span_rows: list[Statement] = []
        self.timed_out = False

    @property
    def trace_id(self) -> str:
        return self.span.trace_id


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _Caller:
    """Runs an operation where it belongs and answers in the caller's style."""

    def __init__(self, engine: Executor, run: Run) -> None:
        self._engine = engine
        self._run = run

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = self._engine.loop
        if _on_loop(loop):
            return self._now(fn, *args)
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def on_loop() -> None:
            try:
                value = fn(*args)
            except BaseException as exc:
                result.set_exception(exc)
                return
            if inspect.isawaitable(value):
                task = asyncio.ensure_future(value)
                task.add_done_callback(lambda t: _copy_result(t, result))
            else:
                result.set_result(value)

        loop.call_soon_threadsafe(on_loop)
        return result.result()

    def _now(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        value = fn(*args)
        if value is not None and inspect.isawaitable(value):
            task = asyncio.ensure_future(value)
            self._run.pending.append(task)
            return task
        future = self._engine.loop.create_future()
        future.set_result(value)
        return future


def _copy_result(task: asyncio.Future[Any], result: concurrent.futures.Future[Any]) -> None:
    if task.cancelled():
        result.cancel()
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())


class StateClient:
    """`context.state`."""

    def __init__(self, engine: Executor, run: Run, caller: _Caller) -> None:
        self._engine = engine
        self._run = run
        self._caller = caller

    def get(self, group: str, key: str) -> Any:
        return self._caller.call(self._engine.state_get, self._run, group, key)

    def set(self, group: str, key: str, value: Any) -> Any:
        return self._caller.call(self._engine.state_set, self._run, group, key, value)

    def delete(self, group: str, key: str) -> Any:
        return self._caller.call(self._engine.state_delete, self._run, group, key)

    def get_group(self, group: str) -> Any:
        return self._caller.call(self._engine.state_get_group, self._run, group)

    getGroup = get_group

    def clear(self, group: str) -> Any:
        return self._caller.call(self._engine.state_clear, self._run, group)


class StreamClient:
    """`context.streams.<name>`; group and item ids are strings on the wire, so they are
    made strings here, whatever the step passes."""

    def __init__(self, engine: Executor, run: Run, caller: _Caller, name: str) -> None:
        self._engine = engine
        self._run = run
        self._caller = caller
        self.name = name

    def get(self, group_id: str, item_id: str) -> Any:
        return self._caller.call(
            self._engine.stream_get, self._run, self.name, str(group_id), str(item_id)
        )

    def set(self, group_id: str, item_id: str, data: Any) -> Any:
        return self._caller.call(
            self._engine.stream_set, self._run, self.name, str(group_id), str(item_id), data
        )

    def delete(self, group_id: str, item_id: str) -> Any:
        return self._caller.call(
            self._engine.stream_delete, self._run, self.name, str(group_id), str(item_id)
        )

    def get_group(self, group_id: str) -> Any:
        return self._caller.call(self._engine.stream_get_group, self._run, self.name, str(group_id))

    getGroup = get_group

    def send(self, channel: dict[str, Any], event: dict[str, Any]) -> Any:
        return self._caller.call(self._engine.stream_send, self._run, self.name, channel, event)


class Streams:
    """`context.streams`: one client per declared stream, by attribute or by key."""

    def __init__(self, engine: Executor, run: Run, caller: _Caller) -> None:
        self._engine = engine
        self._run = run
        self._caller = caller

    def __getattr__(self, name: str) -> StreamClient:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._engine.stream_definitions:
            known = ", ".join(sorted(self._engine.stream_definitions)) or "none"
            raise AttributeError(f"no stream named {name!r} (declared streams: {known})")
        return StreamClient(self._engine, self._run, self._caller, name)

    def __getitem__(self, name: str) -> StreamClient:
        try:
            client: StreamClient = getattr(self, name)
        except AttributeError as exc:
            raise KeyError(str(exc)) from None
        return client


class FlowContext:
    """What a handler receives as `context`."""

    def __init__(self, engine: Executor, run: Run) -> None:
        self._engine = engine
        self._run = run
        self._caller = _Caller(engine, run)
        self.trace_id = run.trace_id
        self.flows = run.flows
        self.step = run.step_name

    @cached_property
    def logger(self) -> StepLogger:
        return self._engine.step_logger(self._run)

    @cached_property
    def state(self) -> StateClient:
        return StateClient(self._engine, self._run, self._caller)

    @cached_property
    def streams(self) -> Streams:
        return Streams(self._engine, self._run, self._caller)

    @property
    def traceId(self) -> str:
        return self.trace_id

    def emit(self, event: dict[str, Any]) -> Any:
        """Send `{"topic", "data"}` to every subscriber, in this trace."""
        return self._caller.call(self._engine.emit_from_run, self._run, event)
