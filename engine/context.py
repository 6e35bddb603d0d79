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
import threading
from collections.abc import Callable, Collection
from typing import Any, Protocol

from engine.logs import StepLogger
from engine.runs import Run


class RunOps(Protocol):
    """What the context needs from the engine: the loop it runs on, the declared streams, and
    the operations it forwards, each taking the run first."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def loop_thread(self) -> int | None:
        """The loop's thread (`threading.get_ident()`) once the engine has started: a call
        made on it runs at once. A call asks this rather than asyncio's running loop, which
        (3.11) checks the process id with a system call each time."""
        ...

    @property
    def answered_none(self) -> asyncio.Future[None]:
        """A future of the loop, finished with None: what every call that answers nothing
        (an emit, a state set whose value is null) hands back. A finished future can be
        awaited any number of times, and cancelling it does nothing."""
        ...

    def stream_names(self) -> Collection[str]: ...

    def step_logger(self, run: Run) -> StepLogger: ...

    def emit_from_run(self, run: Run, event: Any) -> None: ...

    def state_get(self, run: Run, group: str, key: str) -> Any: ...

    def state_set(self, run: Run, group: str, key: str, value: Any) -> Any: ...

    def state_delete(self, run: Run, group: str, key: str) -> Any: ...

    def state_get_group(self, run: Run, group: str) -> Any: ...

    def state_clear(self, run: Run, group: str) -> Any: ...

    def stream_get(self, run: Run | None, name: str, group: str, item_id: str) -> Any: ...

    def stream_set(
        self, run: Run | None, name: str, group: str, item_id: str, data: Any
    ) -> Any: ...

    def stream_delete(self, run: Run | None, name: str, group: str, item_id: str) -> Any: ...

    def stream_get_group(self, run: Run | None, name: str, group: str) -> Any: ...

    def stream_send(self, run: Run | None, name: str, channel: Any, event: Any) -> Any: ...


def _copy_result(task: asyncio.Future[Any], result: concurrent.futures.Future[Any]) -> None:
    if task.cancelled():
        result.cancel()
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())


class StateClient:
    """`context.state`."""

    def __init__(self, caller: FlowContext) -> None:
        self._caller = caller

    def get(self, group: str, key: str) -> Any:
        return self._caller._call(self._caller._ops.state_get, group, key)

    def set(self, group: str, key: str, value: Any) -> Any:
        return self._caller._call(self._caller._ops.state_set, group, key, value)

    def delete(self, group: str, key: str) -> Any:
        return self._caller._call(self._caller._ops.state_delete, group, key)

    def get_group(self, group: str) -> Any:
        return self._caller._call(self._caller._ops.state_get_group, group)

    def getGroup(self, group: str) -> Any:
        """Motia's spelling."""
        return self.get_group(group)

    def clear(self, group: str) -> Any:
        return self._caller._call(self._caller._ops.state_clear, group)


class StreamClient:
    """`context.streams.<name>`; group and item ids are strings on the wire, so they are
    made strings here, whatever the step passes."""

    def __init__(self, caller: FlowContext, name: str) -> None:
        self._caller = caller
        self.name = name

    def get(self, group_id: str, item_id: str) -> Any:
        ops = self._caller._ops
        return self._caller._call(ops.stream_get, self.name, str(group_id), str(item_id))

    def set(self, group_id: str, item_id: str, data: Any) -> Any:
        ops = self._caller._ops
        return self._caller._call(ops.stream_set, self.name, str(group_id), str(item_id), data)

    def delete(self, group_id: str, item_id: str) -> Any:
        ops = self._caller._ops
        return self._caller._call(ops.stream_delete, self.name, str(group_id), str(item_id))

    def get_group(self, group_id: str) -> Any:
        return self._caller._call(self._caller._ops.stream_get_group, self.name, str(group_id))

    def getGroup(self, group_id: str) -> Any:
        """Motia's spelling."""
        return self.get_group(group_id)

    def send(self, channel: dict[str, Any], event: dict[str, Any]) -> Any:
        return self._caller._call(self._caller._ops.stream_send, self.name, channel, event)


class Streams:
    """`context.streams`: one client per declared stream, by attribute or by key."""

    def __init__(self, caller: FlowContext) -> None:
        self._caller = caller

    def __getattr__(self, name: str) -> StreamClient:
        if name.startswith("_"):
            raise AttributeError(name)
        names = self._caller._ops.stream_names()
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise AttributeError(f"no stream named {name!r} (declared streams: {known})")
        return StreamClient(self._caller, name)

    def __getitem__(self, name: str) -> StreamClient:
        try:
            client: StreamClient = getattr(self, name)
        except AttributeError as exc:
            raise KeyError(str(exc)) from None
        return client


class FlowContext:
    """What a handler receives as `context`; it runs each call where it belongs and answers
    in the caller's style. One object a run: the clients below hold it, not a copy of it."""

    def __init__(self, ops: RunOps, run: Run) -> None:
        self._ops = ops
        self._run = run
        self.trace_id = run.span.trace_id
        self.flows = run.flows
        self.step = run.step_name
        self._logger: StepLogger | None = None

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(run, *args)` on the loop; refused with `RunEnded` once the run has ended.

        On the loop, once per context call of every run: written out in one function."""
        run = self._run
        if threading.get_ident() == self._ops.loop_thread:
            if run.ended:
                run.check()
            value = fn(run, *args)
            if value is None:
                return self._ops.answered_none
            if inspect.isawaitable(value):
                task = asyncio.ensure_future(value)
                run.wait_for(task)
                return task
            future = self._ops.loop.create_future()
            future.set_result(value)
            return future
        loop = self._ops.loop
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def on_loop() -> None:
            try:
                run.check()
                value = fn(run, *args)
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

    @property
    def logger(self) -> StepLogger:
        """Made on first use: most runs never log."""
        if self._logger is None:
            self._logger = self._ops.step_logger(self._run)
        return self._logger

    @property
    def state(self) -> StateClient:
        """A new client each time: one kept on the context would hold the context that holds
        it, and each run's objects would wait for the cyclic collector instead of leaving
        when the run does."""
        return StateClient(self)

    @property
    def streams(self) -> Streams:
        """A new one each time, as `state`."""
        return Streams(self)

    @property
    def traceId(self) -> str:
        return self.trace_id

    def emit(self, event: dict[str, Any]) -> Any:
        """Send `{"topic", "data"}` to every subscriber, in this trace, once the run succeeds.

        Most runs emit once, on the loop: that case is written out, as `_call` would do it."""
        ops = self._ops
        if threading.get_ident() == ops.loop_thread and not self._run.ended:
            ops.emit_from_run(self._run, event)
            return ops.answered_none
        return self._call(ops.emit_from_run, event)
