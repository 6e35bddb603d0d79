"""A Redis restart and a draining worker under load: no 2xx lost, every event handled once."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import httpx
import pytest
import redis
from cluster_support import workers
from redis_support import PrivateRedis
from test_workers import done, post_all, project, wait_for


@pytest.mark.timeout(400)
async def test_a_redis_restart_mid_load_loses_no_2xx(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    server.start()
    runs = tmp_path / "runs.txt"
    try:
        with workers(2, project(tmp_path), server.url, "restart", tmp_path,
                     RUNS_FILE=str(runs)) as (a, b):
            before = await post_all([a.url, b.url], range(0, 300))
            load = asyncio.ensure_future(post_all([a.url, b.url], range(300, 900)))
            await asyncio.sleep(0.5)
            server.kill()
            await asyncio.sleep(1.0)
            refused = httpx.post(f"{a.url}/ingest", json={"n": -1}, timeout=10)
            assert refused.status_code == 503
            assert refused.headers["content-type"].startswith("application/json")
            server.start()
            during = await load
            wait_for(lambda: a.health()["status"] == b.health()["status"] == "ok", 90,
                     "both workers back on the restarted Redis")
            after = await post_all([a.url, b.url], range(900, 1000))
            accepted = before | during | after
            assert len(before) == 300 and len(after) == 100
            wait_for(lambda: set(done(server.url, "restart")) >= accepted, 120,
                     "every 2xx's event handled after the restart")
    finally:
        server.kill()


async def test_a_draining_worker_hands_over_and_every_event_is_handled_once(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    runs = tmp_path / "runs.txt"
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path, RUNS_FILE=str(runs),
                 MOTIA_REDIS_HEARTBEAT_S="10") as (a, b):
        load = asyncio.ensure_future(post_all([a.url, b.url], range(0, 600)))
        deadline = time.monotonic() + 60
        while f" {b.process.pid}" not in (runs.read_text() if runs.exists() else ""):
            assert time.monotonic() < deadline, "the second worker never took work"
            await asyncio.sleep(0.05)
        code = await asyncio.to_thread(b.terminate, 60)
        assert code == 0, b.log.read_text()
        accepted = await load
        accepted |= await post_all([a.url], range(600, 800))
        wait_for(lambda: set(done(redis_url, prefix)) >= accepted, 60, "every event handled")
        time.sleep(0.5)
        counts = collections.Counter(line.split()[0] for line in runs.read_text().splitlines())
        assert {n for n, count in counts.items() if count > 1} == set()
        assert str(b.process.pid) in runs.read_text()  # the drained worker did take work
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        assert client.xpending(f"{prefix}:topic:work", "Work")["pending"] == 0
