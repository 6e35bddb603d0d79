"""A store written by an older release opens and keeps its state, queued events and dead letters."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from engine_support import FIXTURES, wait_until

from engine.stores.sqlite.schema import VERSION


async def test_a_version_1_store_opens_with_everything_in_it(tmp_path: Path, serve) -> None:
    root = tmp_path / "store_v1"
    shutil.copytree(FIXTURES / "store_v1" / "steps", root / "steps")
    (root / ".motia").mkdir()
    shutil.copy(FIXTURES / "store_v1" / "store.sqlite3", root / ".motia" / "store.sqlite3")
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
