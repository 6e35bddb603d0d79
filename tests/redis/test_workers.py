"""Several `motia start` workers on one Redis: nothing lost when one dies, dead letters once,
a cron tick once, stream writes seen everywhere. Real processes, real Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import redis
from cluster_support import workers
from engine_support import write_files

WORK_PROJECT = {
    "steps/ingest_step.py": """
        config = {"type": "api", "name": "Ingest", "path": "/ingest", "method": "POST",
                  "emits": ["work"]}

        async def handler(req, context):
            await context.emit({"topic": "work", "data": {"n": req.body["n"]}})
            return {"status": 200, "body": {"ok": True}}
    """,
    "steps/work_step.py": """
        import asyncio
        import os

        config = {"type": "event", "name": "Work", "subscribes": ["work"],
                  "infrastructure": {"queue": {"maxRetries": 2}}}

        async def handler(data, context):
            await asyncio.sleep(0.02)
            with open(os.environ["RUNS_FILE"], "a") as runs:
                runs.write(f"{data['n']} {os.getpid()}\\n")
            await context.state.set("done", str(data["n"]), {"pid": os.getpid()})
    """,
    "steps/fail_step.py": """
        config = {"type": "event", "name": "AlwaysFails", "subscribes": ["doomed"],
                  "infrastructure": {"queue": {"maxRetries": 2}}}

        async def handler(data, context):
            raise RuntimeError("never works")
    """,
    "steps/doom_step.py": """
        config = {"type": "api", "name": "Doom", "path": "/doom", "method": "POST",
                  "emits": ["doomed"]}

        async def handler(req, context):
            await context.emit({"topic": "doomed", "data": {"n": 1}})
            return {"status": 200, "body": {}}
    """,
    "motia.toml": """
        retry_base_s = 0.1
        retry_max_s = 0.2
    """,
}


def project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "app", WORK_PROJECT)


async def post_all(urls: list[str], numbers: range, path: str = "/ingest") -> set[int]:
    """POST each number to the workers in turn (a few at a time); answer those that got 2xx."""
    accepted: set[int] = set()
    limit = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient, n: int) -> None:
        async with limit:
            url = urls[n % len(urls)]
            try:
                answer = await client.post(f"{url}{path}", json={"n": n})
            except httpx.HTTPError:
                return
            if answer.status_code == 200:
                accepted.add(n)

    async with httpx.AsyncClient(timeout=20) as client:
        await asyncio.gather(*(one(client, n) for n in numbers))
    return accepted


def done(redis_url: str, prefix: str) -> dict[int, str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return {int(k): v for k, v in client.hgetall(f"{prefix}:state:done").items()}


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


async def test_a_killed_worker_loses_nothing(tmp_path: Path, redis_url: str, prefix: str) -> None:
    runs = tmp_path / "runs.txt"
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path, RUNS_FILE=str(runs)) as (
        a,
        b,
    ):
        first = await post_all([a.url, b.url], range(0, 500))
        b.kill()  # mid-flight: it holds claimed entries whose handlers have not finished
        second = await post_all([a.url], range(500, 1000))
        accepted = first | second
        assert len(accepted) == 1000
        wait_for(lambda: set(done(redis_url, prefix)) >= accepted, 60, "every event handled")
        pids = {line.split()[1] for line in runs.read_text().splitlines()}
        assert str(b.process.pid) in pids and str(a.process.pid) in pids  # both took work


async def test_an_always_failing_handler_is_dead_lettered_once(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    runs = tmp_path / "runs.txt"
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path, RUNS_FILE=str(runs)) as (
        a,
        b,
    ):
        assert await post_all([a.url], range(1), "/doom") == {0}
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        wait_for(lambda: client.xlen(f"{prefix}:dlq") >= 1, 30, "the dead letter")
        time.sleep(1.5)  # a second dead letter would have come by now
        assert client.xlen(f"{prefix}:dlq") == 1
        letters = httpx.get(f"{b.url}/__motia/dlq",
                            headers={"Authorization": "Bearer cluster-test"}, timeout=5)
        assert letters.status_code == 200, letters.text
        (item,) = letters.json()["items"]  # the other worker sees the one dead letter too
        assert (item["step"], item["error"], item["attempts"]) == ("AlwaysFails", "never works", 3)


async def test_health_names_the_consumer_and_the_live_workers(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    runs = tmp_path / "runs.txt"
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path, RUNS_FILE=str(runs)) as (
        a,
        b,
    ):
        def cluster(worker):  # type: ignore[no-untyped-def]
            return worker.health()["details"]["store"]["cluster"]

        wait_for(lambda: len(cluster(a)["workers"]) == 2 and cluster(a)["pending"], 10,
                 "both workers' heartbeats and the first one's consumer groups")
        seen = cluster(a)
        assert seen["redis"] == "connected"
        assert seen["consumer"] != cluster(b)["consumer"]
        assert {w["pid"] for w in seen["workers"]} == {a.process.pid, b.process.pid}
        assert seen["pending"] == {"Work": 0, "AlwaysFails": 0}
        b.kill()
        wait_for(lambda: len(cluster(a)["workers"]) == 1, 10, "the dead worker's heartbeat")


def test_durability_warnings_say_what_a_2xx_survives() -> None:
    from engine.stores.redis.store import durability_warning

    assert durability_warning({"appendonly": "yes", "appendfsync": "always"}) is None
    assert "restart" in (durability_warning({"appendonly": "no"}) or "")
    assert "last second" in (durability_warning(
        {"appendonly": "yes", "appendfsync": "everysec"}) or "")
    assert "CONFIG" in (durability_warning({"appendonly": "unknown"}) or "")


async def test_a_worker_warns_at_start_when_redis_keeps_nothing(tmp_path: Path) -> None:
    from redis_support import PrivateRedis

    server = PrivateRedis(tmp_path / "redis", "--appendonly", "no")
    server.start()
    runs = tmp_path / "runs.txt"
    try:
        with workers(1, project(tmp_path), server.url, "warn", tmp_path,
                     RUNS_FILE=str(runs)) as (a,):
            store = a.health()["details"]["store"]
            assert "appendonly no" in store["warning"]
        assert "appendonly no" in a.log.read_text()
    finally:
        server.kill()
