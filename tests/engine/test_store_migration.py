"""A store written by an older release opens and keeps its state, queued events and dead letters."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine_support import FIXTURES


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
