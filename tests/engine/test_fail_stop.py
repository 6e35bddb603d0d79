"""A store that cannot write fails stop: 503 and nothing kept, work paused, then recovery.

The store lives on a small tmpfs that the test fills up (the test runs as root, as CI does),
so SQLite's own "database or disk is full" is what the engine meets.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from engine_support import wait_until
from test_event_payloads import payload_types, problems

from engine import Settings
from engine import events as ev

MakeProject = Callable[[dict[str, str]], Path]
TOKEN = "fail-stop-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}

COUNTERS = {
    "steps/bump_step.py": """
        config = {"type": "api", "name": "Bump", "path": "/bump", "method": "POST",
                  "emits": ["bumped"]}

        async def handler(req, context):
            n = (await context.state.get("counters", "n") or 0) + 1
            await context.state.set("counters", "n", n)
            await context.state.set("pad", str(n % 20), "x" * 2000)
            await context.emit({"topic": "bumped", "data": {"n": n}})
            return {"status": 200, "body": {"n": n}}
    """,
    "steps/tick_step.py": """
        config = {"type": "cron", "name": "Tick", "cron": "* * * * * *"}

        async def handler(context):
            await context.state.set("ticks", context.trace_id, True)
    """,
    "steps/tally_step.py": """
        config = {"type": "event", "name": "Tally", "subscribes": ["bumped"]}

        async def handler(input, context):
            tally = (await context.state.get("counters", "tally") or 0) + 1
            await context.state.set("counters", "tally", tally)
    """,
}


@contextlib.contextmanager
def small_disk(where: Path, size: str = "8m") -> Iterator[Path]:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:
        for size in (65_536, 512):
            try:
                while True:
                    file.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def on_disk(database: Path) -> dict[str, Any]:
    conn = sqlite3.connect(database)
    try:
        state = {
            f"{group}/{key}": value
            for group, key, value in conn.execute("SELECT grp, key, value FROM state")
        }
        queued = conn.execute("SELECT count(*) FROM queue").fetchone()[0]
    finally:
        conn.close()
    return {"state": state, "queued": queued}


async def test_a_full_disk_answers_503_keeps_nothing_and_recovers(
    project: MakeProject, serve, tmp_path: Path
) -> None:
    root = project(COUNTERS)
    with small_disk(tmp_path / "disk") as disk:
        database = disk / "store.sqlite3"
        settings = Settings(store=str(database), retry_base_s=0.01, retry_max_s=0.05)
        async with serve(root, settings, token=TOKEN) as (engine, client):
            health_events = engine.events.subscribe(maxsize=1_000, types={ev.STORE_HEALTH})
            answered: list[tuple[int, dict[str, Any], httpx.Headers]] = []

            async def bump() -> int:
                response = await client.post("/bump", json={})
                answered.append((response.status_code, response.json(), response.headers))
                return response.status_code

            for _ in range(10):
                assert await bump() == 200
            filler = fill(disk)

            async def writer() -> None:
                for _ in range(2_000):
                    if not engine.store.health.ok and await bump() == 503:
                        return
                    await bump()

            await asyncio.wait_for(asyncio.gather(*(writer() for _ in range(4))), 120)
            assert not engine.store.health.ok
            refused = [a for a in answered if a[0] == 503]
            assert refused
            for _status, body, headers in refused:
                assert set(body) <= {"error", "traceId"}
                assert "store cannot write" in body["error"]
                assert int(headers["retry-after"]) >= 1
                assert headers["content-type"] == "application/json"
            assert {a[0] for a in answered} <= {200, 503}, "a request ended in another status"
            # A 503 with a trace id ran and was refused at its commit (the first failing commit
            # may hold a request, or only an event run or history): its span says so.
            for trace_id in [body["traceId"] for _s, body, _h in refused if "traceId" in body]:
                trace = (await client.get(f"/__motia/traces/{trace_id}", headers=AUTH)).json()
                (span,) = [s for s in trace["spans"] if s["step"] == "Bump"]
                assert span["status"] == "error"
                assert span["error"]["message"].startswith("not kept: the store cannot write")

            # While it fails: every api request and every control answers 503, work pauses.
            assert (await client.post("/bump", json={})).status_code == 503
            emitted = await client.post(
                "/__motia/emit", json={"topic": "bumped", "data": {"n": 0}}, headers=AUTH
            )
            assert emitted.status_code == 503
            assert "retry-after" in emitted.headers
            assert engine.bus.suspended and not engine.bus.in_flight
            triggered = await client.post("/__motia/cron/Tick/trigger", headers=AUTH)
            assert triggered.status_code == 503

            def tick_runs() -> int:
                return engine.executor.stats.get("Tick", {}).get("runs", 0)

            ticks = tick_runs()
            await asyncio.sleep(2.5)
            assert tick_runs() == ticks, "cron ran while the store failed"
            public = await client.get("/__motia/health")
            assert (public.status_code, public.json()) == (
                503,
                {"status": "failing", "store": "failing"},
            )
            detailed = (await client.get("/__motia/health", headers=AUTH)).json()
            assert "full" in detailed["details"]["store"]["error"]
            assert detailed["details"]["store"]["adapter"] == "sqlite"
            shown = (await client.get("/__motia/state", headers=AUTH)).json()["groups"]
            stored = on_disk(database)["state"]
            assert {f"counters/{k}": str(v) for k, v in shown["counters"].items()} == {
                k: v for k, v in stored.items() if k.startswith("counters/")
            }

            filler.unlink()
            await wait_until(lambda: engine.store.health.ok, timeout=30, what="the recovery")
            await wait_until(lambda: tick_runs() > ticks, what="cron to resume")
            for _ in range(5):
                assert await bump() == 200
            await engine.idle()

            acknowledged = [body["n"] for status, body, _ in answered if status == 200]
            assert sorted(acknowledged) == list(range(1, len(acknowledged) + 1))
            counters = (await client.get("/__motia/state/counters", headers=AUTH)).json()
            assert counters == {"n": len(acknowledged), "tally": len(acknowledged)}
            failing_logs = (
                await client.get("/__motia/logs", params={"q": "store cannot write"}, headers=AUTH)
            ).json()["logs"]
            assert failing_logs and failing_logs[0]["level"] == "error"
            changes = [event.data for event in health_events.drain()]
            assert [change["status"] for change in changes] == ["failing", "ok"]
            for change in changes:
                assert problems(change, payload_types()[ev.STORE_HEALTH]) == []
        final = on_disk(database)
    assert final["state"]["counters/n"] == str(len(acknowledged))
    assert final["state"]["counters/tally"] == str(len(acknowledged))
    assert final["queued"] == 0


async def test_health_answers_everyone_with_status_and_the_api_with_details(
    project: MakeProject, serve
) -> None:
    root = project(COUNTERS)
    async with serve(root, token=TOKEN) as (_engine, client):
        public = await client.get("/__motia/health")
        assert (public.status_code, public.json()) == (200, {"status": "ok", "store": "ok"})
        detailed = (await client.get("/__motia/health", headers=AUTH)).json()
        assert detailed["details"]["store"]["status"] == "ok"
        assert detailed["details"]["store"]["location"].endswith("store.sqlite3")
        assert (await client.get("/__motia/steps")).status_code == 401
    async with serve(root, mode="start") as (_engine, client):
        public = await client.get("/__motia/health")
        assert (public.status_code, public.json()) == (200, {"status": "ok", "store": "ok"})
        assert (await client.get("/__motia/steps")).status_code == 404
