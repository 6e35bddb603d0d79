"""Run timeouts: one sweeper cancels the runs that pass their step's timeout."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.context import Run


class Deadlines:
    """Cancels runs that pass their step's timeout.

    One sweep every tenth of a second rather than a timer per run: timeouts are seconds long,
    and arming and disarming a timer per run costs more than a small handler on the hot path.
    """

    TICK_S = 0.1

    def __init__(self) -> None:
        self._runs: dict[int, tuple[float, asyncio.Task[Any], Run]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def watch(self, run: Run, task: asyncio.Task[Any], timeout_s: float) -> None:
        loop = task.get_loop()
        self._runs[id(run)] = (loop.time() + timeout_s, task, run)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep())

    def forget(self, run: Run) -> None:
        self._runs.pop(id(run), None)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while self._runs:
            await asyncio.sleep(self.TICK_S)
            now = loop.time()
            for key, (deadline, task, run) in list(self._runs.items()):
                if now >= deadline:
                    del self._runs[key]
                    run.timed_out = True
                    task.cancel()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
