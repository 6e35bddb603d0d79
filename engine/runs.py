"""A run: one attempt of one step, from its start to its end, and the deadlines that end it.

A run collects its effects (engine.effects) and keeps its own writes in a run-local overlay,
so its reads see them while nobody else does. When it ends, the executor hands the effects to
the store as one unit, or (a failed attempt) drops them. Once ended, a run takes no more calls:
a handler still running in a worker thread after its timeout gets `RunEnded` from every
context call, and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, ClassVar

from mypy_extensions import mypyc_attr

from engine.tracing import Span

if TYPE_CHECKING:
    from engine.bus import Delivery


@mypyc_attr(native_class=False)
class RunEnded(RuntimeError):
    """A context call made after its run ended (a handler still running past its timeout)."""


@mypyc_attr(native_class=False)
class HandlerLost(RuntimeError):
    """The process running a handler died before it answered: the attempt did not happen,
    so an event is delivered again without using a retry, and a request answers 503."""


class ForeignHandlerError(Exception):
    """A handler in another language raised: `info` is its error as data (message, type,
    traceback, file, line), as `error_info` describes a Python one."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(str(info.get("message") or info.get("type") or "handler failed"))
        self.info = info


class _Local:
    """A run's own writes to one bucket (a state group, a stream's group)."""

    __slots__ = ("cleared", "items")

    def __init__(self) -> None:
        self.items: dict[str, str | None] = {}
        self.cleared = False


class Overlay:
    """A run's writes over what the store holds: reads see them, nobody else does."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[Hashable, _Local] = {}

    def lookup(self, bucket: Hashable, key: str) -> tuple[bool, str | None]:
        """(True, value) when the run decided this key; (False, None) to ask the store."""
        local = self._buckets.get(bucket)
        if local is None:
            return False, None
        if key in local.items:
            return True, local.items[key]
        if local.cleared:
            return True, None
        return False, None

    def merge(self, bucket: Hashable, stored: dict[str, str]) -> dict[str, str]:
        local = self._buckets.get(bucket)
        if local is None:
            return stored
        merged = {} if local.cleared else dict(stored)
        for key, raw in local.items.items():
            if raw is None:
                merged.pop(key, None)
            else:
                merged[key] = raw
        return merged

    def put(self, bucket: Hashable, key: str, raw: str | None) -> None:
        local = self._buckets.get(bucket)
        if local is None:
            local = self._buckets[bucket] = _Local()
        local.items[key] = raw

    def clear(self, bucket: Hashable) -> None:
        local = self._buckets.get(bucket)
        if local is None:
            local = self._buckets[bucket] = _Local()
        local.items.clear()
        local.cleared = True


class Run:
    """One attempt of one step, and the effects it commits together."""

    __slots__ = (
        "declared_emits",
        "effects",
        "emitted",
        "ended",
        "epoch",
        "flows",
        "kept",
        "notices",
        "pending",
        "span",
        "state",
        "step_name",
        "streams",
        "timed_out",
    )

    def __init__(
        self,
        step_name: str,
        flows: list[str],
        span: Span,
        epoch: int,
        declared_emits: frozenset[str] | None = None,
    ) -> None:
        self.step_name = step_name
        self.flows = flows
        self.span = span
        self.epoch = epoch
        self.declared_emits = declared_emits
        self.effects: list[Any] = []
        self.emitted: list[Delivery] | tuple[()] = ()
        """Deliveries to dispatch once the run's unit is in the store (a shared empty tuple
        until the first: the last step of a chain emits nothing)."""
        self.notices: list[tuple[str, Any]] | tuple[()] = ()
        """State and stream changes to announce once the run's unit is in the store (most
        runs have none: a shared empty tuple until the first, as a span's lists are)."""
        self.pending: list[asyncio.Future[Any]] | tuple[()] = ()
        """Slow context calls (a custom stream's) the run waits for before it finishes."""
        self.kept: asyncio.Future[None] | None = None
        """With `failed_attempts = "keep"`: the commit of the last effect stored as called."""
        self.state: Overlay | None = None
        self.streams: Overlay | None = None
        self.timed_out = False
        self.ended = False

    @property
    def trace_id(self) -> str:
        return self.span.trace_id

    def notice(self, kind: str, change: Any) -> None:
        if self.notices:
            assert isinstance(self.notices, list)
            self.notices.append((kind, change))
        else:
            self.notices = [(kind, change)]

    def wait_for(self, task: asyncio.Future[Any]) -> None:
        if self.pending:
            assert isinstance(self.pending, list)
            self.pending.append(task)
        else:
            self.pending = [task]

    def state_overlay(self) -> Overlay:
        if self.state is None:
            self.state = Overlay()
        return self.state

    def stream_overlay(self) -> Overlay:
        if self.streams is None:
            self.streams = Overlay()
        return self.streams

    def check(self) -> None:
        if self.ended:
            raise RunEnded(
                f"{self.step_name}'s run has ended"
                + (" (it timed out)" if self.timed_out else "")
                + ": its context takes no more calls"
            )


class Deadlines:
    """Cancels runs that pass their step's timeout.

    One sweep every tenth of a second rather than a timer per run: timeouts are seconds long,
    and arming and disarming a timer per run costs more than a small handler on the hot path.
    """

    TICK_S: ClassVar[float] = 0.1

    def __init__(self) -> None:
        self._runs: dict[Run, tuple[float, asyncio.Task[Any]]] = {}
        """Keyed by the run itself: a `Run` hashes by identity, without an `id()` call."""
        self._paused: dict[Run, tuple[float, asyncio.Task[Any]]] = {}
        """Runs whose clock is stopped, with the time they had left."""
        self._sweeper: asyncio.Task[None] | None = None

    def watch(self, run: Run, task: asyncio.Task[Any], timeout_s: float) -> None:
        loop = task.get_loop()
        self._runs[run] = (loop.time() + timeout_s, task)
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())

    def forget(self, run: Run) -> None:
        self._runs.pop(run, None)
        if self._paused:
            self._paused.pop(run, None)

    def pause(self, run: Run) -> None:
        """Stop the run's clock while it waits for something that is not its own work (a free
        thread for a plain `def` handler)."""
        entry = self._runs.pop(run, None)
        if entry is not None:
            deadline, task = entry
            self._paused[run] = (deadline - task.get_loop().time(), task)

    def resume(self, run: Run) -> None:
        entry = self._paused.pop(run, None)
        if entry is not None:
            remaining, task = entry
            self.watch(run, task, remaining)

    async def _sweep(self) -> None:
        """Runs while any run is watched; gone, the next `watch` starts another (so `watch`
        asks no task whether it is done)."""
        loop = asyncio.get_running_loop()
        try:
            while self._runs:
                await asyncio.sleep(self.TICK_S)
                now = loop.time()
                for run, (deadline, task) in list(self._runs.items()):
                    if now >= deadline:
                        del self._runs[run]
                        run.timed_out = True
                        task.cancel()
        finally:
            self._sweeper = None

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
