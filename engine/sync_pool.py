"""The threads that run plain `def` handlers and hooks, and what happens when one never returns.

A thread cannot be stopped from outside, so a sync run that passes its timeout (or is cancelled
at shutdown) keeps its thread until the handler returns, if it ever does. The pool abandons
that thread and starts another in its place, so a stuck handler costs one thread, never a slot:
the pool keeps `size` threads serving. Every thread is a daemon, so a stuck one never keeps
the process from exiting. Abandoned threads are bounded (`max_abandoned`): past it the pool
refuses new calls with `PoolExhausted` (api steps answer 503) until stuck threads return or
the server restarts, since each one still holds its memory and may hold a core.

The time a call waits for a free thread is not the handler's: `on_start` tells the caller when
a thread takes it up, and a timeout given here runs from that moment.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

from engine.overload import Unavailable

QUEUED, RUNNING, DONE, CANCELLED = range(4)


class PoolExhausted(Unavailable):
    """Every thread the pool may abandon is stuck in a handler: no sync call can run."""


class SyncTimeout(TimeoutError):
    """A sync call that passed the timeout given to `SyncPool.call`."""


class _Job:
    __slots__ = ("args", "fn", "future", "loop", "on_start", "state", "thread", "timeout_s")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        on_start: Callable[[], None] | None,
        timeout_s: float | None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.on_start = on_start
        self.timeout_s = timeout_s
        self.state = QUEUED
        self.thread: threading.Thread | None = None


_STOP = object()


class SyncPool:
    """`size` daemon threads taking calls from one queue, replacing the ones abandoned."""

    def __init__(
        self,
        size: int,
        max_abandoned: int,
        on_exhausted: Callable[[str], None],
        name: str = "motia-step",
    ) -> None:
        self.size = size
        self.max_abandoned = max_abandoned
        self._on_exhausted = on_exhausted
        self._name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0
        self._abandoned: set[threading.Thread] = set()
        self._started = 0
        self._closed = False

    @property
    def abandoned(self) -> int:
        """Threads still stuck in a call the pool gave up on."""
        return len(self._abandoned)

    def exhausted_message(self) -> str:
        return (
            f"sync pool exhausted: {self.abandoned} thread(s) are stuck in plain def handlers "
            f"or hooks that did not return within their timeout (at most {self.max_abandoned}, "
            "setting max_abandoned_threads); plain def handlers answer 503 until they return "
            "or the server restarts"
        )

    async def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_start: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """`fn(*args)` on a pool thread. Cancelling the caller abandons a running thread."""
        if self.abandoned >= self.max_abandoned:
            raise PoolExhausted(self.exhausted_message())
        job = _Job(fn, args, asyncio.get_running_loop(), on_start, timeout_s)
        self._submit(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            self._give_up(job)
            raise
        except SyncTimeout:
            self._give_up(job)
            raise

    def _submit(self, job: _Job) -> None:
        with self._lock:
            spawn = self._idle == 0 and self._workers < self.size
            if spawn:
                self._workers += 1
        self._jobs.put(job)
        if spawn:
            self._spawn()

    def _spawn(self) -> None:
        self._started += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{self._started}", daemon=True
        )
        thread.start()

    def _give_up(self, job: _Job) -> None:
        """The caller stopped waiting: skip a queued call, abandon a running one's thread."""
        with self._lock:
            if job.state == QUEUED:
                job.state = CANCELLED
                return
            if job.state != RUNNING or job.thread is None:
                return
            self._abandoned.add(job.thread)
            self._workers -= 1
            replace = not self._closed
            if replace:
                self._workers += 1
            exhausted = len(self._abandoned) >= self.max_abandoned
        if replace:
            self._spawn()
        if exhausted:
            self._on_exhausted(self.exhausted_message())

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
                if job is _STOP:
                    self._workers -= 1
                    return
                if job.state == CANCELLED:
                    continue
                job.state = RUNNING
                job.thread = me
            job.loop.call_soon_threadsafe(self._begun, job)
            try:
                outcome, failed = job.fn(*job.args), False
            except Exception as exc:
                outcome, failed = exc, True
            except BaseException as exc:  # sys.exit() in a handler must not stop the server
                outcome = RuntimeError(f"{type(exc).__name__} raised in a plain def function")
                failed = True
            with self._lock:
                job.state = DONE
                was_abandoned = me in self._abandoned
                self._abandoned.discard(me)
            if not job.loop.is_closed():
                job.loop.call_soon_threadsafe(_settle, job.future, outcome, failed)
            if was_abandoned:
                return

    @staticmethod
    def _begun(job: _Job) -> None:
        if job.future.done():
            return
        if job.on_start is not None:
            job.on_start()
        if job.timeout_s is not None:
            job.loop.call_later(job.timeout_s, _expire, job)

    def close(self) -> None:
        """Let the idle threads end; busy ones end when their call returns (daemons, so a
        stuck one never holds up the exit)."""
        with self._lock:
            self._closed = True
            workers = self._workers
        for _ in range(workers):
            self._jobs.put(_STOP)


def _expire(job: _Job) -> None:
    if not job.future.done():
        job.future.set_exception(SyncTimeout(f"did not return within {job.timeout_s:g}s"))


def _settle(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
