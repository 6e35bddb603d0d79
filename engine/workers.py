"""An elastic pool of worker coroutines for running deliveries.

A task per delivery costs more than a small handler: creating it registers it in asyncio's
task set (a Python WeakSet) and schedules it. Workers instead live on: each takes items
from one queue, and a new worker starts only when an item arrives and none is idle, so as
many items run at once as are waiting on I/O, and a busy chain reuses a few warm workers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")

MAX_IDLE_WORKERS = 64


class WorkerPool(Generic[Item]):
    """Runs `work(item)` for every submitted item, concurrently, never blocking the caller."""

    def __init__(self, work: Callable[[Item], Awaitable[object]]) -> None:
        self._work = work
        self._queue: deque[Item] = deque()
        self._idle: deque[asyncio.Future[None]] = deque()
        self.workers: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> None:
        self._queue.append(item)
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        task = asyncio.get_running_loop().create_task(self._worker())
        self.workers.add(task)
        task.add_done_callback(self.workers.discard)

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self._queue:
                await self._work(self._queue.popleft())
                await asyncio.sleep(0)
            if len(self._idle) >= MAX_IDLE_WORKERS:
                return
            waiter = loop.create_future()
            self._idle.append(waiter)
            await waiter

    async def stop(self) -> None:
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        self._idle.clear()
