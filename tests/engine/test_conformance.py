"""The conformance project (tests/fixtures/basic) end to end: every bullet of its README."""

from __future__ import annotations

from pathlib import Path

from engine_support import logs, trace_of, wait_until

from engine import Settings


async def test_greet_runs_the_whole_chain(basic_project: Path, serve) -> None:
    async with serve(basic_project) as (engine, client):
        response = await client.post("/greet", json={"name": "Ada"})
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "greeting queued"
        trace_id = body["traceId"]
        assert response.headers["x-trace-id"] == trace_id
        await engine.idle()

        assert engine.state.get("greetings", trace_id) == {"text": "Hello, Ada!"}
        item = engine.executor.stream_get(None, "greetings", "all", trace_id)
        assert item == {"text": "Hello, Ada!", "id": trace_id}
        stream = await client.get("/__motia/streams/greetings/all")
        assert stream.json() == {"items": [{"text": "Hello, Ada!", "id": trace_id}]}

        recorded = await logs(client, traceId=trace_id, q="greeting recorded")
        assert [r["step"] for r in recorded] == ["RecordGreeting"]
        assert recorded[0]["text"] == "Hello, Ada!"
        assert recorded[0]["flows"] == ["greetings"]

        found = await client.get(f"/greetings/{trace_id}")
        assert found.status_code == 200
        assert found.json() == {"text": "Hello, Ada!"}
        missing = await client.get("/greetings/no-such-trace")
        assert missing.status_code == 404
        assert missing.json() == {"error": "not found"}


async def test_one_trace_spans_the_three_steps(basic_project: Path, serve) -> None:
    async with serve(basic_project) as (engine, client):
        trace_id = (await client.post("/greet", json={"name": "Ada"})).json()["traceId"]
        await engine.idle()
        trace = await trace_of(client, trace_id, 3)
        assert trace["status"] == "ok"
        spans = {s["step"]: s for s in trace["spans"]}
        assert set(spans) == {"GreetApi", "MakeGreeting", "RecordGreeting"}
        api, make, record = spans["GreetApi"], spans["MakeGreeting"], spans["RecordGreeting"]
        assert api["parentId"] is None
        assert make["parentId"] == api["spanId"]
        assert record["parentId"] == make["spanId"]
        assert {s["traceId"] for s in trace["spans"]} == {trace_id}
        assert api["emits"][0]["topic"] == "greet.requested"
        assert make["input"] == {"name": "Ada"}
        assert make["emits"] == [
            {"topic": "greet.made", "data": {"text": "Hello, Ada!"}, "subscribers": 1}
        ]
        assert {
            "op": "set",
            "group": "greetings",
            "key": trace_id,
            "value": {"text": "Hello, Ada!"},
        } in make["stateOps"]
        assert any(log["msg"] == "greeting recorded" for log in record["logs"])
        listed = (await client.get("/__motia/traces", params={"limit": 5})).json()["traces"]
        assert listed[0]["traceId"] == trace_id
        assert listed[0]["entry"] == "GreetApi"


async def test_bad_greet_body_is_refused_before_the_handler(basic_project: Path, serve) -> None:
    async with serve(basic_project) as (engine, client):
        response = await client.post("/greet", json={"name": ""})
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "request body does not match the schema"
        assert [d["field"] for d in body["details"]] == ["name"]
        missing = await client.post("/greet", json={})
        assert missing.json()["details"][0]["field"] == "name"
        await engine.idle()
        # The project's every-minute cron may tick meanwhile; only its counter may be there.
        assert set(engine.state.groups()) <= {"stats"}


async def test_a_refused_body_leaves_a_short_trace_naming_the_fields(
    basic_project: Path, serve
) -> None:
    async with serve(basic_project) as (engine, client):
        response = await client.post("/greet", json={"name": ""}, headers={"x-api-key": "k123456"})
        assert response.status_code == 400
        trace_id = response.json()["traceId"]
        assert response.headers["x-trace-id"] == trace_id
        trace = await trace_of(client, trace_id, 1)
        [span] = trace["spans"]
        assert span["step"] == "GreetApi"
        assert span["status"] == "error"
        assert span["error"]["type"] == "BodyRejected"
        assert [d["field"] for d in span["error"]["details"]] == ["name"]
        assert span["input"]["body"] == {"name": ""}
        assert "x-api-key" not in span["input"]["headers"]
        listed = (await client.get("/__motia/traces", params={"status": "error"})).json()
        assert listed["traces"][0]["traceId"] == trace_id
        warned = await wait_until(lambda: logs(client, traceId=trace_id))
        assert "GreetApi not called" in warned[0]["msg"]
        assert engine.executor.stats.get("GreetApi", {}).get("runs", 0) == 0


async def test_count_ticks_cron_trigger(basic_project: Path, serve) -> None:
    async with serve(basic_project) as (engine, client):
        first = await client.post("/__motia/cron/CountTicks/trigger")
        assert first.status_code == 202
        trace_id = first.json()["traceId"]
        await trace_of(client, trace_id, 1)
        assert engine.state.get("stats", "ticks") == 1
        await client.post("/__motia/cron/CountTicks/trigger")
        await wait_until(lambda: engine.state.get("stats", "ticks") == 2)
        state = await client.get("/__motia/state/stats/ticks")
        assert state.json() == 2
        unknown = await client.post("/__motia/cron/Nope/trigger")
        assert unknown.status_code == 404
        not_cron = await client.post("/__motia/cron/GreetApi/trigger")
        assert not_cron.status_code == 404


async def test_count_ticks_is_scheduled_every_minute(basic_project: Path, serve) -> None:
    async with serve(basic_project) as (_engine, client):
        stats = (await client.get("/__motia/stats")).json()
        next_fire = stats["cron"]["CountTicks"]
        assert next_fire % 60 == 0


async def test_flow_graph_has_the_virtual_edge(basic_project: Path, serve) -> None:
    async with serve(basic_project) as (_engine, client):
        flows = (await client.get("/__motia/flows")).json()["flows"]
        assert [f["name"] for f in flows] == ["greetings"]
        flow = flows[0]
        assert {n["id"] for n in flow["nodes"]} == {
            "Announce",
            "GreetApi",
            "GetGreeting",
            "MakeGreeting",
            "RecordGreeting",
            "CountTicks",
        }
        assert {"from": "Announce", "to": "GreetApi", "topic": "/greet", "virtual": True} in flow[
            "edges"
        ]
        real = {(e["from"], e["to"], e["topic"]) for e in flow["edges"] if not e["virtual"]}
        assert real == {
            ("GreetApi", "MakeGreeting", "greet.requested"),
            ("MakeGreeting", "RecordGreeting", "greet.made"),
        }


async def test_runs_on_the_memory_store_too(basic_project: Path, serve) -> None:
    async with serve(basic_project, Settings(store=":memory:")) as (engine, client):
        trace_id = (await client.post("/greet", json={"name": "Bo"})).json()["traceId"]
        await engine.idle()
        assert (await client.get(f"/greetings/{trace_id}")).json() == {"text": "Hello, Bo!"}
    assert not (basic_project / ".motia").exists()
