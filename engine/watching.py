"""Watching a project's code files (Python, TypeScript, JavaScript) for hot reload, and
nothing else.

The store lives inside the project (`.motia/store.sqlite3`) and is written on every commit.
A recursive watch of the whole project had the kernel report each of those writes, and the
watcher's thread spent about a tenth of the server's CPU per request discarding them. So the
project folder itself is watched alone (its top-level helper modules, folders coming and
going), and the top-level folders that can hold code are watched with everything under
them. Hidden folders (`.motia`, `.git`, `.venv`) and vendored ones are never watched.

Two watches in all, whatever the number of folders: each costs an inotify instance (128 per
user by default) and a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, awatch

from engine.discovery import NODE_CODE_SUFFIXES, SKIP_DIRS

CODE_SUFFIXES = (".py", *NODE_CODE_SUFFIXES)

DEBOUNCE_MS = 50
STEP_MS = 50
"""How often a watch's thread wakes to ask whether it should stop: each wake takes the
interpreter lock from the loop (two watches waking every 20 ms cost a busy server about 1.2
us of CPU a request). A saved file reloads 50 to 100 ms after it changed."""
IDLE_WAKE_MS = 1_000
"""How often an idle folders' watch hands its (empty) batch back: a replaced watch ends on its
second batch after its successor is in place, so it never waits longer than two of these."""

Changes = list[tuple[bool, Path]]
"""`(deleted, path)` for each code file (Python, TypeScript, JavaScript) changed in one
debounced batch."""
OnChanges = Callable[[Changes], Awaitable[None]]
OnError = Callable[[list[Path], OSError], None]


def code_folders(project_dir: Path) -> set[Path]:
    """The top-level folders a step or a helper module may live in."""
    return {path for path in project_dir.iterdir() if path.is_dir() and not _ignored(path.name)}


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in SKIP_DIRS


async def watch_project(
    project_dir: Path, on_changes: OnChanges, on_error: OnError, watching: asyncio.Event
) -> None:
    """Report every batch of changed Python files until cancelled; set `watching` once the
    watches are in place, so a file saved right after start-up is not missed. Folders that
    cannot be watched (the system's limit on watches, say) go to `on_error`.

    When top-level folders come or go, the folders' watch is replaced: the new one is in
    place before the old one is told to stop, and the old one goes on until it has reported
    everything it saw before that, however long a reload keeps it, so no change falls between
    them and no reload is cut short (a change may be reported twice). What a new folder
    already holds when it appears is reported as changed, since its watch starts later."""
    watched: set[Path] = set()
    folders_watch: tuple[asyncio.Task[None], asyncio.Event] | None = None
    retiring: set[asyncio.Task[None]] = set()

    def retire(task: asyncio.Task[None], replaced: asyncio.Event) -> None:
        retiring.add(task)
        task.add_done_callback(retiring.discard)
        # Queued after the successor's first step, which registers its watch with the kernel.
        asyncio.get_running_loop().call_soon(replaced.set)

    def follow_folders() -> list[Path]:
        nonlocal folders_watch, watched
        present = code_folders(project_dir)
        if present == watched:
            return []
        added = sorted(present - watched)
        previous, watched = folders_watch, present
        folders_watch = None
        if present:
            replaced = asyncio.Event()
            task = asyncio.ensure_future(
                _watch_folders(sorted(present), on_changes, on_error, replaced)
            )
            folders_watch = (task, replaced)
        if previous is not None:
            retire(*previous)
        return added

    follow_folders()
    # A watch registers with the kernel before its first wait: the folders' on its task's
    # first step, queued before this callback, and the project's own below, before this
    # coroutine first yields.
    asyncio.get_running_loop().call_soon(watching.set)
    try:
        async for changes in awatch(
            project_dir, recursive=False, watch_filter=None, debounce=DEBOUNCE_MS, step=STEP_MS
        ):
            files = _code_files(changes)
            if len(files) < len(changes):
                for folder in follow_folders():
                    files.extend((False, path) for path in _code_files_under(folder))
            if files:
                await on_changes(files)
    finally:
        tasks = [*retiring, *([folders_watch[0]] if folders_watch is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _watch_folders(
    folders: list[Path], on_changes: OnChanges, on_error: OnError, replaced: asyncio.Event
) -> None:
    """Until replaced, and then until a batch gathered wholly after the successor was in
    place has been reported: everything seen before is in it or in an earlier one. A folder
    removed as the watch starts makes it fail: the project's watch sees the folder go and
    starts another, so only a failure with every folder still there is reported."""
    last_batch_due = False
    try:
        async for changes in awatch(
            *folders,
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            rust_timeout=IDLE_WAKE_MS,
            yield_on_timeout=True,
        ):
            files = _code_files(changes)
            if files:
                await on_changes(files)
            if replaced.is_set():
                if last_batch_due:
                    return
                last_batch_due = True  # the next one is gathered wholly after the successor started
    except OSError as exc:
        if all(folder.is_dir() for folder in folders):
            on_error(folders, exc)


def _code_files(changes: set[tuple[Change, str]]) -> Changes:
    return [
        (kind == Change.deleted, Path(path))
        for kind, path in changes
        if path.endswith(CODE_SUFFIXES)
    ]


def _code_files_under(folder: Path) -> list[Path]:
    relative = (
        path.relative_to(folder) for path in folder.rglob("*") if path.name.endswith(CODE_SUFFIXES)
    )
    return [folder / path for path in relative if not any(_ignored(p) for p in path.parts[:-1])]
