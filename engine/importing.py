"""Importing step files off the event loop, with a time limit.

A step file runs arbitrary code at import: a `time.sleep` stalls every request while it runs
on the loop, and a loop that never ends at import keeps the server from serving at all (and,
holding the loop, from hearing SIGTERM). So each import runs in a daemon thread of its own and
the loop waits for it at most `import_timeout_s`. A thread cannot be stopped: an import past
the limit is abandoned, reported with its file and the line it was running, and may keep using
a core until the process exits; the other steps keep serving meanwhile.

Each load of a file after its first gets a fresh module name, so a fixed file can load while a
stuck import of the previous version still holds the old one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from pathlib import Path

from engine import discovery
from engine.steps import StepError


class ImportTimedOut(StepError):
    """An import still running at the limit: abandoned in its thread."""


class Importer:
    """Imports a project's files in threads, each load under a name of its own."""

    def __init__(self, project_dir: Path, timeout_s: float) -> None:
        self._project_dir = project_dir
        self._timeout_s = timeout_s
        self._loads: dict[Path, int] = {}
        self._names: dict[Path, str] = {}
        self.abandoned = 0
        """Imports still running past their limit."""

    async def load(self, path: Path) -> types.ModuleType:
        """Import `path`; raise `StepError` naming the file and line when it fails, and
        `ImportTimedOut` when it does not finish in time."""
        count = self._loads[path] = self._loads.get(path, 0) + 1
        name = discovery.module_name(path, self._project_dir)
        if count > 1:
            name = f"{name}__load{count}"
        loop = asyncio.get_running_loop()
        done: asyncio.Future[types.ModuleType] = loop.create_future()
        worker = threading.Thread(
            target=self._run, args=(loop, done, path, name), name=f"motia-import-{path.name}",
            daemon=True,
        )
        worker.start()
        try:
            module = await asyncio.wait_for(asyncio.shield(done), self._timeout_s)
        except TimeoutError:
            self.abandoned += 1
            done.add_done_callback(lambda _: self._finished_late(name))
            raise self._timed_out(path, worker) from None
        previous = self._names.get(path)
        if previous is not None and previous != name:
            sys.modules.pop(previous, None)
        self._names[path] = name
        return module

    def _finished_late(self, name: str) -> None:
        """An abandoned import ended after all: it no longer holds a core, and what it made is
        not in service (a newer load of its file, if any, is)."""
        self.abandoned -= 1
        sys.modules.pop(name, None)

    def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        done: asyncio.Future[types.ModuleType],
        path: Path,
        name: str,
    ) -> None:
        try:
            module = discovery.import_file(path, self._project_dir, name)
        except BaseException as exc:
            _post(loop, done, None, exc)
        else:
            _post(loop, done, module, None)

    def _timed_out(self, path: Path, worker: threading.Thread) -> ImportTimedOut:
        where, line = self._running_line(path, worker)
        message = (
            f"import did not finish within {self._timeout_s:g}s (setting import_timeout_s); "
            f"it was running {where.name}:{line}. The import is abandoned: its thread may keep "
            "using a core until the process exits"
        )
        if where == path:
            return ImportTimedOut(path, line, message)
        return ImportTimedOut(
            where, line, message, (str(path.relative_to(self._project_dir)),)
        )

    def _running_line(self, path: Path, worker: threading.Thread) -> tuple[Path, int]:
        """The innermost line of the project's own code the import thread is running."""
        frame = sys._current_frames().get(worker.ident or -1)
        while frame is not None:
            file = Path(frame.f_code.co_filename)
            if file == path or discovery.own_code(file, self._project_dir):
                return file, frame.f_lineno
            frame = frame.f_back
        return path, 1


def _post(
    loop: asyncio.AbstractEventLoop,
    done: asyncio.Future[types.ModuleType],
    module: types.ModuleType | None,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            assert module is not None
            done.set_result(module)

    if not loop.is_closed():
        loop.call_soon_threadsafe(settle)
