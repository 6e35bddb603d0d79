"""TypeScript and JavaScript steps on a real Node worker, behind a real server.

Every test starts the engine's own worker (engine/node/worker.mjs) with the project's packages
(zod, installed from the template lock files) and the engine's pinned esbuild.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from engine_support import logs, served, trace_of, wait_until
from node_support import NODE_TESTS, node_project

from engine import Settings
from engine.runtime import Engine

FAST = Settings(retry_base_s=0.01, retry_max_s=0.05)


def worker_pids(engine: Engine) -> list[int]:
    pool = engine.node.pool
    assert pool is not None, "no node worker was started"
    return [w.pid for w in pool.workers if w.pid is not None]


async def test_a_ts_step_that_raises_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/flaky.step.ts": """
                import type { EventConfig, Handlers } from 'motia'

                export const config: EventConfig = {
                  type: 'event',
                  name: 'Flaky',
                  subscribes: ['work'],
                  emits: [],
                  infrastructure: { queue: { maxRetries: 2 } },
                }

                type Input = { n: number }

                export const handler: Handlers['Flaky'] = async (input: Input, { state }) => {
                  await state.set('tries', String(input.n), 'kept only if the attempt succeeds')
                  const reason: string = `attempt failed for ${input.n}`
                  throw new TypeError(reason)
                }
            """,
        },
    )
    async with served(project, FAST) as (engine, client):
        sent = await client.post("/__motia/emit", json={"topic": "work", "data": {"n": 7}})
        assert sent.status_code == 202, sent.text
        trace = await trace_of(client, sent.json()["traceId"], spans=4)
        attempts = sorted(
            (s for s in trace["spans"] if s["step"] == "Flaky"), key=lambda s: s["attempt"]
        )
        assert [s["attempt"] for s in attempts] == [1, 2, 3]
        assert {s["status"] for s in attempts} == {"error"}
        error = attempts[0]["error"]
        assert error["message"] == "attempt failed for 7"
        assert error["type"] == "TypeError"
        assert error["file"].endswith("src/flaky.step.ts")
        assert error["line"] == 16, error  # the TypeScript line, through the source map
        (item,) = (await client.get("/__motia/dlq")).json()["items"]
        assert item["step"] == "Flaky" and item["attempts"] == 3
        assert item["error"] == "attempt failed for 7"
        assert "flaky.step.ts" in item["traceback"]
        assert engine.state.get("tries", "7") is None  # failed attempts keep nothing
        failures = await logs(client, step="Flaky", level="error")
        assert [r["msg"].split(":")[0] for r in failures] == [
            "Flaky failed (attempt 1/3), will retry",
            "Flaky failed (attempt 2/3), will retry",
            "Flaky failed (attempt 3/3), moved to the dead-letter queue",
        ]


SLOW_STEP = """
    import { existsSync } from 'node:fs'

    export const config = {
      type: 'event',
      name: 'Slow',
      subscribes: ['slow'],
      emits: [],
      infrastructure: { queue: { maxRetries: 0 } },
    }

    export const handler = async (input, { state, logger }) => {
      logger.info('started', { pid: process.pid })
      if (!existsSync(input.release)) await new Promise(() => {})
      await state.set('slow', 'done', { pid: process.pid })
    }
"""


async def test_a_worker_killed_mid_run_is_restarted_and_the_event_delivered_again(
    tmp_path: Path,
) -> None:
    project = node_project(tmp_path, {"src/slow.step.js": SLOW_STEP})
    release = tmp_path / "release"
    async with served(project, FAST) as (engine, client):
        (first_pid,) = worker_pids(engine)
        sent = await client.post(
            "/__motia/emit", json={"topic": "slow", "data": {"release": str(release)}}
        )
        trace_id = sent.json()["traceId"]
        await wait_until(
            lambda: any(r["msg"] == "started" for r in engine.logs.recent), what="the run"
        )
        release.write_text("go")
        os.kill(first_pid, signal.SIGKILL)
        done = await wait_until(lambda: engine.state.get("slow", "done"), timeout=20)
        assert done["pid"] != first_pid
        assert worker_pids(engine) == [done["pid"]]
        trace = await trace_of(client, trace_id, spans=3)
        runs = [s for s in trace["spans"] if s["step"] == "Slow"]
        assert [(s["attempt"], s["status"]) for s in runs] == [(1, "error"), (1, "ok")]
        assert "exited" in runs[0]["error"]["message"]
        assert (await client.get("/__motia/dlq")).json()["items"] == []  # no retry was used
        records = [r["msg"] for r in engine.logs.recent]
        assert any(f"node worker {first_pid} exited" in m for m in records), records


async def test_an_api_request_in_flight_when_the_worker_dies_answers_503(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/hang.step.ts": """
                export const config = {
                  type: 'api', name: 'Hang', path: '/hang', method: 'POST', emits: [],
                }
                export const handler = async (req, { state }) => {
                  await state.set('hang', 'seen', req.body)
                  if (req.body.hang) await new Promise(() => {})
                  return { status: 200, body: { ok: true } }
                }
            """,
        },
    )
    async with served(project, FAST) as (engine, client):
        (pid,) = worker_pids(engine)
        request = asyncio.ensure_future(client.post("/hang", json={"hang": True}))
        await wait_until(lambda: engine.executor.stats.get("Hang", {}).get("running"))
        os.kill(pid, signal.SIGKILL)
        response = await request
        assert response.status_code == 503
        body = response.json()
        assert body["error"].startswith("Hang was not answered: the node worker")
        assert body["traceId"] == response.headers["x-trace-id"]
        assert engine.state.get("hang", "seen") is None  # nothing of the request was kept
        again = await client.post("/hang", json={"hang": False})
        assert again.status_code == 200 and again.json() == {"ok": True}
        assert worker_pids(engine) != [pid]


async def test_a_zod_body_schema_rejects_a_bad_body_naming_the_field(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/pets.step.ts": """
                import { z } from 'zod'
                import type { ApiRouteConfig, Handlers } from 'motia'

                export const config: ApiRouteConfig = {
                  type: 'api',
                  name: 'CreatePet',
                  path: '/pets',
                  method: 'POST',
                  emits: [],
                  bodySchema: z.object({ name: z.string(), age: z.number().int().min(0) }),
                  responseSchema: { 201: z.object({ id: z.string() }) },
                }

                export const handler: Handlers['CreatePet'] = async (req) => {
                  return { status: 201, body: { id: `pet-${req.body.name}` } }
                }
            """,
        },
    )
    async with served(project, FAST) as (engine, client):
        bad = await client.post("/pets", json={"name": "Rex", "age": "old"})
        assert bad.status_code == 400
        assert bad.json()["error"] == "request body does not match the schema"
        assert [d["field"] for d in bad.json()["details"]] == ["age"]
        missing = await client.post("/pets", json={"age": 3})
        assert [d["field"] for d in missing.json()["details"]] == ["name"]
        good = await client.post("/pets", json={"name": "Rex", "age": 3, "extra": True})
        assert good.status_code == 201 and good.json() == {"id": "pet-Rex"}
        step = engine.steps["CreatePet"]
        assert step.language == "typescript"
        assert step.body_schema is not None
        assert step.body_schema.json_schema["required"] == ["name", "age"]
        assert engine.steps_json()["steps"][0]["language"] == "typescript"
        (pid,) = worker_pids(engine)
    with pytest.raises(ProcessLookupError):  # the worker stopped with the engine
        os.kill(pid, 0)


async def test_prints_and_logger_calls_land_in_logs_bound_to_their_run(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/talk.step.mjs": """
                export const config = {
                  type: 'api', name: 'Talk', path: '/talk', method: 'GET', emits: [],
                }
                export const handler = async (req, { logger, traceId }) => {
                  console.log('printed', 1, { a: 2 })
                  console.error('to stderr')
                  process.stdout.write('partial ')
                  process.stdout.write('line\\n')
                  logger.warn('careful', { traceId, depth: 3 })
                  await new Promise((resolve) => setTimeout(resolve, 5))
                  console.log('after a wait')
                  return { status: 200, body: { traceId } }
                }
            """,
        },
    )
    async with served(project, FAST) as (_engine, client):
        first, second = await asyncio.gather(client.get("/talk"), client.get("/talk"))
        for response in (first, second):
            trace_id = response.json()["traceId"]
            assert trace_id == response.headers["x-trace-id"]
            records = await logs(client, traceId=trace_id)
            by_msg = {r["msg"]: r for r in records}
            assert by_msg["printed 1 { a: 2 }"]["level"] == "info"
            assert by_msg["to stderr"]["level"] == "error"
            assert "partial line" in by_msg
            assert by_msg["after a wait"]["step"] == "Talk"
            assert by_msg["careful"]["level"] == "warn"
            assert by_msg["careful"]["depth"] == 3
            assert all(r["traceId"] == trace_id for r in records)


async def test_context_calls_cross_into_the_engine(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/counter.stream.py": """
                config = {
                    "name": "counter",
                    "schema": {"type": "object"},
                    "baseConfig": {"storageType": "default"},
                }
            """,
            "src/count.step.ts": """
                export const config = {
                  type: 'api', name: 'Count', path: '/count/:id', method: 'POST',
                  emits: ['counted'],
                }
                export const handler = async (req, { state, streams, emit }) => {
                  const id = req.pathParams.id
                  const before = (await state.get('counts', id)) ?? 0
                  await state.set('counts', id, before + 1)
                  const seen = await state.get('counts', id)
                  await streams.counter.set('all', id, { value: seen })
                  const item = await streams.counter.get('all', id)
                  const group = await state.getGroup('counts')
                  await emit({ topic: 'counted', data: { id, value: seen } })
                  let refused = ''
                  try { await streams.nothing.get('a', 'b') } catch (e) { refused = e.message }
                  const query = req.queryParams
                  return { status: 200, body: { seen, item, group, refused, query } }
                }
            """,
            "src/counted_step.py": """
                config = {"type": "event", "name": "Counted", "subscribes": ["counted"]}

                async def handler(input, context):
                    await context.state.set("seen", input.id, input.value)
            """,
        },
    )
    async with served(project, FAST) as (engine, client):
        response = await client.post("/count/a?x=1")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["seen"] == 1
        assert body["item"] == {"value": 1, "id": "a"}
        assert body["group"] == [1]
        assert body["query"] == {"x": "1"}
        assert "no stream named 'nothing'" in body["refused"]
        await engine.idle()
        assert engine.state.get("seen", "a") == 1
        assert engine.stream_store.get("counter", "all", "a") == {"value": 1, "id": "a"}
        trace = await trace_of(client, response.headers["x-trace-id"], spans=2)
        (count_span,) = [s for s in trace["spans"] if s["step"] == "Count"]
        ops = [op["op"] for op in count_span["stateOps"]]
        assert ops == ["get", "set", "get", "stream.create", "stream.get", "getGroup"]
        assert count_span["emits"][0]["topic"] == "counted"


async def test_a_project_without_node_files_starts_no_worker(basic_project: Path) -> None:
    async with served(basic_project, FAST) as (engine, _client):
        assert engine.node.pool is None


async def test_without_node_one_line_names_the_files_that_cannot_run(
    tmp_path: Path, monkeypatch: Any
) -> None:
    project = node_project(
        tmp_path,
        {
            "src/a.step.js": "export const config = { type: 'noop', name: 'A' }\n",
            "steps/b_step.ts": "export const config = { type: 'noop', name: 'B' }\n",
            "src/c_step.py": "config = {'type': 'noop', 'name': 'C'}\n",
        },
    )
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    async with served(project, FAST) as (engine, _client):
        lines = [r["msg"] for r in engine.logs.recent if "cannot run" in r["msg"]]
        assert lines == [
            "node was not found on the PATH (Node 18 or newer is needed): "
            "cannot run steps/b_step.ts, src/a.step.js"
        ]
        assert list(engine.steps) == ["C"]
        errors = engine.steps_json()["errors"]
        assert sorted(Path(e["file"]).name for e in errors) == ["a.step.js", "b_step.ts"]


async def test_middleware_runs_in_the_worker_and_cron_steps_run_too(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/guarded.step.ts": """
                const auth = async (req, ctx, next) => {
                  if (req.headers['x-key'] !== 'k') return { status: 401, body: { error: 'no' } }
                  ctx.logger.info('let through')
                  const res = await next()
                  return { ...res, headers: { 'x-wrapped': 'yes' } }
                }
                export const config = {
                  type: 'api', name: 'Guarded', path: '/guarded', method: 'GET', emits: [],
                  middleware: [auth],
                }
                export const handler = async () => ({ status: 200, body: { inside: true } })
            """,
            "src/tick.step.js": """
                export const config = { type: 'cron', name: 'Tick', cron: '0 0 1 1 *', emits: [] }
                export const handler = async ({ state, traceId }) => {
                  await state.set('ticks', 'last', traceId)
                }
            """,
        },
    )
    async with served(project, FAST) as (engine, client):
        assert (await client.get("/guarded")).status_code == 401
        allowed = await client.get("/guarded", headers={"x-key": "k"})
        assert allowed.status_code == 200 and allowed.json() == {"inside": True}
        assert allowed.headers["x-wrapped"] == "yes"
        trace_id = engine.trigger_cron("Tick")
        assert await wait_until(lambda: engine.state.get("ticks", "last")) == trace_id


async def test_busy_handlers_get_a_second_worker(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/wait.step.js": """
                export const config = {
                  type: 'api', name: 'Wait', path: '/wait', method: 'GET', emits: [],
                }
                export const handler = async () => {
                  await new Promise((resolve) => setTimeout(resolve, 1500))
                  return { status: 200, body: { pid: process.pid } }
                }
            """,
        },
    )
    async with served(project, FAST) as (engine, client):
        (first,) = worker_pids(engine)
        answers = await asyncio.gather(*(client.get("/wait") for _ in range(40)))
        assert {a.status_code for a in answers} == {200}
        assert len(worker_pids(engine)) == 2
        assert {a.json()["pid"] for a in answers} <= set(worker_pids(engine))
        assert first in worker_pids(engine)
        more = await asyncio.gather(*(client.get("/wait") for _ in range(8)))
        assert len({a.json()["pid"] for a in more}) == 2  # the least busy worker takes a run


async def test_esbuild_from_the_projects_own_node_modules(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/hello.step.ts": """
                export const config = {
                  type: 'api', name: 'Hi', path: '/hi', method: 'GET', emits: [],
                }
                export const handler = async () => ({ status: 200, body: { n: 1 as number } })
            """,
        },
    )
    shared = (project / ".motia" / "node_modules").resolve()
    (project / ".motia" / "node_modules").unlink()
    (project / "node_modules").unlink()
    (project / "node_modules").symlink_to(shared)
    async with served(project, FAST) as (engine, client):
        assert (await client.get("/hi")).json() == {"n": 1}
        assert not [r for r in engine.logs.recent if "esbuild" in r["msg"]]
        assert not (project / ".motia" / "node_modules").exists()


async def test_the_testing_harness_runs_node_steps(tmp_path: Path) -> None:
    from engine.testing import ProjectUnderTest

    project = node_project(
        tmp_path,
        {
            "src/add.step.ts": """
                export const config = {
                  type: 'api', name: 'Add', path: '/add', method: 'POST', emits: ['added'],
                }
                export const handler = async (req, { emit }) => {
                  await emit({ topic: 'added', data: { sum: req.body.a + req.body.b } })
                  return { status: 200, body: { ok: true } }
                }
            """,
            "src/keep_step.py": """
                config = {"type": "event", "name": "Keep", "subscribes": ["added"]}

                async def handler(input, context):
                    await context.state.set("sums", "last", input.sum)
            """,
        },
    )
    async with ProjectUnderTest(project) as harness:
        response = await harness.client.post("/add", json={"a": 2, "b": 3})
        assert response.status_code == 200
        await harness.idle()
        assert harness.state("sums", "last") == 5


async def test_a_zod_3_schema_converts_with_zod_to_json_schema(tmp_path: Path) -> None:
    files = {
        "src/order.step.ts": """
            import { z } from 'zod'

            export const config = {
              type: 'api', name: 'Order', path: '/order', method: 'POST', emits: [],
              bodySchema: z.object({ item: z.string(), count: z.number().int().positive() }),
            }
            export const handler = async () => ({ status: 200, body: { ok: true } })
        """,
    }
    project = node_project(tmp_path, files, packages=NODE_TESTS / "zod3")
    async with served(project, FAST) as (engine, client):
        assert engine.errors == {}
        bad = await client.post("/order", json={"item": "tea", "count": 0})
        assert bad.status_code == 400
        assert [d["field"] for d in bad.json()["details"]] == ["count"]
        assert (await client.post("/order", json={"item": "tea", "count": 2})).status_code == 200
