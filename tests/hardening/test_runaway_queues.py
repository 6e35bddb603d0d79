"""A step that emits more than its subscribers consume: each subscription's queue refuses runs
past its bound (event steps retry, api steps answer 503 naming topic and depth), the watchers
hear that a topic is full or grows fast, a topic's backlog can be purged (API, CLI attached or
on the stopped project's store) so it never resumes after a restart, and one trace keeps a
bounded number of spans whatever a runaway does in it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_support import events_socket, next_event, served, trace_of, wait_until
from process_support import MOTIA

from engine import Settings
from engine import events as ev
from engine.events import EventHub
from engine.queue_watch import GROWTH_PER_S, SAMPLES, QueueWatch

FAN = """
    import asyncio
    from pathlib import Path

    config = {"type": "event", "name": "Fan", "subscribes": ["fan"], "emits": ["fan"],
              "infrastructure": {"queue": {"maxRetries": 1}}}

    async def handler(data, ctx):
        await asyncio.sleep(0.01)
        if (Path(__file__).resolve().parent.parent / "stop").exists():
            return
        await ctx.emit({"topic": "fan", "data": data})
        await ctx.emit({"topic": "fan", "data": data})
"""
WORK = {
    "steps/order_step.py": """
        config = {"type": "api", "name": "Order", "path": "/order", "method": "POST",
                  "emits": ["work"]}

        async def handler(req, ctx):
            await ctx.state.set("orders", str(req.body["n"]), True)
            await ctx.emit({"topic": "work", "data": req.body})
            return {"status": 200, "body": {"ok": True}}
    """,
    "steps/slow_step.py": """
        import asyncio
        from pathlib import Path

        config = {"type": "event", "name": "Slow", "subscribes": ["work"],
                  "infrastructure": {"queue": {"maxQueued": 3}}}

        async def handler(data, ctx):
            while not (Path(__file__).resolve().parent.parent / "release").exists():
                await asyncio.sleep(0.02)
    """,
}


def fast_retries(store: Path | str = ":memory:", **values: Any) -> Settings:
    return Settings(store=str(store), retry_base_s=0.05, retry_max_s=0.1, **values)


async def test_a_fan_out_step_is_refused_at_the_queue_bound_and_memory_stays_bounded(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/fan_step.py": FAN})
    async with served(project_dir, fast_retries(max_queued=40)) as (engine, client):
        await client.post("/__motia/emit", json={"topic": "fan", "data": {"n": 1}})
        deepest = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            deepest = max(deepest, engine.bus.depth("fan", "Fan"))
            await asyncio.sleep(0.005)
        assert 30 <= deepest <= 40, deepest
        refusals = [
            r for r in engine.logs.recent if "the queue of 'fan' for Fan holds" in r["msg"]
        ]
        assert refusals, "no run was refused at the bound"
        assert "of 40 (setting max_queued" in refusals[0]["msg"]
        assert "will retry" in refusals[0]["msg"]
        (project_dir / "stop").touch()


async def test_an_api_step_past_the_bound_answers_503_naming_topic_and_depth(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project(WORK)
    async with served(project_dir, fast_retries()) as (engine, client):
        for number in range(3):
            assert (await client.post("/order", json={"n": number})).status_code == 200
        refused = await client.post("/order", json={"n": 3})
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert "the queue of 'work' for Slow holds 3 events" in error
        assert "bound of 3" in error and "infrastructure.queue.maxQueued" in error
        assert refused.json()["traceId"]
        assert engine.state.get("orders", "3") is None, "a refused run keeps nothing"
        assert engine.bus.depth("work", "Slow") == 3
        (project_dir / "release").touch()
        await wait_until(lambda: engine.bus.depth("work", "Slow") == 0, what="the queue drains")
        assert (await client.post("/order", json={"n": 3})).status_code == 200


async def test_a_refusal_at_the_bound_warns_whoever_watches(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project(WORK)
    async with served(project_dir, fast_retries()) as (_engine, client):
        async with events_socket(client) as socket:
            for number in range(4):
                await client.post("/order", json={"n": number})
            event = await next_event(socket, lambda e: e["type"] == ev.QUEUE_WARNING)
        assert event["data"] == {
            "topic": "work", "queued": 3, "perSecond": None, "full": True, "bound": 3
        }
        (project_dir / "release").touch()


async def test_a_topic_growing_fast_is_told_once_in_a_while() -> None:
    hub = EventHub()
    subscription = hub.subscribe(maxsize=100, types={ev.QUEUE_WARNING})
    depths = {("fan", "Fan"): 0, ("calm", "Calm"): 5}
    watch = QueueWatch(hub, lambda: depths)
    watch.start(asyncio.get_running_loop())
    watch.stop()
    for _ in range(SAMPLES + 3):
        depths[("fan", "Fan")] += 2 * GROWTH_PER_S
        depths[("calm", "Calm")] += 1
        watch._sample()
    watch.stop()
    (warning,) = [event.data for event in subscription.drain()]
    assert warning["topic"] == "fan" and not warning["full"]
    assert warning["perSecond"] == 2 * GROWTH_PER_S


async def purge_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *MOTIA, "queue", "purge", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_purging_a_runaway_topic_through_the_api_and_the_cli(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/fan_step.py": FAN})
    token = "purge-token"
    settings = fast_retries(max_queued=1_000)
    async with served(project_dir, settings, token=token) as (engine, client):
        auth = {"authorization": f"Bearer {token}"}
        await client.post("/__motia/emit", json={"topic": "fan", "data": {}}, headers=auth)
        await wait_until(lambda: engine.bus.depth("fan", "Fan") >= 900, what="a backlog")
        url = str(client.base_url).rstrip("/")
        code, out, err = await purge_cli("fan", "--attach", url, "--token", token)
        (project_dir / "stop").touch()
        assert code == 0, err
        assert out.startswith("purged ") and f"of 'fan' on {url}" in out
        assert int(out.split()[1]) >= 500
        await wait_until(lambda: engine.bus.depth("fan", "Fan") == 0, what="an empty queue")
        again = await client.delete("/__motia/queues/fan", headers=auth)
        assert again.status_code == 200 and again.json() == {"topic": "fan", "purged": 0}
        refused = await client.delete("/__motia/queues/fan")
        assert refused.status_code == 401


async def test_a_purge_on_the_stopped_projects_store_keeps_the_backlog_from_resuming(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/fan_step.py": FAN})
    store = project_dir / ".motia" / "store.sqlite3"
    settings = fast_retries(store, max_queued=300, port=0)
    async with served(project_dir, settings) as (engine, client):
        await client.post("/__motia/emit", json={"topic": "fan", "data": {}})
        await wait_until(lambda: engine.bus.depth("fan", "Fan") >= 250, what="a backlog")
    (project_dir / "stop").touch()
    code, out, err = await purge_cli("fan", "--dir", str(project_dir))
    assert code == 0, err
    purged = int(out.split()[1])
    assert purged >= 250 and f"from {store}" in out
    async with served(project_dir, settings) as (engine, _client):
        assert engine.recovered == 0
        assert engine.bus.depth("fan", "Fan") == 0


async def test_one_trace_keeps_a_bounded_number_of_spans(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/fan_step.py": FAN})
    settings = fast_retries(max_queued=200, max_trace_spans=50)
    async with served(project_dir, settings) as (engine, client):
        answer = await client.post("/__motia/emit", json={"topic": "fan", "data": {}})
        trace_id = answer.json()["traceId"]
        await wait_until(
            lambda: (engine.traces.get(trace_id) or {}).get("untracedSpans", {}).get("spans", 0)
            > 200,
            what="spans past the bound",
        )
        (project_dir / "stop").touch()
        trace = await trace_of(client, trace_id, 1)
        assert len(trace["spans"]) == 50
        untraced = trace["untracedSpans"]
        assert untraced["steps"] == {"Fan": untraced["spans"]}
        listed = (await client.get("/__motia/traces")).json()["traces"]
        assert listed[0]["untracedSpans"]["spans"] >= untraced["spans"]
