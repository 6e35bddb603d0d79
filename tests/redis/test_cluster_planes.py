"""Cron and streams across workers: each cron tick runs on exactly one worker, whatever the
workers' clocks say, and a stream write on one worker reaches websocket clients on another."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time
import uuid
from pathlib import Path

import httpx
import redis
from cluster_support import workers
from engine_support import write_files
from websockets.asyncio.client import connect

CRON_PROJECT = {
    "steps/tick_step.py": """
        import os
        import time

        config = {"type": "cron", "name": "Tick", "cron": "* * * * * *"}

        async def handler(context):
            with open(os.environ["RUNS_FILE"], "a") as runs:
                runs.write(f"{os.getpid()} {time.time():.3f}\\n")
    """,
}
STREAMS_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "streams_project"


def lines_of(runs: Path) -> list[str]:
    return runs.read_text().splitlines() if runs.exists() else []


def ticks_of(redis_url: str, prefix: str) -> int:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return len(list(client.scan_iter(match=f"{prefix}:cron:Tick:*")))


def watch_ticks_run_once(runs: Path, redis_url: str, prefix: str) -> None:
    """With the workers running: at least three ticks run, and every tick claimed by then
    runs (a worker stopped between a claim and its run cannot be told apart from a lost
    tick, so the ticks counted are those claimed well before the stop)."""
    deadline = time.monotonic() + 60
    while len(lines_of(runs)) < 3:
        assert time.monotonic() < deadline, f"three ticks never ran: {lines_of(runs)}"
        time.sleep(0.1)
    claimed = ticks_of(redis_url, prefix)
    while len(lines_of(runs)) < claimed:
        assert time.monotonic() < deadline, (claimed, lines_of(runs))
        time.sleep(0.1)


def ran_once(runs: Path, redis_url: str, prefix: str) -> None:
    """Once the workers are gone: no tick ran twice or without its claim."""
    lines, ticks = lines_of(runs), ticks_of(redis_url, prefix)
    assert len(lines) <= ticks, (lines, ticks)


def cron_runs_match_ticks(tmp_path: Path, redis_url: str, prefix: str) -> None:
    runs = tmp_path / "runs.txt"
    project = write_files(tmp_path / "cron_app", CRON_PROJECT)
    with workers(2, project, redis_url, prefix, tmp_path, RUNS_FILE=str(runs)):
        watch_ticks_run_once(runs, redis_url, prefix)
    ran_once(runs, redis_url, prefix)


def test_a_cron_tick_fires_once_with_two_schedulers(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    cron_runs_match_ticks(tmp_path, redis_url, prefix)


def test_a_cron_tick_fires_once_when_one_clock_is_seconds_off(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    """The second worker's clock runs 2.5 s ahead (the setting shifts its scheduler's
    clock): it reaches every tick first, and the other finds the tick's key taken."""
    runs = tmp_path / "runs.txt"
    project = write_files(tmp_path / "cron_app", CRON_PROJECT)
    from cluster_support import Worker

    first = Worker(project, redis_url, prefix, tmp_path / "a.log", RUNS_FILE=str(runs))
    second = Worker(project, redis_url, prefix, tmp_path / "b.log", RUNS_FILE=str(runs),
                    MOTIA_CLOCK_OFFSET_S="2.5")
    try:
        first.wait_ready()
        second.wait_ready()
        watch_ticks_run_once(runs, redis_url, prefix)
    finally:
        first.close()
        second.close()
    ran_once(runs, redis_url, prefix)


async def test_a_stream_write_on_one_worker_reaches_a_client_on_another(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    project = tmp_path / f"streams_{uuid.uuid4().hex[:6]}"
    shutil.copytree(STREAMS_FIXTURE, project)
    with workers(2, project, redis_url, prefix, tmp_path) as (a, b):
        async with connect(f"ws://127.0.0.1:{a.port}/") as ws:
            await ws.send(json.dumps({"type": "join", "data": {
                "streamName": "todo", "groupId": "g1", "subscriptionId": "s1"}}))
            sync = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert sync["event"] == {"type": "sync", "data": []}
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.post(f"{b.url}/items/todo/g1/x", json={"title": "from B"})
                assert answer.status_code == 200, answer.text
            created = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert created["event"] == {"type": "create", "data": {"title": "from B", "id": "x"}}
            # and the item is in worker A's reads too
            async with httpx.AsyncClient(timeout=10) as http:
                seen = await http.get(f"{a.url}/__motia/streams/todo/g1",
                                      headers={"Authorization": "Bearer cluster-test"})
            assert "from B" in seen.text, seen.text


FIFO_PROJECT = {
    "steps/push_step.py": """
        config = {"type": "api", "name": "Push", "path": "/push", "method": "POST",
                  "emits": ["ordered"]}

        async def handler(req, context):
            await context.emit({"topic": "ordered", "data": {"n": req.body["n"]}})
            return {"status": 200, "body": {}}
    """,
    "steps/ordered_step.py": """
        import asyncio
        import os
        import time

        config = {"type": "event", "name": "Ordered", "subscribes": ["ordered"],
                  "infrastructure": {"queue": {"type": "fifo"}}}

        async def handler(data, context):
            started = time.time()
            await asyncio.sleep(0.01)
            with open(os.environ["RUNS_FILE"], "a") as runs:
                runs.write(f"{data['n']} {started:.6f} {time.time():.6f} {os.getpid()}\\n")
    """,
}


async def test_a_fifo_step_runs_one_event_at_a_time_in_order_across_workers(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    runs = tmp_path / "runs.txt"
    project = write_files(tmp_path / "fifo_app", FIFO_PROJECT)
    with workers(2, project, redis_url, prefix, tmp_path, RUNS_FILE=str(runs)) as (a, b):
        async with httpx.AsyncClient(timeout=10) as http:
            for n in range(40):  # one at a time, so the stream's order is n's order
                url = (a, b)[n % 2].url
                assert (await http.post(f"{url}/push", json={"n": n})).status_code == 200

        def all_ran() -> bool:
            return runs.exists() and len(runs.read_text().splitlines()) >= 40

        deadline = time.monotonic() + 30
        while not all_ran():
            assert time.monotonic() < deadline, "the fifo step did not run every event"
            await asyncio.sleep(0.1)
    rows = [line.split() for line in runs.read_text().splitlines()]
    assert [int(row[0]) for row in rows] == list(range(40))
    for before, after in itertools.pairwise(rows):
        assert float(after[1]) >= float(before[2])  # never two at once, cluster-wide
