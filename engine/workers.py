"""An elastic pool of worker coroutines for running deliveries.

A task per delivery costs more than a small handler: creating it registers it in asyncio's
task set (a Python WeakSet) and schedules it. Workers instead live on, taking items from one
queue. The pool grows only when its workers stop making progress: if a millisecond passes
with items waiting and none finished, every worker is stuck awaiting I/O in a handler, so the
pool doubles. Fast handlers are drained by a few warm workers; slow ones still all run at once.

A worker awaits `work(item)` itself and calls back only when there is something to do after
it (`again` when it answered False, `failed` when it raised), so an item costs no coroutine
of its own around the work.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")

MAX_IDLE_WORKERS = 64
STALL_S = 0.001
TURN_S = 0.001
"""How long a worker may run items back to back before it lets the loop serve others: a
loop turn per item would cost a system call per item."""


class WorkerPool(Generic[Item]):
    """Runs `work(item)` for every submitted item, concurrently, never blocking the caller;
    `again(item)` when the work answers False, `failed(item, exc)` when it raises (a worker
    that raised would take no more items)."""

    def __init__(
        self,
        work: Callable[[Item], Awaitable[bool]],
        again: Callable[[Item], None],
        failed: Callable[[Item, Exception], None],
    ) -> None:
        self.work = work
        self._again = again
        self._failed = failed
        self._queue: deque[Item] = deque()
        self._idle: deque[asyncio.Future[None]] = deque()
        self._finished = 0
        self._finished_at_check = 0
        self._check: asyncio.TimerHandle | None = None
        self.workers: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> None:
        self._queue.append(item)
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        if not self.workers:
            self._spawn(1)
        elif self._check is None:
            self._watch()

    def _spawn(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            task = loop.create_task(self._worker())
            self.workers.add(task)
            task.add_done_callback(self.workers.discard)

    def _watch(self) -> None:
        self._finished_at_check = self._finished
        self._check = asyncio.get_running_loop().call_later(STALL_S, self._relieve)

    def _relieve(self) -> None:
        """Items wait and no worker finished one since the last look: all are stuck."""
        self._check = None
        if not self._queue:
            return
        if self._finished == self._finished_at_check:
            self._spawn(min(len(self._queue), max(1, len(self.workers))))
        self._watch()

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            turn_ends = loop.time() + TURN_S
            while self._queue:
                item = self._queue.popleft()
                try:
                    if not await self.work(item):
                        self._again(item)
                except Exception as exc:
                    self._failed(item, exc)
                self._finished += 1
                if loop.time() >= turn_ends:
                    await asyncio.sleep(0)
                    turn_ends = loop.time() + TURN_S
            if len(self._idle) >= MAX_IDLE_WORKERS:
                return
            waiter = loop.create_future()
            self._idle.append(waiter)
            await waiter

    def clear(self) -> None:
        """Drop the items not yet taken (the workers stay)."""
        self._queue.clear()

    async def stop(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self._idle.clear()
