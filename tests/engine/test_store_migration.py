"""A store written by an older release opens and keeps its state, queued events and dead letters."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from engine_support import FIXTURES, wait_until

from engine.stores.sqlite.schema import VERSION


def version_1_project(tmp_path: Path) -> Path:
    """The fixture project with the store an older release wrote."""
    root = tmp_path / "store_v1"
    shutil.copytree(FIXTURES / "store_v1" / "steps", root / "steps")
    (root / ".motia").mkdir()
    store = root / ".motia" / "store.sqlite3"
    shutil.copy(FIXTURES / "store_v1" / "store.sqlite3", store)
    # Its queued events wait a day from when the fixture was written: a day from now instead,
    # or the test would change its meaning once that day is over.
    conn = sqlite3.connect(store)
    try:
        with conn:
            conn.execute("UPDATE queue SET not_before = ? + 86400", (time.time(),))
    finally:
        conn.close()
    return root


async def test_a_version_1_store_opens_with_everything_in_it(tmp_path: Path, serve) -> None:
    root = version_1_project(tmp_path)
    async with serve(root) as (engine, client):
        state = (await client.get("/__motia/state")).json()["groups"]
        assert state == {"kept": {"a": {"n": "a"}, "b": {"n": "b"}}}
        assert engine.recovered == 2
        edges = (await client.get("/__motia/stats")).json()["edges"]
        assert edges == [{"topic": "later", "to": "Later", "queued": 2}]
        dead = (await client.get("/__motia/dlq")).json()["items"]
        assert sorted(item["data"]["key"] for item in dead) == ["a", "b"]
        assert {item["error"] for item in dead} == {"doomed to fail"}
        assert {item["step"] for item in dead} == {"Doomed"}
        assert [item["traceback"] for item in dead] == [None, None]  # stored before tracebacks
        await client.post("/put/c", json={"n": "c"})
        await wait_until(lambda: len(engine.bus.dlq) == 3, what="the new dead letter")
        await engine.store.settled()
    conn = sqlite3.connect(root / ".motia" / "store.sqlite3")
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (VERSION,)
        assert conn.execute("SELECT count(*) FROM queue").fetchone() == (3,)
        (traceback,) = conn.execute(
            "SELECT traceback FROM dlq WHERE traceback IS NOT NULL"
        ).fetchone()
        assert "RuntimeError: doomed to fail" in traceback
    finally:
        conn.close()
    async with serve(root) as (engine, _client):
        assert engine.recovered == 3


async def test_traces_of_a_version_1_store_are_found_after_the_index_changed(
    tmp_path: Path, serve
) -> None:
    """Version 3 indexes spans by the time a trace id ends with; ids made before it (all
    random) are still found, and new ones carry the time their trace began."""
    root = version_1_project(tmp_path)
    async with serve(root) as (engine, client):
        old = await engine.traces.find("dc09de386854fb54f704cb4d18f8f431")
        assert old is not None
        assert {span["spanId"] for span in old["spans"]} == {
            "8bd77cd94aa65b1af489ebe22eb6a2bd",
            "3152fff395c9ffa33c6fa28594d0a675",
        }
        answer = await client.post("/put/d", json={"n": "d"})
        trace_id = answer.headers["x-trace-id"]
        await engine.store.settled()
        stored = engine.traces.load(trace_id)
        assert stored is not None
        (root_span,) = [span for span in stored["spans"] if span["parentId"] is None]
        assert len(trace_id) == 32
        assert abs(int(trace_id[20:], 16) - root_span["start"]) < 1_000
    conn = sqlite3.connect(root / ".motia" / "store.sqlite3")
    try:
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'spans_trace'"
        ).fetchone()
        assert "substr(trace_id, 21)" in sql
    finally:
        conn.close()
