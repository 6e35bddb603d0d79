"""A damaged store file: `motia dev` refuses it in one line naming the file (never a
traceback), `--reset-store` keeps a copy and starts afresh, an empty file warns, and damage
confined to the trace and log history opens with the state and the queue intact."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from engine_support import served
from process_support import MOTIA, free_port, motia

from engine import Settings

PAGE = 4096
FILES = {
    "steps/put_step.py": """
        config = {"type": "api", "name": "Put", "path": "/kv/:key", "method": "PUT"}

        async def handler(req, ctx):
            await ctx.state.set("kv", req.pathParams["key"], req.body)
            return {"status": 200, "body": {"ok": True}}
    """,
    "steps/get_step.py": """
        config = {"type": "api", "name": "Get", "path": "/kv/:key", "method": "GET"}

        async def handler(req, ctx):
            value = await ctx.state.get("kv", req.pathParams["key"])
            return {"status": 200 if value is not None else 404, "body": {"value": value}}
    """,
    "steps/mark_step.py": """
        config = {"type": "event", "name": "Mark", "subscribes": ["mark"]}

        async def handler(data, ctx):
            await ctx.state.set("kv", "marked", data)
    """,
}


@pytest.fixture
async def store_project(project: Callable[[dict[str, str]], Path]) -> tuple[Path, Path]:
    """A project whose store holds 200 keys and their 200 traces, written by a real engine,
    plus one delivery still queued (as a process killed before running it leaves it)."""
    project_dir = project(FILES)
    store = project_dir / ".motia" / "store.sqlite3"
    async with served(project_dir, Settings(store=str(store))) as (_engine, client):
        for number in range(200):
            response = await client.put(f"/kv/k{number}", json={"n": number, "pad": "x" * 200})
            assert response.status_code == 200
    with sqlite3.connect(store) as conn:
        conn.execute(
            "INSERT INTO queue VALUES ('queued-1', 1, 'mark', 'Mark', '{\"left\": \"queued\"}', "
            "'trace-1', NULL, 1, 0)"
        )
    conn.close()
    return project_dir, store


def root_page(store: Path, table: str) -> int:
    with sqlite3.connect(store) as conn:
        (page,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
    conn.close()
    return int(page[0])


def overwrite_page(store: Path, page: int) -> None:
    data = bytearray(store.read_bytes())
    data[(page - 1) * PAGE : page * PAGE] = os.urandom(PAGE)
    store.write_bytes(bytes(data))


def start_dev(project_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MOTIA, "dev", "--no-tui", "--dir", str(project_dir), "--port", str(free_port()), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


DAMAGE: dict[str, Callable[[Path], None]] = {
    "random bytes": lambda store: store.write_bytes(os.urandom(50_000)),
    "a text file": lambda store: store.write_text("not a database\n" * 100),
    "truncated to its header": lambda store: store.write_bytes(store.read_bytes()[:100]),
    "truncated to half": lambda store: store.write_bytes(
        store.read_bytes()[: store.stat().st_size // 2]
    ),
    "a wrong magic number": lambda store: store.write_bytes(b"X" + store.read_bytes()[1:]),
    "a damaged state table": lambda store: overwrite_page(store, root_page(store, "state")),
    "a damaged queue table": lambda store: overwrite_page(store, root_page(store, "queue")),
    "a damaged schema page": lambda store: overwrite_page(store, 1),
}


async def test_a_damaged_store_refuses_to_start_in_one_line_naming_the_file(
    store_project: tuple[Path, Path],
) -> None:
    project_dir, store = store_project
    pristine = store.read_bytes()
    for what, damage in DAMAGE.items():
        store.write_bytes(pristine)
        damage(store)
        damaged = store.read_bytes()
        result = start_dev(project_dir)
        assert result.returncode == 1, (what, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, what
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"motia: {store} cannot be used as a store ("), (what, line)
        assert "--reset-store" in line, what
        assert store.read_bytes() == damaged, f"{what}: a refused store must be left as it was"


async def test_reset_store_keeps_the_damaged_file_and_starts_empty(
    store_project: tuple[Path, Path],
) -> None:
    project_dir, store = store_project
    store.write_text("not a database\n" * 100)
    with motia(["dev", "--no-tui", "--reset-store"], project_dir) as running:
        running.wait_serving()
        assert httpx.get(f"{running.url}/kv/k1").status_code == 404
        running.wait_for_line("kept it as store.sqlite3.corrupt-")
    (copy,) = store.parent.glob("store.sqlite3.corrupt-*")
    assert copy.read_text() == "not a database\n" * 100


async def test_an_empty_store_file_starts_with_a_warning(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project(FILES)
    store = project_dir / ".motia" / "store.sqlite3"
    store.parent.mkdir(parents=True)
    store.touch()
    with motia(["dev", "--no-tui"], project_dir) as running:
        running.wait_serving()
        line = running.wait_for_line("was an empty file (0 bytes)")
        assert line.startswith("WARN")


@pytest.mark.parametrize("table", ["spans", "logs", "spans_trace"])
async def test_damaged_history_opens_with_state_and_queue_intact(
    store_project: tuple[Path, Path], table: str
) -> None:
    project_dir, store = store_project
    overwrite_page(store, root_page(store, table))
    with motia(["dev", "--no-tui"], project_dir) as running:
        running.wait_serving()
        for number in (0, 99, 199):
            answer = httpx.get(f"{running.url}/kv/k{number}")
            assert answer.json()["value"]["n"] == number
        line = running.wait_for_line("the trace and log history was damaged")
        assert "state, streams, the queue and dead letters are intact" in line
        running.wait_for_line("resuming 1 queued event(s)")
        running.wait_until(lambda: httpx.get(f"{running.url}/kv/marked").status_code == 200)
        marked = httpx.get(f"{running.url}/kv/marked")
        assert marked.json()["value"] == {"left": "queued"}
    (copy,) = store.parent.glob("store.sqlite3.corrupt-*")
    assert copy.stat().st_size > 0
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    conn.close()
