"""Watching a project's Python files for hot reload, and nothing else.

The store lives inside the project (`.motia/store.sqlite3`) and is written on every commit.
A recursive watch of the whole project had the kernel report each of those writes, and the
watcher's thread spent about a tenth of the server's CPU per request discarding them. So the
project folder itself is watched alone (its top-level helper modules, folders coming and
going), and each top-level folder that can hold code is watched with everything under it.
Hidden folders (`.motia`, `.git`, `.venv`) and vendored ones are never watched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from engine.discovery import SKIP_DIRS

DEBOUNCE_MS = 50
STEP_MS = 20

Changes = list[tuple[bool, Path]]
"""`(deleted, path)` for each Python file changed in one debounced batch."""


def code_folders(project_dir: Path) -> set[Path]:
    """The top-level folders a step or a helper module may live in."""
    return {
        path
        for path in project_dir.iterdir()
        if path.is_dir() and not _ignored(path.name)
    }


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in SKIP_DIRS


async def watch_project(
    project_dir: Path,
    on_changes: Callable[[Changes], None],
    on_error: Callable[[Path, OSError], None],
    watching: asyncio.Event,
) -> None:
    """Report every batch of changed Python files until cancelled; set `watching` once
    every watch is in place, so a file saved right after start-up is not missed. A folder
    that cannot be watched (the system's limit on watches, say) is reported to `on_error`
    and the others go on.

    Each folder keeps its own watch, so a folder appearing never leaves a gap in the
    others'. What a new folder already holds when it appears is reported as changed, since
    its own watch starts a moment later."""
    folders: dict[Path, asyncio.Task[None]] = {}

    def follow_folders() -> list[Path]:
        present = code_folders(project_dir)
        for gone in folders.keys() - present:
            folders.pop(gone).cancel()
        added = sorted(present - folders.keys())
        for folder in added:
            folders[folder] = asyncio.ensure_future(_watch_folder(folder, on_changes, on_error))
        return added

    follow_folders()
    # Each watch registers with the kernel before its first wait: the folders' tasks on
    # their first step, queued before this callback, and the project's own watch below,
    # before this coroutine first yields.
    asyncio.get_running_loop().call_soon(watching.set)
    try:
        async for changes in awatch(
            project_dir, recursive=False, watch_filter=None, debounce=DEBOUNCE_MS, step=STEP_MS
        ):
            files = _python_files(changes)
            if len(files) < len(changes):
                for folder in follow_folders():
                    files.extend((False, path) for path in _python_files_under(folder))
            if files:
                on_changes(files)
    finally:
        for task in folders.values():
            task.cancel()
        await asyncio.gather(*folders.values(), return_exceptions=True)


async def _watch_folder(
    folder: Path, on_changes: Callable[[Changes], None], on_error: Callable[[Path, OSError], None]
) -> None:
    """Until cancelled, or until the folder goes (the project's watch then drops it)."""
    try:
        async for changes in awatch(
            folder, watch_filter=None, debounce=DEBOUNCE_MS, step=STEP_MS
        ):
            files = _python_files(changes)
            if files:
                on_changes(files)
    except OSError as exc:
        if folder.is_dir():
            on_error(folder, exc)


def _python_files(changes: set[tuple[Change, str]]) -> Changes:
    return [(kind == Change.deleted, Path(path)) for kind, path in changes if path.endswith(".py")]


def _python_files_under(folder: Path) -> list[Path]:
    relative = (path.relative_to(folder) for path in folder.rglob("*.py"))
    return [folder / path for path in relative if not any(_ignored(p) for p in path.parts[:-1])]
