"""An attempt is all or nothing: a failed one leaves no state, no event and no stream change.

Each test runs a real server on a real SQLite file and checks memory, the API and the file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_support import trace_of, wait_until

from engine import Settings
from engine.jsonio import CUT_MARKER

MakeProject = Callable[[dict[str, str]], Path]
FAST = Settings(retry_base_s=0.01, retry_max_s=0.02)

DOWNSTREAM = """
    config = {"type": "event", "name": "Downstream", "subscribes": ["made"]}

    async def handler(input, context):
        await context.state.set("downstream", context.trace_id, input)
"""

FEED = """
    config = {"name": "feed", "schema": {"type": "object"}}
"""


def on_disk(root: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(root / ".motia" / "store.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_an_api_attempt_that_raises_leaves_no_trace(project: MakeProject, serve) -> None:
    root = project(
        {
            "steps/make_step.py": """
                config = {"type": "api", "name": "Make", "path": "/make", "method": "POST",
                          "emits": ["made"]}

                async def handler(req, context):
                    await context.state.set("made", "it", {"n": 1})
                    await context.streams.feed.set("all", "it", {"n": 1})
                    await context.emit({"topic": "made", "data": {"n": 1}})
                    raise RuntimeError("changed my mind")
            """,
            "steps/downstream_step.py": DOWNSTREAM,
            "steps/feed_stream.py": FEED,
        }
    )
    async with serve(root) as (engine, client):
        response = await client.post("/make", json={})
        assert response.status_code == 500
        assert response.json()["error"] == "Make failed: changed my mind"
        await engine.idle()
        assert (await client.get("/__motia/state")).json()["groups"] == {}
        assert (await client.get("/__motia/streams/feed/all")).json()["items"] == []
        assert "Downstream" not in engine.executor.stats
        assert (await client.get("/__motia/stats")).json()["edges"] == []
    assert on_disk(root, "SELECT * FROM state") == []
    assert on_disk(root, "SELECT * FROM stream_items") == []
    assert on_disk(root, "SELECT * FROM queue") == []


EMITS_THEN_RAISES = {
    "steps/start_step.py": """
        config = {"type": "api", "name": "Start", "path": "/start", "method": "POST",
                  "emits": ["go"]}

        async def handler(req, context):
            await context.emit({"topic": "go", "data": {}})
            return {"status": 202, "body": {}}
    """,
    "steps/flaky_step.py": """
        config = {
            "type": "event",
            "name": "Flaky",
            "subscribes": ["go"],
            "emits": ["made"],
            "infrastructure": {"queue": {"maxRetries": 2}},
        }

        async def handler(input, context):
            seen = await context.state.get("flaky", "attempts")
            assert seen is None, f"attempt saw {seen!r} from a failed attempt"
            await context.state.set("flaky", "attempts", 1)
            assert await context.state.get("flaky", "attempts") == 1
            await context.emit({"topic": "made", "data": {"from": "Flaky"}})
            raise RuntimeError("emitted, then failed")
    """,
    "steps/downstream_step.py": DOWNSTREAM,
}


async def test_an_event_step_that_emits_then_raises_causes_no_downstream_run(
    project: MakeProject, serve
) -> None:
    root = project(EMITS_THEN_RAISES)
    async with serve(root, FAST) as (engine, client):
        trace_id = (await client.post("/start", json={})).headers["x-trace-id"]
        (dead,) = await wait_until(
            lambda: list(engine.bus.dlq.values()), timeout=10, what="the dead letter"
        )
        await engine.idle()
        trace = await trace_of(client, trace_id, 4)
        flaky = [s for s in trace["spans"] if s["step"] == "Flaky"]
        assert [s["error"]["message"] for s in flaky] == ["emitted, then failed"] * 3
        assert "Downstream" not in engine.executor.stats
        assert engine.state.groups() == {}
        (listed,) = (await client.get("/__motia/dlq")).json()["items"]
        assert listed["id"] == dead["id"]
        assert "RuntimeError: emitted, then failed" in listed["traceback"]
    assert on_disk(root, "SELECT * FROM state") == []
    assert on_disk(root, "SELECT * FROM queue") == []
    assert on_disk(root, "SELECT count(*) FROM dlq") == [(1,)]


async def test_keep_applies_effects_as_they_are_called(project: MakeProject, serve) -> None:
    root = project(EMITS_THEN_RAISES)
    keep = Settings(retry_base_s=0.01, retry_max_s=0.02, failed_attempts="keep")
    async with serve(root, keep) as (engine, client):
        await client.post("/start", json={})
        await wait_until(lambda: engine.bus.dlq, timeout=10, what="the dead letter")
        await engine.idle()
        assert engine.executor.stats["Downstream"]["runs"] == 1
        assert engine.executor.stats["Flaky"]["failures"] == 3
        assert engine.state.get("flaky", "attempts") == 1


async def test_a_run_sees_its_own_writes_and_others_see_them_when_it_ends(
    project: MakeProject, serve
) -> None:
    root = project(
        {
            "steps/slow_step.py": """
                import asyncio

                config = {"type": "api", "name": "Slow", "path": "/slow", "method": "POST",
                          "emits": ["made"]}

                async def handler(req, context):
                    await context.state.set("g", "k", "mine")
                    await context.streams.feed.set("all", "i", {"v": 1})
                    await context.emit({"topic": "made", "data": {}})
                    own = (await context.state.get("g", "k"),
                           await context.state.get_group("g"),
                           await context.streams.feed.get("all", "i"))
                    await asyncio.sleep(0.5)
                    return {"status": 200, "body": {"own": own}}
            """,
            "steps/downstream_step.py": DOWNSTREAM,
            "steps/feed_stream.py": FEED,
        }
    )
    async with serve(root) as (engine, client):
        request = asyncio.ensure_future(client.post("/slow", json={}))
        await wait_until(lambda: engine.executor.stats.get("Slow", {}).get("running"))
        await asyncio.sleep(0.1)
        assert (await client.get("/__motia/state/g/k")).status_code == 404
        assert (await client.get("/__motia/streams/feed/all")).json()["items"] == []
        assert "Downstream" not in engine.executor.stats
        response = await request
        assert response.json() == {"own": ["mine", ["mine"], {"v": 1, "id": "i"}]}
        assert (await client.get("/__motia/state/g/k")).json() == "mine"
        trace = await trace_of(client, response.headers["x-trace-id"], 2)
        slow, downstream = sorted(trace["spans"], key=lambda s: s["start"])
        assert downstream["start"] >= slow["start"] + slow["durationMs"] - 1


async def test_a_timed_out_sync_handler_changes_nothing_afterwards(
    project: MakeProject, serve, tmp_path: Path
) -> None:
    report = tmp_path / "late-calls.txt"
    root = project(
        {
            "steps/sleepy_step.py": f"""
                import time

                config = {{
                    "type": "event",
                    "name": "Sleepy",
                    "subscribes": ["nap"],
                    "emits": ["made"],
                    "infrastructure": {{
                        "handler": {{"timeout": 0.2}}, "queue": {{"maxRetries": 0}}
                    }},
                }}

                def handler(input, context):
                    time.sleep(0.6)
                    outcomes = []
                    for call in (
                        lambda: context.state.set("late", "k", 1),
                        lambda: context.emit({{"topic": "made", "data": {{}}}}),
                        lambda: context.streams.feed.set("all", "late", {{}}),
                    ):
                        try:
                            call()
                            outcomes.append("accepted")
                        except Exception as exc:
                            outcomes.append(type(exc).__name__)
                    with open({str(report)!r}, "w") as file:
                        file.write(",".join(outcomes))
            """,
            "steps/downstream_step.py": DOWNSTREAM,
            "steps/feed_stream.py": FEED,
        }
    )
    async with serve(root) as (engine, client):
        await engine.emit_committed("nap", {})
        (dead,) = await wait_until(lambda: list(engine.bus.dlq.values()), what="the timeout")
        assert dead["error"] == "Sleepy timed out after 0.2s"
        # The handler's open() makes the file before its write fills it: wait for the text.
        await wait_until(lambda: report.exists() and report.read_text(), timeout=10,
                         what="the late calls")
        assert report.read_text() == "RunEnded,RunEnded,RunEnded"
        await engine.idle()
        assert engine.state.groups() == {}
        assert (await client.get("/__motia/streams/feed/all")).json()["items"] == []
        assert "Downstream" not in engine.executor.stats
    assert on_disk(root, "SELECT * FROM state") == []


def nested(levels: int) -> Any:
    value: Any = {"leaf": True}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


NESTED = {
    "steps/echo_step.py": """
        config = {"type": "api", "name": "Echo", "path": "/echo", "method": "POST",
                  "emits": ["echoed"]}

        async def handler(req, context):
            await context.state.set("echo", "body", req.body)
            await context.emit({"topic": "echoed", "data": req.body})
            return {"status": 200, "body": req.body}
    """,
    "steps/count_step.py": """
        config = {"type": "event", "name": "Count", "subscribes": ["echoed"]}

        async def handler(input, context):
            runs = await context.state.get("echo", "runs") or 0
            await context.state.set("echo", "runs", runs + 1)
    """,
}


async def test_deeply_nested_bodies_are_served_and_traced_cut_short(
    project: MakeProject, serve
) -> None:
    root = project(NESTED)
    traces = []
    async with serve(root) as (engine, client):
        for runs, levels in enumerate((253, 254), start=1):
            body = nested(levels)
            response = await client.post("/echo", json=body)
            assert response.status_code == 200, response.text
            assert response.json() == body
            await engine.idle()
            assert engine.state.get("echo", "runs") == runs
            assert engine.state.get("echo", "body") == body
            traces.append(response.headers["x-trace-id"])
            trace = await trace_of(client, traces[-1], 2)
            assert {s["step"]: s["status"] for s in trace["spans"]} == {"Echo": "ok", "Count": "ok"}
        assert (await client.get("/__motia/stats")).json()["edges"] == []
        records = (await client.get("/__motia/logs", params={"level": "warn"})).json()["logs"]
        assert records == []
    assert on_disk(root, "SELECT * FROM queue") == []
    for trace_id in traces:
        stored = on_disk(root, f"SELECT data FROM spans WHERE trace_id = '{trace_id}'")
        spans = {json.loads(data)["step"]: data for (data,) in stored}
        assert CUT_MARKER in spans["Echo"]  # the body sits two levels down in the span
        assert json.loads(spans["Echo"])["status"] == "ok"


async def test_a_response_that_cannot_be_encoded_is_a_failed_attempt(
    project: MakeProject, serve
) -> None:
    root = project(
        {
            "steps/deep_step.py": """
                config = {"type": "api", "name": "Deep", "path": "/deep", "method": "POST",
                          "emits": ["echoed"]}

                async def handler(req, context):
                    value = {"leaf": True}
                    for _ in range(400):
                        value = {"a": value}
                    await context.state.set("deep", "seen", True)
                    await context.emit({"topic": "echoed", "data": {}})
                    return {"status": 200, "body": value, "headers": {"x-name": "ok"}}
            """,
            "steps/bad_header_step.py": """
                config = {"type": "api", "name": "BadHeader", "path": "/header", "method": "POST"}

                async def handler(req, context):
                    await context.state.set("deep", "header", True)
                    return {"status": 200, "body": {}, "headers": {"x-name": "snow ☃"}}
            """,
            "steps/count_step.py": NESTED["steps/count_step.py"],
        }
    )
    async with serve(root) as (engine, client):
        for path in ("/deep", "/header"):
            response = await client.post(path, json={})
            assert response.status_code == 500, response.text
            assert response.headers["content-type"] == "application/json"
            assert "error" in response.json()
        await engine.idle()
        assert engine.state.groups() == {}
        assert "Count" not in engine.executor.stats
    assert on_disk(root, "SELECT * FROM state") == []
