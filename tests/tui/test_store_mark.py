"""The header says when the store cannot write, and stops saying it once it writes again.

The store sits on a small tmpfs the test fills up under the running workbench (the test runs
as root, as CI does), so SQLite itself refuses the commit.
"""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import httpx
from pane_harness import copy_project, wait_for

from engine.settings import Settings
from motia_tui.app import make_workbench
from motia_tui.source import LocalSource


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:
        for size in (65_536, 512):
            try:
                while True:
                    file.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


async def test_the_header_marks_a_store_that_cannot_write(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
    try:
        settings = Settings(store=str(disk / "store.sqlite3"))
        source = LocalSource(copy_project(tmp_path), settings, "127.0.0.1", 0, watch=False)
        app = make_workbench(source)
        async with app.run_test(size=(160, 36)) as pilot:
            await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
            mark = app.query_one("#header-store")
            assert not mark.display
            filler = fill(disk)
            async with httpx.AsyncClient(base_url=source.label) as client:
                for _ in range(500):
                    answer = await client.post("/greet", json={"name": "Ada" * 500})
                    if answer.status_code == 503:
                        break
                    assert answer.status_code == 200, answer.text
            await wait_for(lambda: mark.display, what="the store mark")
            assert "store failing: database or disk is full" in str(mark.render())
            filler.unlink()
            await wait_for(lambda: not mark.display, timeout=30, what="the mark to go")
            async with httpx.AsyncClient(base_url=source.label) as client:
                assert (await client.post("/greet", json={"name": "Ada"})).status_code == 200
            await pilot.press("q")
            await wait_for(lambda: app._exit, what="the workbench to quit")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
