"""The `/__motia/` API: every endpoint's shape, its filters, the events socket and its guards."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_support import events_socket, logs, next_event, trace_of, wait_until, ws_url
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine import Engine, Settings
from engine.server import EngineServer

MakeProject = Callable[[dict[str, str]], Path]

PROJECT = {
    "steps/hello_step.py": """
        config = {
            "type": "api",
            "name": "Hello",
            "path": "/hello",
            "method": "POST",
            "emits": ["hello.said"],
            "flows": ["hi"],
        }

        async def handler(req, context):
            context.logger.debug("a debug line")
            context.logger.info("an info line", {"who": req.body.get("who")})
            context.logger.warn("a warn line")
            context.logger.error("an error line")
            await context.state.set("hello", "last", req.body)
            await context.emit({"topic": "hello.said", "data": req.body})
            return {"status": 200, "body": {"traceId": context.trace_id}}
    """,
    "steps/listen_step.py": """
        config = {
            "type": "event",
            "name": "Listen",
            "subscribes": ["hello.said"],
            "emits": [],
            "flows": ["hi"],
            "infrastructure": {"queue": {"maxRetries": 0}},
        }

        async def handler(input, context):
            if input.get("fail"):
                raise RuntimeError("listener refused")
            who = input.get("who")
            await context.streams.heard.set("everyone", input.get("who", "?"), {"who": who})
            context.logger.info("heard it")
    """,
    "steps/tick_step.py": """
        config = {"type": "cron", "name": "Tick", "cron": "0 0 1 1 *", "flows": ["hi"]}

        async def handler(context):
            context.logger.info("tick ran")
    """,
    "steps/heard_stream.py": """
        config = {
            "name": "heard",
            "schema": {"type": "object", "properties": {"who": {"type": "string"}}},
            "baseConfig": {"storageType": "default"},
        }
    """,
}


async def test_views_have_the_documented_shapes(project: MakeProject, serve) -> None:
    async with serve(project(PROJECT)) as (engine, client):
        steps = (await client.get("/__motia/steps")).json()
        assert set(steps) >= {"steps", "errors"}
        hello = next(s for s in steps["steps"] if s["name"] == "Hello")
        assert {
            "name",
            "type",
            "file",
            "flows",
            "emits",
            "subscribes",
            "path",
            "method",
            "status",
        } <= set(hello)
        tick = next(s for s in steps["steps"] if s["name"] == "Tick")
        assert tick["cron"] == "0 0 1 1 *"
        assert steps["streams"][0]["name"] == "heard"

        flows = (await client.get("/__motia/flows")).json()
        (flow,) = flows["flows"]
        assert flow["name"] == "hi"
        assert {"id", "name", "type"} <= set(flow["nodes"][0])
        assert flow["edges"] == [
            {"from": "Hello", "to": "Listen", "topic": "hello.said", "virtual": False}
        ]

        trace_id = (await client.post("/hello", json={"who": "ada"})).json()["traceId"]
        await engine.idle()
        traces = (await client.get("/__motia/traces")).json()["traces"]
        assert {"traceId", "entry", "status", "startedAt", "durationMs", "spans"} <= set(traces[0])
        assert traces[0]["traceId"] == trace_id
        assert traces[0]["spans"] == 2
        trace = await trace_of(client, trace_id, 2)
        assert {"traceId", "status", "spans"} <= set(trace)
        span = trace["spans"][0]
        assert {
            "spanId",
            "parentId",
            "step",
            "attempt",
            "status",
            "start",
            "durationMs",
            "input",
            "output",
            "emits",
            "stateOps",
            "logs",
        } <= set(span)
        assert span["output"] == {"status": 200, "body": {"traceId": trace_id}}
        assert [r["msg"] for r in span["logs"]] == [
            "a debug line",
            "an info line",
            "a warn line",
            "an error line",
        ]
        missing = await client.get("/__motia/traces/nope")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no trace nope"}

        assert (await client.get("/__motia/state")).json() == {
            "groups": {"hello": {"last": {"who": "ada"}}}
        }
        streams = (await client.get("/__motia/streams")).json()["streams"]
        assert streams[0]["name"] == "heard"
        assert streams[0]["groups"] == ["everyone"]
        group = (await client.get("/__motia/streams/heard/everyone")).json()
        assert group == {"items": [{"who": "ada", "id": "ada"}]}
        assert (await client.get("/__motia/streams/nope/g")).status_code == 404
        assert (await client.get("/__motia/dlq")).json() == {"items": []}
        stats = (await client.get("/__motia/stats")).json()
        assert stats["steps"]["Hello"] == {"runs": 1, "failures": 0, "running": 0}
        assert "Tick" in stats["cron"]
        assert (await client.get("/__motia/nothing-here")).status_code == 404


async def test_log_filters(project: MakeProject, serve) -> None:
    async with serve(project(PROJECT)) as (engine, client):
        first = (await client.post("/hello", json={"who": "ada"})).json()["traceId"]
        second = (await client.post("/hello", json={"who": "bob"})).json()["traceId"]
        await engine.idle()

        mine = await logs(client, traceId=first)
        assert {r["traceId"] for r in mine} == {first}
        assert [r["msg"] for r in mine] == [
            "a debug line",
            "an info line",
            "a warn line",
            "an error line",
            "heard it",
        ]
        assert [r["msg"] for r in await logs(client, traceId=first, step="Listen")] == ["heard it"]
        assert [r["level"] for r in await logs(client, traceId=first, level="warn")] == [
            "warn",
            "error",
        ]
        assert len(await logs(client, traceId=first, level="info")) == 4
        assert len(await logs(client, traceId=first, level="debug")) == 5
        assert [r["traceId"] for r in await logs(client, q="BOB")] == [second]
        assert [r["who"] for r in await logs(client, step="Hello", q="info line")] == [
            "ada",
            "bob",
        ]
        assert len(await logs(client, step="Hello", limit=3)) == 3
        record = (await logs(client, traceId=second, q="info"))[0]
        assert {"level", "time", "msg", "traceId", "flows", "step"} <= set(record)
        assert record["flows"] == ["hi"]
        bad = await client.get("/__motia/logs", params={"level": "loud"})
        assert bad.status_code == 400
        assert "level must be one of" in bad.json()["error"]
        assert (await client.get("/__motia/logs", params={"limit": "x"})).status_code == 400


async def test_trace_filters(project: MakeProject, serve) -> None:
    async with serve(project(PROJECT)) as (engine, client):
        ok = (await client.post("/hello", json={"who": "ada"})).json()["traceId"]
        failed = (await client.post("/hello", json={"who": "x", "fail": True})).json()["traceId"]
        cron = (await client.post("/__motia/cron/Tick/trigger")).json()["traceId"]
        await engine.idle()

        async def ids(**params: Any) -> list[str]:
            response = await client.get("/__motia/traces", params=params)
            return [t["traceId"] for t in response.json()["traces"]]

        assert await ids() == [cron, failed, ok]
        assert await ids(limit=2) == [cron, failed]
        assert await ids(status="error") == [failed]
        assert await ids(status="ok") == [cron, ok]
        assert await ids(step="Tick") == [cron]
        assert await ids(step="Listen", status="ok") == [ok]
        assert (await client.get("/__motia/traces", params={"limit": "x"})).status_code == 400


async def test_list_calls_refuse_bad_query_parameters_naming_what_is_allowed(
    project: MakeProject, serve
) -> None:
    async with serve(project(PROJECT)) as (_engine, client):
        refusals = {
            "/__motia/traces?status=bogus": "status must be one of ok, error, running; "
            "got 'bogus'",
            "/__motia/traces?limit=-1": "limit must be a whole number from 1 to 10000; got '-1'",
            "/__motia/traces?limit=0": "limit must be a whole number from 1 to 10000; got '0'",
            "/__motia/traces?limit=abc": "limit must be a whole number from 1 to 10000; "
            "got 'abc'",
            "/__motia/traces?limit=10001": "limit must be a whole number from 1 to 10000; "
            "got '10001'",
            "/__motia/traces?stauts=error": "unknown query parameter 'stauts'; known: limit, "
            "status, step",
            "/__motia/logs?limit=-1": "limit must be a whole number from 1 to 100000; got '-1'",
            "/__motia/logs?limit=1.5": "limit must be a whole number from 1 to 100000; "
            "got '1.5'",
            "/__motia/logs?level=loud": "level must be one of debug, info, warn, error; "
            "got 'loud'",
            "/__motia/logs?trace=x": "unknown query parameter 'trace'; known: traceId, step, "
            "level, q, limit, since, until",
        }
        for url, message in refusals.items():
            answer = await client.get(url)
            assert (answer.status_code, answer.json()) == (400, {"error": message}), url
        empty = await client.get("/__motia/traces?status=&step=&limit=")
        assert (empty.status_code, empty.json()) == (200, {"traces": []})
        assert (await client.get("/__motia/logs?limit=100000&level=warn")).status_code == 200


async def test_state_endpoints(project: MakeProject, serve) -> None:
    async with serve(project(PROJECT)) as (engine, client):
        assert (await client.get("/__motia/state/g/k")).status_code == 404
        assert (await client.get("/__motia/state/g/k")).json() == {"error": "no state g/k"}
        put = await client.put("/__motia/state/g/k", content=b'{"a": [1, 2]}')
        assert put.status_code == 200
        assert put.json() == {"a": [1, 2]}
        assert (await client.get("/__motia/state/g/k")).json() == {"a": [1, 2]}
        await client.put("/__motia/state/g/n", json=5)
        assert (await client.get("/__motia/state/g")).json() == {"k": {"a": [1, 2]}, "n": 5}

        traces = (await client.get("/__motia/traces")).json()["traces"]
        assert traces[0]["entry"] == "manual state edit"
        assert traces[0]["kind"] == "manual"
        manual = await trace_of(client, traces[1]["traceId"], 1)
        assert manual["spans"][0]["stateOps"] == [
            {"op": "set", "group": "g", "key": "k", "value": {"a": [1, 2]}}
        ]

        bad = await client.put("/__motia/state/g/k", content=b"{nope")
        assert bad.status_code == 400
        assert bad.json()["error"].startswith("malformed JSON body")
        nan = await client.put("/__motia/state/g/k", content=b"NaN")
        assert nan.status_code == 400
        assert "state values must be JSON" in nan.json()["error"]

        assert (await client.delete("/__motia/state/g/k")).status_code == 204
        assert (await client.delete("/__motia/state/g/k")).status_code == 404
        assert (await client.delete("/__motia/state/g")).status_code == 204
        assert (await client.delete("/__motia/state/g")).status_code == 404
        assert (await client.get("/__motia/state/g")).status_code == 404
        assert engine.state.groups() == {}
        deletes = (await client.get("/__motia/traces", params={"limit": 2})).json()["traces"]
        assert [t["entry"] for t in deletes] == ["manual state edit", "manual state edit"]


async def test_emit_and_cron_controls(project: MakeProject, serve) -> None:
    async with serve(project(PROJECT)) as (engine, client):
        emitted = await client.post(
            "/__motia/emit", json={"topic": "hello.said", "data": {"who": "eve"}}
        )
        assert emitted.status_code == 202
        trace_id = emitted.json()["traceId"]
        assert set(emitted.json()) == {"traceId"}
        await engine.idle()
        trace = await trace_of(client, trace_id, 2)
        assert [s["step"] for s in trace["spans"]] == ["emit hello.said", "Listen"]
        assert trace["spans"][1]["input"] == {"who": "eve"}

        for body in (b"{", b'{"data": 1}', b'{"topic": ""}', b"[1]"):
            refused = await client.post("/__motia/emit", content=body)
            assert refused.status_code == 400
            assert "error" in refused.json()

        cron = await client.post("/__motia/cron/Tick/trigger")
        assert cron.status_code == 202
        await engine.idle()
        assert (await logs(client, traceId=cron.json()["traceId"]))[0]["msg"] == "tick ran"
        missing = await client.post("/__motia/cron/Nope/trigger")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no cron step named 'Nope'"}


async def test_events_socket_pushes_engine_events(project: MakeProject, serve) -> None:
    root = project(PROJECT)
    async with serve(root, Settings(retry_base_s=0.01), watch=True) as (engine, client):
        async with events_socket(client) as socket:
            trace_id = (await client.post("/hello", json={"who": "ada"})).json()["traceId"]

            def of(kind: str, **match: Any) -> Callable[[dict[str, Any]], bool]:
                return lambda e: (
                    e["type"] == kind and all(e["data"].get(k) == v for k, v in match.items())
                )

            start = await next_event(socket, of("span.start", step="Hello"))
            assert start["data"]["traceId"] == trace_id
            assert isinstance(start["time"], float)
            log = await next_event(socket, of("log", msg="an info line"))
            assert log["data"]["traceId"] == trace_id
            end = await next_event(socket, of("span.end", step="Hello"))
            assert end["data"]["status"] == "ok"
            # a run's changes are announced once it has succeeded, after its span ends
            change = await next_event(socket, of("state.change", group="hello"))
            assert change["data"] == {
                "op": "set",
                "group": "hello",
                "key": "last",
                "value": {"who": "ada"},
                "traceId": trace_id,
                "step": "Hello",
            }
            stream = await next_event(socket, of("stream.change", stream="heard"))
            assert stream["data"]["type"] == "create"
            assert stream["data"]["data"] == {"who": "ada", "id": "ada"}

            await client.post("/hello", json={"who": "x", "fail": True})
            dead = await next_event(socket, of("dlq.added", step="Listen"))
            assert dead["data"]["error"] == "listener refused"

            (root / "steps" / "late_step.py").write_text(
                'config = {"type": "event", "name": "Late", "subscribes": ["x"]}\n'
                "async def handler(input, context):\n    pass\n"
            )
            loaded = await next_event(socket, of("step.loaded", name="Late"))
            assert loaded["data"]["file"] == "steps/late_step.py"
            (root / "steps" / "broken_step.py").write_text("config = {\n")
            failed = await next_event(socket, lambda e: e["type"] == "step.failed")
            assert failed["data"]["file"].endswith("broken_step.py")
            assert failed["data"]["message"].startswith("syntax error")
        await wait_until(lambda: not engine.events._subscribers)


async def test_foreign_origin_and_host_are_refused(project: MakeProject, serve) -> None:
    async with serve(project(PROJECT), cors_origins="*") as (_engine, client):
        own = str(client.base_url).rstrip("/")
        assert (await client.get("/__motia/steps", headers={"Origin": own})).status_code == 200
        foreign = await client.get("/__motia/steps", headers={"Origin": "http://evil.test"})
        assert foreign.status_code == 403
        assert foreign.json() == {"error": "cross-origin requests to /__motia are refused"}
        assert "access-control-allow-origin" not in foreign.headers
        posted = await client.post(
            "/__motia/emit",
            json={"topic": "hello.said", "data": {}},
            headers={"Origin": "http://evil.test"},
        )
        assert posted.status_code == 403
        rebinding = await client.get("/__motia/steps", headers={"Host": "evil.test"})
        assert rebinding.status_code == 403
        assert "DNS rebinding" in rebinding.json()["error"]
        port = client.base_url.port
        named = await client.get("/__motia/steps", headers={"Host": f"localhost:{port}"})
        assert named.status_code == 200
        api = await client.post("/hello", json={}, headers={"Origin": "http://evil.test"})
        assert api.status_code == 200
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(client, "/__motia/events"), origin="http://evil.test"):
                pass
        assert refused.value.response.status_code == 403


async def test_token_is_required_when_set(project: MakeProject, serve) -> None:
    async with serve(project(PROJECT), token="s3cret") as (_engine, client):
        missing = await client.get("/__motia/steps")
        assert missing.status_code == 401
        assert missing.json() == {"error": "missing or wrong introspection token"}
        wrong = await client.get("/__motia/steps", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        basic = await client.get("/__motia/steps", headers={"Authorization": "Basic s3cret"})
        assert basic.status_code == 401
        good = await client.get("/__motia/steps", headers={"Authorization": "Bearer s3cret"})
        assert good.status_code == 200
        assert (await client.post("/hello", json={})).status_code == 200

        for query in ("", "token=nope"):
            with pytest.raises(InvalidStatus) as refused:
                async with events_socket(client, query):
                    pass
            assert refused.value.response.status_code == 401
        async with events_socket(client, "token=s3cret") as socket:
            await client.post("/hello", json={"who": "tok"})
            event = await next_event(socket, lambda e: e["type"] == "span.start")
            assert event["data"]["step"] == "Hello"
        headers = {"Authorization": "Bearer s3cret"}
        async with events_socket(client, additional_headers=headers) as socket:
            await client.post("/hello", json={"who": "tok"})
            await next_event(socket, lambda e: e["type"] == "span.start")


async def test_start_mode_serves_introspection_only_with_a_token(
    project: MakeProject, serve
) -> None:
    root = project(PROJECT)
    async with serve(root, mode="start") as (_engine, client):
        response = await client.get("/__motia/steps")
        assert response.status_code == 404
        assert json.loads(response.text) == {"error": "no route for /__motia/steps"}
        assert (await client.post("/__motia/emit", json={"topic": "x"})).status_code == 404
        assert (await client.post("/hello", json={})).status_code == 200
        with pytest.raises(InvalidStatus):
            async with events_socket(client):
                pass
    async with serve(root, mode="start", token="prod") as (_engine, client):
        assert (await client.get("/__motia/steps")).status_code == 401
        bearer = {"Authorization": "Bearer prod"}
        assert (await client.get("/__motia/steps", headers=bearer)).status_code == 200
        assert (await client.post("/hello", json={})).status_code == 200


async def test_a_non_loopback_address_gets_a_generated_token(project: MakeProject) -> None:
    engine = Engine(project(PROJECT))
    server = EngineServer(
        engine, "127.0.0.2", 0, introspect=True, token=None, cors_origins=None, watch=False
    )
    assert server.token
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/__motia/steps")).status_code == 401
            bearer = {"Authorization": f"Bearer {server.token}"}
            assert (await client.get("/__motia/steps", headers=bearer)).status_code == 200
            assert (await client.post("/hello", json={})).status_code == 200
    finally:
        await server.stop()


async def test_steps_that_name_no_flow_are_answered_in_the_no_flow_graph(
    project: MakeProject, serve
) -> None:
    files = {
        **PROJECT,
        "steps/loner_step.py": """
            config = {"type": "api", "name": "Loner", "path": "/loner", "method": "POST",
                      "emits": [{"topic": "loner.asked", "label": "ask"}]}

            async def handler(req, context):
                return {"status": 202}
        """,
        "steps/loner_worker_step.py": """
            config = {"type": "event", "name": "LonerWorker", "subscribes": ["loner.asked"],
                      "emits": []}

            async def handler(input, context):
                pass
        """,
    }
    async with serve(project(files)) as (_engine, client):
        flows = (await client.get("/__motia/flows")).json()["flows"]
        assert [f["name"] for f in flows] == ["hi", "(no flow)"]
        unflowed = flows[1]
        assert sorted(n["name"] for n in unflowed["nodes"]) == ["Loner", "LonerWorker"]
        assert unflowed["edges"] == [{"from": "Loner", "to": "LonerWorker",
                                      "topic": "loner.asked", "virtual": False, "label": "ask"}]
