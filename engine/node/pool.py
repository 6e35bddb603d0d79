"""The project's Node workers: one to start with, another while every one is busy, a new one
when one dies.

Every worker loads every Node step file, so any of them can take any run. A worker that dies
is replaced (after a short pause when deaths come quickly, so a handler that kills its worker
each time cannot spin the machine); runs asked for meanwhile wait for the replacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from engine.context import FlowContext
from engine.logs import StepLogger
from engine.node.worker import NodeWorker
from engine.runs import HandlerLost

MAX_WORKERS = 2
BUSY_RUNS = 32
"""Runs in flight on the least busy worker before the pool starts another."""
WAIT_FOR_WORKER_S = 30.0
RESTART_PAUSE_S = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)
QUICK_DEATH_S = 10.0


class NodePool:
    """Workers for one project, started on first need and stopped with the engine."""

    def __init__(
        self,
        node: str,
        project_dir: Path,
        esbuild: Path | None,
        system_log: StepLogger,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        self._node = node
        self._project_dir = project_dir
        self._esbuild = esbuild
        self._log = system_log
        self._max = max_workers
        self.workers: list[NodeWorker] = []
        self.files: dict[Path, None] = {}
        """The Node step files in service, in load order: what a new worker loads."""
        self._starting = 0
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._deaths: list[float] = []
        self._stopping = False
        self.restarts = 0

    async def start(self) -> None:
        self._starting += 1
        await self._add_worker(load=False)

    def _spawn(self) -> NodeWorker:
        return NodeWorker(self._node, self._project_dir, self._esbuild, self._log, self._lost)

    async def _add_worker(self, load: bool = True) -> None:
        """Start a worker, load every file in service into it, and put it in the pool.
        Counted in `_starting` from the moment it is decided (callers count it), so a burst
        of busy runs starts one, not one each."""
        try:
            worker = self._spawn()
            await worker.start()
            loaded: set[Path] = set()
            while load and set(self.files) - loaded:
                for path in [p for p in self.files if p not in loaded]:
                    loaded.add(path)
                    answer = await worker.load(path)
                    if answer["t"] == "failed":
                        self._log.warn(
                            f"node worker {worker.pid}: {path} did not load: "
                            f"{answer['error']['message']}"
                        )
            if self._stopping:
                await worker.stop()
                return
            self.workers.append(worker)
        finally:
            self._starting -= 1
            self._changed.set()

    def _background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lost(self, worker: NodeWorker, code: int | None) -> None:
        """A worker died: its runs have failed with HandlerLost; start its replacement."""
        if worker in self.workers:
            self.workers.remove(worker)
        if self._stopping:
            return
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < QUICK_DEATH_S] + [now]
        pause = RESTART_PAUSE_S[min(len(self._deaths) - 1, len(RESTART_PAUSE_S) - 1)]
        self._log.error(
            f"node worker {worker.pid} exited"
            + (f" with code {code}" if code is not None else "")
            + f"; starting another{f' in {pause:g}s' if pause else ''}"
        )
        self.restarts += 1
        self._background(self._replace(pause))

    async def _replace(self, pause: float) -> None:
        if pause:
            await asyncio.sleep(pause)
        if self.workers or self._stopping or self._starting:
            return
        self._starting += 1
        try:
            await self._add_worker()
        except (HandlerLost, OSError) as exc:
            self._log.error(f"the node worker could not be started again: {exc}")
            self._background(self._replace(RESTART_PAUSE_S[-1]))

    async def _worker(self) -> NodeWorker:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_FOR_WORKER_S
        while not self.workers:
            if self._stopping:
                raise HandlerLost("the node workers are stopping")
            if not self._starting and not self._tasks:
                self._background(self._replace(0.0))
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise HandlerLost(f"no node worker came up within {WAIT_FOR_WORKER_S:g}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        worker = min(self.workers, key=lambda w: w.in_flight)
        if worker.in_flight >= BUSY_RUNS and len(self.workers) + self._starting < self._max:
            self._starting += 1
            self._background(self._grow())
        return worker

    async def _grow(self) -> None:
        try:
            await self._add_worker()
        except (HandlerLost, OSError) as exc:
            self._log.warn(f"could not start another node worker: {exc}")

    async def load(self, path: Path) -> dict[str, Any]:
        """Load (or reload) a file in every worker; the answer is the first worker's."""
        self.files[path] = None
        first = await self._worker()
        answer = await first.load(path)
        others = [w for w in self.workers if w is not first]
        await asyncio.gather(*(w.load(path) for w in others), return_exceptions=True)
        return answer

    def forget(self, path: Path) -> None:
        self.files.pop(path, None)
        for worker in self.workers:
            worker.forget(path)

    async def run(self, path: Path, kind: str, input_: Any, context: FlowContext) -> Any:
        worker = await self._worker()
        return await worker.run(path, kind, input_, context)

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        workers, self.workers = self.workers, []
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
