"""Which folders hot reload watches: code, never the store, hidden or vendored folders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from watchfiles import Change, awatch

from engine import watching
from engine.watching import Changes, code_folders, watch_project


def test_code_folders_leave_out_hidden_and_vendored_ones(tmp_path: Path) -> None:
    for folder in ("steps", "src", "services", ".motia", ".git", "node_modules", "__pycache__",
                   "venv"):
        (tmp_path / folder).mkdir()
    (tmp_path / "helper.py").write_text("")
    assert sorted(p.name for p in code_folders(tmp_path)) == ["services", "src", "steps"]


async def test_folders_that_cannot_be_watched_are_reported_and_top_level_files_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when the system's limit on inotify watches is reached inside one big folder."""
    for folder in ("steps", "data"):
        (tmp_path / folder).mkdir()

    def limited_awatch(*paths: Path, **options: Any) -> AsyncIterator[set[tuple[Change, str]]]:
        if options.get("recursive", True):
            raise OSError("OS file watch limit reached")
        return awatch(*paths, **options)

    monkeypatch.setattr(watching, "awatch", limited_awatch)
    changes: list[Changes] = []
    errors: list[tuple[list[Path], OSError]] = []
    in_place = asyncio.Event()

    async def report(batch: Changes) -> None:
        changes.append(batch)

    task = asyncio.ensure_future(
        watch_project(tmp_path, report, lambda f, e: errors.append((f, e)), in_place)
    )
    try:
        await asyncio.wait_for(in_place.wait(), 30)
        (tmp_path / "helper.py").write_text("")
        deadline = asyncio.get_running_loop().time() + 30
        while not changes and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [([f.name for f in folders], str(error)) for folders, error in errors] == [
        (["data", "steps"], "OS file watch limit reached")
    ]
    assert changes == [[(False, tmp_path / "helper.py")]]


async def test_folders_coming_and_going_leave_no_gap_in_the_others(tmp_path: Path) -> None:
    """Each new folder replaces the folders' watch; edits landing meanwhile are all seen."""
    (tmp_path / "steps").mkdir()
    reported: set[Path] = set()
    errors: list[OSError] = []
    in_place = asyncio.Event()

    async def report(batch: Changes) -> None:
        reported.update(path for _deleted, path in batch)

    watch = watch_project(tmp_path, report, lambda _folders, error: errors.append(error), in_place)
    task = asyncio.ensure_future(watch)
    edited = [tmp_path / "steps" / f"s{n}_step.py" for n in range(6)]
    try:
        await asyncio.wait_for(in_place.wait(), 30)
        for n, path in enumerate(edited):
            (tmp_path / f"new{n}").mkdir()
            if n % 2:
                (tmp_path / f"new{n - 1}").rmdir()
            path.write_text("")
            await asyncio.sleep(0.06)
        deadline = asyncio.get_running_loop().time() + 30
        while not set(edited) <= reported and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert set(edited) <= reported
    assert errors == []


async def test_a_folder_appearing_during_a_slow_reload_neither_cuts_it_nor_loses_edits(
    tmp_path: Path,
) -> None:
    """A reload can take seconds (imports, the lock); the replaced watch must let it finish
    and still report the edit it saw meanwhile, however long that takes."""
    steps = tmp_path / "steps"
    steps.mkdir()
    first, second = steps / "a_step.py", steps / "b_step.py"
    reported: list[Path] = []
    finished: list[Path] = []
    errors: list[OSError] = []
    in_place = asyncio.Event()

    async def slow_reload(batch: Changes) -> None:
        reported.extend(path for _deleted, path in batch)
        if first in reported and first not in finished:
            await asyncio.sleep(0.6)
        finished.extend(path for _deleted, path in batch)

    task = asyncio.ensure_future(
        watch_project(tmp_path, slow_reload, lambda _f, error: errors.append(error), in_place)
    )
    try:
        await asyncio.wait_for(in_place.wait(), 30)
        first.write_text("")
        deadline = asyncio.get_running_loop().time() + 30
        while first not in reported and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        second.write_text("")
        await asyncio.sleep(0.15)
        (tmp_path / "new").mkdir()
        deadline = asyncio.get_running_loop().time() + 30
        while not {first, second} <= set(finished) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert {first, second} <= set(finished)
    assert errors == []
