"""Node step files in the engine: loading them through the workers into the same registry as
the Python steps, reloading them on change, and the handler each one gets.

A Node step's handler is an async Python function that hands the call to a worker and serves
its context calls with the run's own `FlowContext`, so the executor runs it like any other.
Nothing starts Node unless the project has such files.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import discovery
from engine.logs import StepLogger
from engine.node.pool import NodePool
from engine.node.toolchain import (
    TYPESCRIPT_SUFFIXES,
    ToolchainError,
    check_node,
    find_esbuild,
    find_node,
    needs_transpiler,
)
from engine.runs import HandlerLost
from engine.steps import Step, StepError, build_step

_CONFIG_LINE = re.compile(r"^\s*(export\s+)?(const|let|var)\s+config\b|^\s*exports\.config\b")

Install = Callable[[Path, Step], None]
Fail = Callable[[Path, StepError, bool], None]
Remove = Callable[[Path], None]


def language_of(path: Path) -> str:
    return "typescript" if path.suffix in TYPESCRIPT_SUFFIXES else "javascript"


def node_config_line(path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    return next((n for n, text in enumerate(lines, 1) if _CONFIG_LINE.match(text)), 1)


class NodeSteps:
    """The project's TypeScript and JavaScript steps and the pool that runs them."""

    def __init__(
        self,
        project_dir: Path,
        system_log: StepLogger,
        install: Install,
        fail: Fail,
        remove: Remove,
        reloaded: Callable[[], None] | None = None,
    ) -> None:
        """`reloaded`: called once a batch of saves is in service (the engine rewrites
        types.d.ts then); a reader that never reloads leaves it out."""
        self._project_dir = project_dir
        self._log = system_log
        self._install = install
        self._fail = fail
        self._remove = remove
        self._reloaded = reloaded
        self.pool: NodePool | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.loaded: dict[Path, None] = {}

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self._project_dir))

    async def _ensure_pool(self, files: list[Path]) -> NodePool | None:
        """The pool, started on first need; None (every file failed, one line said why)
        when Node or esbuild cannot be had."""
        if self.pool is not None:
            return self.pool
        try:
            node = find_node()
            await check_node(node)
            esbuild = (
                await find_esbuild(self._project_dir, self._log.info)
                if needs_transpiler(discovery.find_node_files(self._project_dir) + files)
                else None
            )
            pool = NodePool(node, self._project_dir, esbuild, self._log)
            await pool.start()
        except (ToolchainError, HandlerLost, OSError) as exc:
            names = ", ".join(self._relative(path) for path in files)
            self._log.error(f"{exc}: cannot run {names}")
            for path in files:
                self._fail(path, StepError(path, 1, f"cannot run: {exc}"), False)
            return None
        self.pool = pool
        return pool

    async def load_all(self) -> None:
        files = discovery.find_node_files(self._project_dir)
        if files:
            await self.load(files)

    async def load(self, files: list[Path]) -> list[Path]:
        """Load files in order; answers those that now serve their new version."""
        async with self._lock:
            pool = await self._ensure_pool(files)
            if pool is None:
                return []
            return [path for path in files if await self._load_one(pool, path)]

    async def _load_one(self, pool: NodePool, path: Path) -> bool:
        try:
            answer = await pool.load(path)
        except HandlerLost as exc:
            self._fail(path, StepError(path, 1, f"the node worker failed: {exc}"), True)
            return False
        if answer["t"] == "failed":
            error = answer["error"]
            where = Path(error.get("file") or path)
            imported_by = () if where == path else (self._relative(path),)
            self._fail(
                path,
                StepError(where, error.get("line"), str(error.get("message")), imported_by),
                True,
            )
            return False
        kind = str(answer["config"].get("type"))
        handler = self._handler(pool, path, kind) if answer.get("hasHandler") else None
        try:
            step = build_step(answer["config"], handler, path, node_config_line(path))
        except StepError as exc:
            self._fail(path, exc, True)
            return False
        step.language = language_of(path)
        try:
            self._install(path, step)
        except StepError as exc:
            self._fail(path, exc, True)
            return False
        self.loaded[path] = None
        return True

    @staticmethod
    def _handler(pool: NodePool, path: Path, kind: str) -> Callable[..., Any]:
        async def handler(*args: Any) -> Any:
            *inputs, context = args
            return await pool.run(path, kind, inputs[0] if inputs else None, context)

        return handler

    def changed(self, changes: list[tuple[bool, Path]]) -> None:
        """Files saved or deleted (from the watcher): reload in the background, in order."""
        task = asyncio.ensure_future(self._apply(changes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, changes: list[tuple[bool, Path]]) -> None:
        steps = [(deleted, p) for deleted, p in changes if discovery.is_node_step_file(p)]
        helper_changed = len(steps) < len(changes)
        for deleted, path in steps:
            if deleted:
                self._remove(path)
                self.loaded.pop(path, None)
                if self.pool is not None:
                    self.pool.forget(path)
                self._log.info(f"removed {self._relative(path)}")
        if helper_changed:
            paths = [p for p in discovery.find_node_files(self._project_dir) if p.exists()]
        else:
            paths = [p for deleted, p in steps if not deleted and p.exists()]
        reloaded = await self.load(paths) if paths else []
        if self._reloaded is not None:
            self._reloaded()
        if not paths:
            return
        if helper_changed:
            self._log.info("a TypeScript or JavaScript module changed: reloaded the Node steps")
            return
        for path in reloaded:
            self._log.info(f"reloaded {self._relative(path)}")

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.pool is not None:
            await self.pool.stop()
            self.pool = None
