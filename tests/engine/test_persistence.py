"""The SQLite file store: history survives a restart, and a kill -9 loses no acknowledged work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from engine_support import logs, trace_of, wait_until

from engine import Settings, jsonio, tracing

MakeProject = Callable[[dict[str, str]], Path]
REPO = Path(__file__).resolve().parents[2]

HISTORY = {
    "steps/save_step.py": """
        config = {
            "type": "api",
            "name": "Save",
            "path": "/save/:key",
            "method": "POST",
            "emits": ["saved", "doomed"],
        }

        async def handler(req, context):
            await context.state.set("kept", req.pathParams.key, req.body)
            context.logger.info("saved it", {"key": req.pathParams.key})
            await context.emit({"topic": "saved", "data": {"key": req.pathParams.key}})
            await context.emit({"topic": "doomed", "data": {"key": req.pathParams.key}})
            return {"status": 200, "body": {"traceId": context.trace_id}}
    """,
    "steps/publish_step.py": """
        config = {"type": "event", "name": "Publish", "subscribes": ["saved"]}

        async def handler(input, context):
            await context.streams.feed.set("all", input.key, {"key": input.key})
    """,
    "steps/doomed_step.py": """
        config = {
            "type": "event",
            "name": "Doomed",
            "subscribes": ["doomed"],
            "infrastructure": {"queue": {"maxRetries": 0}},
        }

        async def handler(input, context):
            raise RuntimeError("doomed to fail")
    """,
    "steps/feed_stream.py": """
        config = {"name": "feed", "schema": {"type": "object"}}
    """,
}


async def test_state_traces_logs_and_dlq_survive_a_restart(project: MakeProject, serve) -> None:
    root = project(HISTORY)
    async with serve(root) as (engine, client):
        response = await client.post("/save/k1", json={"v": 1})
        trace_id = response.json()["traceId"]
        await engine.idle()
        before_trace = await trace_of(client, trace_id, 3)
        before_logs = await logs(client, traceId=trace_id)
        (dead,) = (await client.get("/__motia/dlq")).json()["items"]
    assert (root / ".motia" / "store.sqlite3").is_file()

    async with serve(root) as (engine, client):
        assert (await client.get("/__motia/state/kept/k1")).json() == {"v": 1}
        assert (await client.get("/__motia/traces/" + trace_id)).json() == before_trace
        listed = (await client.get("/__motia/traces")).json()["traces"]
        assert listed[0]["traceId"] == trace_id
        assert await logs(client, traceId=trace_id) == before_logs
        assert "saved it" in [r["msg"] for r in before_logs]
        assert (await client.get("/__motia/dlq")).json()["items"] == [dead]
        items = (await client.get("/__motia/streams/feed/all")).json()["items"]
        assert items == [{"key": "k1", "id": "k1"}]
        assert engine.recovered == 0
        deleted = await client.delete(f"/__motia/dlq/{dead['id']}")
        assert deleted.status_code == 204
        await client.delete("/__motia/state/kept/k1")

    async with serve(root) as (_engine, client):
        assert (await client.get("/__motia/dlq")).json()["items"] == []
        assert (await client.get("/__motia/state/kept/k1")).status_code == 404


async def test_older_traces_and_logs_come_from_disk(project: MakeProject, serve) -> None:
    root = project(HISTORY)
    settings = Settings(memory_window=2)
    async with serve(root, settings) as (engine, client):
        first = (await client.post("/save/first", json={})).json()["traceId"]
        for n in range(4):
            await client.post(f"/save/k{n}", json={})
        await engine.idle()
        listed = (await client.get("/__motia/traces", params={"limit": 10})).json()["traces"]
        assert len(listed) == 2
        assert first not in {t["traceId"] for t in listed}
        assert len(engine.logs.recent) == 2
        await engine.idle()
        older = await client.get(f"/__motia/traces/{first}")
        assert older.status_code == 200
        assert {s["step"] for s in older.json()["spans"]} == {"Save", "Publish", "Doomed"}
        found = await logs(client, traceId=first, q="saved it")
        assert [r["key"] for r in found] == ["first"]
        everything = await logs(client, q="saved it", limit=100)
        assert [r["key"] for r in everything] == ["first", "k0", "k1", "k2", "k3"]


async def test_the_trace_window_holds_a_bounded_size_of_spans(
    project: MakeProject, serve
) -> None:
    """Past `memory_window_bytes` of ended spans the oldest traces leave memory, however
    few they are, and are read from the disk as before."""
    root = project(CHATTY)
    async with serve(root, Settings(memory_window_bytes=60_000)) as (engine, client):
        traces = []
        for _run in range(6):
            response = await client.post("/chatty", json={"lines": 200})
            traces.append(response.headers["x-trace-id"])
        await engine.idle()
        held = [t["traceId"] for t in engine.traces.list(limit=100)]
        assert 1 <= len(held) < 6
        assert held == traces[::-1][: len(held)]
        older = await client.get(f"/__motia/traces/{traces[0]}")
        assert older.status_code == 200
        assert len(older.json()["spans"][0]["logs"]) == 200


async def test_the_trace_window_holds_long_spans_in_a_fraction_of_their_text(
    project: MakeProject, serve
) -> None:
    """A span carrying its 200 log records is tens of kilobytes of JSON: the window holds it
    compressed, in under a quarter of its text, still counts its text towards
    `memory_window_bytes` (the same traces stay in memory), and gives it back whole."""
    root = project(CHATTY)
    bound = 300_000
    async with serve(root, Settings(memory_window_bytes=bound)) as (engine, client):
        tracemalloc.start()
        try:
            traces = []
            for _run in range(12):
                response = await client.post("/chatty", json={"lines": 200})
                traces.append(response.headers["x-trace-id"])
            await engine.idle()
            await client.post("/chatty", json={"lines": 0})  # the writer's last batch, not theirs
            await engine.idle()
            window = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, tracing.__file__)]
            )
        finally:
            tracemalloc.stop()
        held = [t["traceId"] for t in engine.traces.list(limit=100)][1:]
        assert held == traces[::-1][: len(held)]
        sizes = []
        for trace_id in traces[::-1]:
            answer = await client.get(f"/__motia/traces/{trace_id}")
            spans = answer.json()["spans"]
            assert [r["n"] for r in spans[0]["logs"]] == list(range(200))
            sizes.append(sum(len(jsonio.dumps_lenient(span)) for span in spans))
        text = sum(sizes[: len(held)])
        assert text <= bound < text + sizes[len(held)]
        assert sum(stat.size for stat in window.statistics("filename")) < text / 4
        assert engine.traces.get(held[0]) == (await client.get(f"/__motia/traces/{held[0]}")).json()



async def test_the_log_api_answers_a_time_window_and_its_count(
    project: MakeProject, serve
) -> None:
    """`since` and `until` bound the records by time, from memory and from the disk alike;
    `/__motia/logs/count` says how many the window holds; a bad bound is a JSON 400."""
    root = project(CHATTY)
    async with serve(root, Settings(memory_window=50)) as (engine, client):
        await client.post("/chatty", json={"lines": 400})
        await engine.idle()
        everything = [r for r in await logs(client, limit=1000) if r["msg"] == "line"]
        assert [r["n"] for r in everything] == list(range(400))
        since, until = everything[40]["time"], everything[300]["time"]
        inside = [r for r in everything if since <= r["time"] <= until]
        window = await logs(client, since=since, until=until, limit=1000)
        assert [r for r in window if r["msg"] == "line"] == inside
        newest = await logs(client, since=since, until=until, limit=7)
        assert newest == window[-7:]
        counted = await client.get("/__motia/logs/count", params={"since": since,
                                                                  "until": until})
        assert counted.json() == {"count": len(window)}
        bad = await client.get("/__motia/logs", params={"since": "yesterday"})
        assert bad.status_code == 400
        assert bad.json()["error"] == "since must be a time in epoch milliseconds"


CHATTY = {
    "steps/chatty_step.py": """
        config = {"type": "api", "name": "Chatty", "path": "/chatty", "method": "POST"}

        async def handler(req, context):
            for n in range(req.body.lines):
                context.logger.info("line", {"n": n})
            return {"status": 200, "body": {}}
    """,
}


async def test_disk_history_is_pruned_to_the_configured_size(project: MakeProject, serve) -> None:
    root = project(CHATTY)
    settings = Settings(trace_store=3, log_store=100)
    async with serve(root, settings) as (engine, client):
        traces = [(await client.post("/chatty", json={"lines": 0})).headers["x-trace-id"]]
        for _ in range(4):
            response = await client.post("/chatty", json={"lines": 0})
            traces.append(response.headers["x-trace-id"])
        await client.post("/chatty", json={"lines": 2_100})
        await engine.idle()
    conn = sqlite3.connect(root / ".motia" / "store.sqlite3")
    try:
        kept = {t for (t,) in conn.execute("SELECT DISTINCT trace_id FROM spans")}
        log_count = conn.execute("SELECT count(*) FROM logs").fetchone()[0]
        records = [r for (r,) in conn.execute("SELECT record FROM logs ORDER BY id")]
    finally:
        conn.close()
    assert len(kept) == 3
    assert traces[0] not in kept
    assert 100 <= log_count < 2_100
    numbers = [n for n in (json.loads(r).get("n") for r in records) if n is not None]
    assert numbers[-1] == 2_099
    assert numbers[0] > 1_000


LATE_CHILD = {
    **CHATTY,
    "steps/start_step.py": """
        config = {"type": "api", "name": "Start", "path": "/start", "method": "POST",
                  "emits": ["later"]}

        async def handler(req, context):
            await context.emit({"topic": "later", "data": {}})
            return {"status": 200, "body": {}}
    """,
    "steps/later_step.py": """
        import asyncio

        config = {"type": "event", "name": "Later", "subscribes": ["later"]}

        async def handler(input, context):
            for _ in range(1_000):
                if await context.state.get("flags", "go"):
                    return
                await asyncio.sleep(0.01)
    """,
    "steps/go_step.py": """
        config = {"type": "api", "name": "Go", "path": "/go", "method": "POST"}

        async def handler(req, context):
            await context.state.set("flags", "go", True)
            return {"status": 200, "body": {}}
    """,
}


async def test_a_span_that_ends_after_its_trace_was_pruned_is_pruned_too(
    project: MakeProject, serve
) -> None:
    """Spans older than the oldest kept trace go, whether or not their trace's root is still
    on disk: a run that outlived its trace's retention leaves no row behind for good."""
    root = project(LATE_CHILD)
    settings = Settings(trace_store=3, log_store=100)

    def rows(trace_id: str) -> int:
        conn = sqlite3.connect(root / ".motia" / "store.sqlite3")
        try:
            query = "SELECT count(*) FROM spans WHERE trace_id = ?"
            return int(conn.execute(query, (trace_id,)).fetchone()[0])
        finally:
            conn.close()

    async with serve(root, settings) as (engine, client):
        first = (await client.post("/start")).headers["x-trace-id"]
        for _ in range(4):
            await client.post("/chatty", json={"lines": 0})
        await client.post("/chatty", json={"lines": 2_100})
        await engine.store.settled()
        await wait_until(lambda: rows(first) == 0, what="the first trace pruned")
        await client.post("/go")
        await engine.idle()
    assert rows(first) == 0


SERVER_SCRIPT = """
    import asyncio
    import sys

    from engine import Engine, Settings
    from engine.server import EngineServer


    async def main():
        engine = Engine(sys.argv[1], Settings())
        server = EngineServer(
            engine, "127.0.0.1", 0, introspect=True, token=None, cors_origins=None, watch=False
        )
        await server.start()
        print(server.port, flush=True)
        await asyncio.Event().wait()


    asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def served_in_subprocess(
    root: Path, env: dict[str, str]
) -> AsyncIterator[tuple[subprocess.Popen[str], httpx.AsyncClient]]:
    """The project served by another process, so the test can kill it with SIGKILL."""
    script = root.parent / "serve_project.py"
    script.write_text(textwrap.dedent(SERVER_SCRIPT), encoding="utf-8")
    errors = root.parent / "serve_project.stderr"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(script), str(root)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
        assert line.strip().isdigit(), errors.read_text()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{line.strip()}", timeout=10) as c:
            yield process, c
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


CRASH = {
    "steps/create_job_step.py": """
        config = {
            "type": "api",
            "name": "CreateJob",
            "path": "/jobs",
            "method": "POST",
            "emits": ["job.created"],
        }

        async def handler(req, context):
            count = (await context.state.get("jobs", "count") or 0) + 1
            await context.state.set("jobs", "count", count)
            await context.emit({"topic": "job.created", "data": {"n": count}})
            return {"status": 201, "body": {"n": count}}
    """,
    "steps/work_step.py": """
        import asyncio
        import os

        config = {"type": "event", "name": "Work", "subscribes": ["job.created"]}

        async def handler(input, context):
            if os.environ.get("MOTIA_TEST_BLOCK_WORK") == "1":
                context.logger.info("work started, blocking")
                await asyncio.sleep(3600)
            runs = (await context.state.get("work", "runs") or 0) + 1
            await context.state.set("work", "runs", runs)
            await context.state.set("work", str(input.n), "done")
    """,
}


def _running_span_on_disk(root: Path, step: str) -> bool:
    """A run that lasts is written while it runs (quick ones only at their end)."""
    with contextlib.closing(sqlite3.connect(root / ".motia" / "store.sqlite3")) as conn:
        rows = conn.execute("SELECT data FROM spans").fetchall()
    return any(
        json.loads(data)["step"] == step and json.loads(data)["status"] == "running"
        for (data,) in rows
    )


async def test_kill_after_2xx_delivers_the_event_after_restart(project: MakeProject, serve) -> None:
    root = project(CRASH)
    async with served_in_subprocess(root, {"MOTIA_TEST_BLOCK_WORK": "1"}) as (process, client):
        response = await client.post("/jobs")
        assert response.status_code == 201
        assert response.json() == {"n": 1}
        trace_id = response.headers["x-trace-id"]
        await wait_until(
            lambda: _has_log(client, trace_id, "work started, blocking"),
            timeout=10,
            what="Work to start in the server process",
        )
        await wait_until(
            lambda: _running_span_on_disk(root, "Work"),
            timeout=10,
            what="the running Work span to reach the store",
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert process.returncode == -signal.SIGKILL

    async with serve(root) as (engine, client):
        assert engine.recovered == 1
        await engine.idle()
        groups = (await client.get("/__motia/state")).json()["groups"]
        assert groups == {"jobs": {"count": 1}, "work": {"runs": 1, "1": "done"}}
        trace = await trace_of(client, trace_id, 3)
        work = sorted((s for s in trace["spans"] if s["step"] == "Work"), key=lambda s: s["start"])
        assert [s["status"] for s in work] == ["error", "ok"]
        assert work[0]["error"]["message"] == "interrupted: the server stopped during this run"
        resumed = await logs(client, q="resuming 1 queued event(s)")
        assert len(resumed) == 1
        assert (await client.post("/jobs")).json() == {"n": 2}
        await engine.idle()
        assert engine.state.get("work", "runs") == 2


async def _has_log(client: httpx.AsyncClient, trace_id: str, message: str) -> bool:
    response = await client.get("/__motia/logs", params={"traceId": trace_id, "q": message})
    return bool(response.json()["logs"])


HEAVY = {
    "steps/bump_step.py": """
        config = {"type": "api", "name": "Bump", "path": "/bump", "method": "POST"}

        async def handler(req, context):
            value = (await context.state.get("counter", "value") or 0) + 1
            await context.state.set("counter", "value", value)
            await context.state.set("counter", "copy", value)
            await context.state.set("payload", str(value % 50), {"n": value, "pad": "x" * 500})
            context.logger.info("bumped", {"value": value})
            return {"status": 200, "body": {"value": value}}
    """,
}


async def test_kill_during_heavy_writes_keeps_a_consistent_store(
    project: MakeProject, serve
) -> None:
    root = project(HEAVY)
    acknowledged = 0
    async with served_in_subprocess(root, {}) as (process, client):

        async def writer() -> None:
            nonlocal acknowledged
            while True:
                try:
                    response = await client.post("/bump")
                except httpx.HTTPError:
                    return
                acknowledged = max(acknowledged, response.json()["value"])

        writers = [asyncio.ensure_future(writer()) for _ in range(6)]
        await wait_until(lambda: acknowledged >= 300, timeout=20, what="300 bumps")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        await asyncio.wait_for(asyncio.gather(*writers), 10)

    database = root / ".motia" / "store.sqlite3"
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(conn.execute("SELECT key, value FROM state WHERE grp = 'counter'").fetchall())
    finally:
        conn.close()
    assert rows["value"] == rows["copy"]
    assert int(rows["value"]) >= acknowledged

    async with serve(root) as (_engine, client):
        value = (await client.get("/__motia/state/counter/value")).json()
        assert value == int(rows["value"])
        assert (await client.get("/__motia/state/counter/copy")).json() == value
        assert (await client.post("/bump")).json() == {"value": value + 1}
        payload = (await client.get(f"/__motia/state/payload/{value % 50}")).json()
        assert payload["n"] == value
