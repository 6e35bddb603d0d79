"""Events between steps: fan-out, warnings, retries, dead letters, fifo, delays, state API."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_support import logs, trace_of

from engine import Settings
from engine.bus import Delivery, backoff_s
from engine.runs import Deadlines

MakeProject = Callable[[dict[str, str]], Path]

FANOUT = {
    "steps/place_order_step.py": """
        config = {
            "type": "api",
            "name": "PlaceOrder",
            "path": "/orders",
            "method": "POST",
            "emits": ["order.placed"],
        }

        async def handler(req, context):
            await context.emit({"topic": "order.placed", "data": {"id": req.body.id}})
            await context.emit({"topic": "order.undeclared", "data": {}})
            await context.emit({"topic": "order.placed.nobody", "data": {}})
            return {"status": 202, "body": {"traceId": context.trace_id}}
    """,
    "steps/bill_step.py": """
        config = {
            "type": "event",
            "name": "Bill",
            "subscribes": ["order.placed"],
            "input": {
                "type": "object",
                "properties": {"id": {"type": "string"}},
                "required": ["id"],
            },
        }

        async def handler(input, context):
            await context.state.set("fanout", "Bill", {"trace": context.trace_id, "id": input.id})
    """,
    "steps/ship_step.py": """
        config = {"type": "event", "name": "Ship", "subscribes": ["order.placed"]}

        def handler(input, context):
            context.state.set("fanout", "Ship", {"trace": context.trace_id, "id": input["id"]})
    """,
    "steps/notify_step.py": """
        config = {"type": "event", "name": "Notify", "subscribes": ["order.placed", "other"]}

        async def handler(input, context):
            value = {"trace": context.trace_id, "id": input.get("id")}
            await context.state.set("fanout", "Notify", value)
    """,
}


async def test_emit_fans_out_in_the_same_trace(project: MakeProject, serve) -> None:
    async with serve(project(FANOUT)) as (engine, client):
        response = await client.post("/orders", json={"id": "o-1"})
        assert response.status_code == 202
        trace_id = response.json()["traceId"]
        await engine.idle()
        assert engine.state.groups()["fanout"] == {
            "Bill": {"trace": trace_id, "id": "o-1"},
            "Ship": {"trace": trace_id, "id": "o-1"},
            "Notify": {"trace": trace_id, "id": "o-1"},
        }
        trace = await trace_of(client, trace_id, 4)
        by_step = {s["step"]: s for s in trace["spans"]}
        api = by_step["PlaceOrder"]
        for name in ("Bill", "Ship", "Notify"):
            assert by_step[name]["parentId"] == api["spanId"]
            assert by_step[name]["status"] == "ok"
        assert api["emits"][0] == {"topic": "order.placed", "data": {"id": "o-1"}, "subscribers": 3}


async def test_emit_warnings(project: MakeProject, serve) -> None:
    async with serve(project(FANOUT)) as (engine, client):
        response = await client.post("/orders", json={"id": "o-1"})
        trace_id = response.json()["traceId"]
        await engine.idle()
        messages = [r["msg"] for r in await logs(client, traceId=trace_id, level="warn")]
        assert (
            "PlaceOrder emitted 'order.undeclared', which its config does not declare in 'emits'"
            in messages
        )
        assert "no step subscribes to 'order.undeclared'; the event is dropped" in messages
        assert "no step subscribes to 'order.placed.nobody'; the event is dropped" in messages


async def test_input_schema_mismatch_warns_and_runs(project: MakeProject, serve) -> None:
    async with serve(project(FANOUT)) as (engine, client):
        emitted = await client.post(
            "/__motia/emit", json={"topic": "order.placed", "data": {"id": 7}}
        )
        assert emitted.status_code == 202
        trace_id = emitted.json()["traceId"]
        await engine.idle()
        assert engine.state.get("fanout", "Bill") == {"trace": trace_id, "id": 7}
        (warning,) = await logs(client, traceId=trace_id, level="warn")
        assert warning["step"] == "Bill"
        assert warning["msg"] == "input does not match Bill's schema"
        assert warning["details"] == [{"field": "id", "message": "7 is not of type 'string'"}]


RETRIES = {
    "steps/flaky_step.py": """
        config = {
            "type": "event",
            "name": "Flaky",
            "subscribes": ["flaky"],
            "infrastructure": {"queue": {"maxRetries": 2}},
        }

        tries = {"Flaky": 0}  # state would forget: a failed attempt keeps none of its effects

        async def handler(input, context):
            tries["Flaky"] += 1
            attempts = tries["Flaky"]
            await context.state.set("attempts", "Flaky", attempts)
            if attempts <= input.failures:
                raise RuntimeError(f"attempt {attempts} failed")
            await context.state.set("done", "Flaky", attempts)
    """,
    "steps/once_step.py": """
        config = {
            "type": "event",
            "name": "Once",
            "subscribes": ["once"],
            "infrastructure": {"queue": {"maxRetries": 0}},
        }

        async def handler(input, context):
            broken = await context.state.get("flags", "broken")
            if broken:
                raise ValueError("still broken")
            await context.state.set("done", "Once", input)
    """,
    "steps/default_retries_step.py": """
        config = {"type": "event", "name": "DefaultRetries", "subscribes": ["default"]}

        def handler(input, context):
            raise KeyError("always")
    """,
    "steps/slow_step.py": """
        import asyncio

        config = {
            "type": "event",
            "name": "Slow",
            "subscribes": ["slow"],
            "infrastructure": {"handler": {"timeout": 0.2}, "queue": {"maxRetries": 1}},
        }

        async def handler(input, context):
            await asyncio.sleep(5)
    """,
}

FAST_RETRIES = Settings(retry_base_s=0.05, retry_max_s=10)


def test_the_retry_delay_doubles_from_the_base_jittered_down_by_a_fifth_and_capped() -> None:
    for _ in range(200):
        delays = [backoff_s(attempt, 0.05, 0.3) for attempt in range(1, 6)]
        assert 0.04 <= delays[0] <= 0.05 and 0.08 <= delays[1] <= 0.1
        assert 0.16 <= delays[2] <= 0.2 and all(0.24 <= d <= 0.3 for d in delays[3:])


def _attempt_spans(trace: dict[str, Any], step: str) -> list[dict[str, Any]]:
    return sorted((s for s in trace["spans"] if s["step"] == step), key=lambda s: s["attempt"])


async def test_retries_back_off_exponentially_then_dead_letter(project: MakeProject, serve) -> None:
    async with serve(project(RETRIES), FAST_RETRIES) as (engine, client):
        trace_id = engine.emit("flaky", {"failures": 10})
        await engine.idle()
        assert engine.state.get("attempts", "Flaky") is None  # every attempt failed
        assert engine.state.get("done", "Flaky") is None
        trace = await trace_of(client, trace_id, 4)
        spans = _attempt_spans(trace, "Flaky")
        assert [s["attempt"] for s in spans] == [1, 2, 3]
        assert [s["status"] for s in spans] == ["error", "error", "error"]
        assert spans[2]["error"]["message"] == "attempt 3 failed"
        assert all(s["durationMs"] is not None for s in spans)
        assert len({s["deliveryId"] for s in spans}) == 1
        first_gap = (spans[1]["start"] - spans[0]["start"]) / 1000
        second_gap = (spans[2]["start"] - spans[1]["start"]) / 1000
        # A busy loop can only lengthen a gap: each is at least its jittered delay, and the
        # doubling itself is checked on the schedule below, where no load can blur it.
        assert first_gap >= 0.04
        assert second_gap >= 0.08
        assert trace["status"] == "error"

        (item,) = (await client.get("/__motia/dlq")).json()["items"]
        assert set(item) == {
            "id",
            "topic",
            "step",
            "data",
            "error",
            "attempts",
            "traceId",
            "failedAt",
            "traceback",
        }
        assert "RuntimeError: attempt 3 failed" in item["traceback"]
        assert item["topic"] == "flaky"
        assert item["step"] == "Flaky"
        assert item["data"] == {"failures": 10}
        assert item["error"] == "attempt 3 failed"
        assert item["attempts"] == 3
        assert item["traceId"] == trace_id
        failures = await logs(client, traceId=trace_id, level="error")
        assert [f["msg"].split(",")[0] for f in failures] == [
            "Flaky failed (attempt 1/3)",
            "Flaky failed (attempt 2/3)",
            "Flaky failed (attempt 3/3)",
        ]
        assert failures[-1]["msg"].endswith("moved to the dead-letter queue: attempt 3 failed")


async def test_a_retry_that_succeeds_settles_the_event(project: MakeProject, serve) -> None:
    async with serve(project(RETRIES), FAST_RETRIES) as (engine, client):
        trace_id = engine.emit("flaky", {"failures": 2})
        await engine.idle()
        assert engine.state.get("done", "Flaky") == 3
        assert engine.state.get("attempts", "Flaky") == 3  # only the last attempt's effects
        trace = await trace_of(client, trace_id, 4)
        spans = _attempt_spans(trace, "Flaky")
        assert [s["status"] for s in spans] == ["error", "error", "ok"]
        assert trace["status"] == "ok"
        assert (await client.get("/__motia/dlq")).json() == {"items": []}


async def test_default_max_retries_is_three(project: MakeProject, serve) -> None:
    settings = Settings(retry_base_s=0.01, retry_max_s=0.02)
    async with serve(project(RETRIES), settings) as (engine, client):
        trace_id = engine.emit("default", {})
        await engine.idle()
        trace = await trace_of(client, trace_id, 5)
        spans = _attempt_spans(trace, "DefaultRetries")
        assert [s["attempt"] for s in spans] == [1, 2, 3, 4]
        gaps = [(b["start"] - a["start"]) / 1000 for a, b in itertools.pairwise(spans)]
        assert max(gaps) < 0.6  # the default 1 s backoff would leave at least 0.8 s
        assert (await client.get("/__motia/dlq")).json()["items"][0]["attempts"] == 4


async def test_timeouts_are_failed_attempts(project: MakeProject, serve) -> None:
    async with serve(project(RETRIES), FAST_RETRIES) as (engine, client):
        trace_id = engine.emit("slow", {})
        await engine.idle()
        trace = await trace_of(client, trace_id, 3)
        spans = _attempt_spans(trace, "Slow")
        assert [s["status"] for s in spans] == ["error", "error"]
        assert spans[0]["error"]["message"] == "Slow timed out after 0.2s"
        assert all(180 <= s["durationMs"] < 1000 for s in spans)
        (item,) = (await client.get("/__motia/dlq")).json()["items"]
        assert item["error"] == "Slow timed out after 0.2s"


async def test_a_run_after_a_quiet_spell_still_times_out(project: MakeProject, serve) -> None:
    """The sweeper of deadlines ends while no run is watched; the next run starts another."""
    async with serve(project(RETRIES), FAST_RETRIES) as (engine, client):
        for _ in range(2):
            trace_id = engine.emit("slow", {})
            await engine.idle()
            trace = await trace_of(client, trace_id, 3)
            assert [s["status"] for s in _attempt_spans(trace, "Slow")] == ["error", "error"]
            await asyncio.sleep(3 * Deadlines.TICK_S)  # nothing watched: the sweeper ends


async def test_dead_letter_retry_and_delete(project: MakeProject, serve) -> None:
    async with serve(project(RETRIES), FAST_RETRIES) as (engine, client):
        await client.put("/__motia/state/flags/broken", json=True)
        first = engine.emit("once", {"n": 1})
        engine.emit("once", {"n": 2})
        await engine.idle()
        items = (await client.get("/__motia/dlq")).json()["items"]
        assert sorted(i["data"]["n"] for i in items) == [1, 2]
        assert all(i["attempts"] == 1 for i in items)
        by_n = {i["data"]["n"]: i for i in items}

        assert (await client.delete(f"/__motia/dlq/{by_n[2]['id']}")).status_code == 204
        assert (await client.delete(f"/__motia/dlq/{by_n[2]['id']}")).status_code == 404

        await client.put("/__motia/state/flags/broken", json=False)
        retried = await client.post(f"/__motia/dlq/{by_n[1]['id']}/retry")
        assert retried.status_code == 202
        assert retried.json() == {"traceId": first}
        await engine.idle()
        assert engine.state.get("done", "Once") == {"n": 1}
        assert (await client.get("/__motia/dlq")).json() == {"items": []}
        again = await client.post(f"/__motia/dlq/{by_n[1]['id']}/retry")
        assert again.status_code == 404
        trace = await trace_of(client, first, 3)
        assert trace["status"] == "ok"
        assert [s["status"] for s in _attempt_spans(trace, "Once")] == ["error", "ok"]


FIFO = {
    "steps/fifo_step.py": """
        import asyncio

        config = {
            "type": "event",
            "name": "Ordered",
            "subscribes": ["job"],
            "infrastructure": {"queue": {"type": "fifo", "maxRetries": 3}},
        }

        counts = {"running": 0, "peak": 0}  # state would forget a failed attempt's counts

        async def handler(input, context):
            counts["running"] += 1
            counts["peak"] = max(counts["peak"], counts["running"])
            await context.state.set("fifo", "peak", counts["peak"])
            await asyncio.sleep(0.01)
            counts["running"] -= 1
            counts[input.n] = tries = counts.get(input.n, 0) + 1
            await context.state.set("tries", str(input.n), tries)
            if input.n in (1, 3) and tries < 3:
                raise RuntimeError(f"job {input.n} try {tries}")
            order = await context.state.get("fifo", "order") or []
            await context.state.set("fifo", "order", order + [input.n])
    """,
    "steps/standard_step.py": """
        import asyncio

        config = {"type": "event", "name": "Unordered", "subscribes": ["job"]}
        counts = {"running": 0, "peak": 0}  # runs see each other's state only once they end
        all_running = asyncio.Event()

        async def handler(input, context):
            counts["running"] += 1
            counts["peak"] = max(counts["peak"], counts["running"])
            if counts["running"] == 6:
                all_running.set()
            try:  # all six at once, however slowly a loaded machine starts them
                await asyncio.wait_for(all_running.wait(), 10)
            except TimeoutError:
                pass
            counts["running"] -= 1
            await context.state.set("standard", "peak", counts["peak"])
    """,
}


async def test_fifo_keeps_emit_order_through_retries(project: MakeProject, serve) -> None:
    settings = Settings(retry_base_s=0.02, retry_max_s=0.05)
    async with serve(project(FIFO), settings) as (engine, _client):
        for n in range(1, 7):
            engine.emit("job", {"n": n})
        await engine.idle()
        assert engine.state.get("fifo", "order") == [1, 2, 3, 4, 5, 6]
        assert engine.state.get("fifo", "peak") == 1
        assert engine.state.get("tries", "1") == 3
        assert engine.state.get("tries", "2") == 1
        assert engine.state.get("standard", "peak") == 6


DELAYED = {
    "steps/delayed_step.py": """
        config = {
            "type": "event",
            "name": "Delayed",
            "subscribes": ["later"],
            "infrastructure": {"queue": {"delaySeconds": 0.4}},
        }

        async def handler(input, context):
            await context.state.set("delayed", "ran", True)
    """,
}


async def test_delay_seconds_delays_the_first_delivery(project: MakeProject, serve) -> None:
    async with serve(project(DELAYED)) as (engine, client):
        trace_id = engine.emit("later", {})
        await asyncio.sleep(0.1)
        assert engine.state.get("delayed", "ran") is None
        await engine.idle()
        assert engine.state.get("delayed", "ran") is True
        trace = await trace_of(client, trace_id, 2)
        manual, delayed = sorted(trace["spans"], key=lambda s: s["start"])
        assert manual["kind"] == "manual"
        assert delayed["step"] == "Delayed"
        assert delayed["start"] - manual["start"] >= 400


UNAWAITED = {
    "steps/items_stream.py": """
        config = {
            "name": "items",
            "schema": {"type": "object"},
            "baseConfig": {"storageType": "default"},
        }
    """,
    "steps/slow_stream.py": """
        import asyncio

        class SlowStore:
            def __init__(self):
                self.items = {}

            async def get(self, group_id, item_id):
                return self.items.get((group_id, item_id))

            async def set(self, group_id, item_id, data):
                await asyncio.sleep(0.2)
                self.items[(group_id, item_id)] = data
                return data

            async def delete(self, group_id, item_id):
                return self.items.pop((group_id, item_id), None)

            async def get_group(self, group_id):
                return [v for (g, _), v in self.items.items() if g == group_id]

        config = {"name": "slow", "baseConfig": {"storageType": "custom", "factory": SlowStore}}
    """,
    "steps/fire_and_forget_step.py": """
        config = {
            "type": "api",
            "name": "FireAndForget",
            "path": "/forget",
            "method": "POST",
            "emits": ["forgotten"],
        }

        async def handler(req, context):
            context.state.set("unawaited", "api", 1)
            context.emit({"topic": "forgotten", "data": {"from": "api"}})
            context.streams.items.set("g", "api", {"v": 1})
            context.streams.slow.set("g", "api", {"v": 2})
            return {"status": 200, "body": {"ok": True}}
    """,
    "steps/forgotten_step.py": """
        config = {"type": "event", "name": "Forgotten", "subscribes": ["forgotten"]}

        async def handler(input, context):
            context.state.set("unawaited", "event", input)
            context.streams.slow.set("g", "event", {"v": 3})
            context.logger.info("not awaited either")
    """,
}


async def test_calls_without_await_finish_before_the_step(project: MakeProject, serve) -> None:
    async with serve(project(UNAWAITED)) as (engine, client):
        response = await client.post("/forget")
        assert response.status_code == 200
        slow = (await client.get("/__motia/streams/slow/g")).json()["items"]
        assert {"v": 2, "id": "api"} in slow
        assert engine.state.get("unawaited", "api") == 1
        items = (await client.get("/__motia/streams/items/g")).json()["items"]
        assert items == [{"v": 1, "id": "api"}]
        trace = await trace_of(client, response.headers["x-trace-id"], 2)
        spans = {s["step"]: s for s in trace["spans"]}
        assert spans["FireAndForget"]["durationMs"] >= 200
        assert spans["Forgotten"]["durationMs"] >= 200
        assert engine.state.get("unawaited", "event") == {"from": "api"}
        slow = (await client.get("/__motia/streams/slow/g")).json()["items"]
        assert {"v": 3, "id": "event"} in slow
        ops = [op["op"] for op in spans["FireAndForget"]["stateOps"]]
        assert ops == ["set", "stream.create", "stream.create"]


STATE_API = {
    "steps/state_step.py": """
        config = {"type": "api", "name": "StateApi", "path": "/state/:case", "method": "POST"}

        async def handler(req, context):
            state = context.state
            case = req.pathParams.case
            if case == "roundtrip":
                stored = await state.set("g", "a", {"x": 1})
                await state.set("g", "b", [1, 2])
                await state.set("g", "c", "text")
                await state.set("g", "d", {"data": 5, "other": True})
                await state.set("g", "e", {"none": None, "f": 1.5})
                await state.set("other", "z", 0)
                return {
                    "status": 200,
                    "body": {
                        "stored": stored,
                        "a": await state.get("g", "a"),
                        "b": await state.get("g", "b"),
                        "c": await state.get("g", "c"),
                        "d": await state.get("g", "d"),
                        "e": await state.get("g", "e"),
                        "absent": await state.get("g", "nope"),
                        "group": await state.get_group("g"),
                        "camel": await state.getGroup("g"),
                        "emptyGroup": await state.get_group("nothing"),
                    },
                }
            if case == "delete":
                removed = await state.delete("g", "a")
                again = await state.delete("g", "a")
                await state.clear("other")
                return {
                    "status": 200,
                    "body": {
                        "removed": removed,
                        "again": again,
                        "group": await state.get_group("g"),
                        "other": await state.get_group("other"),
                    },
                }
            if case == "copy":
                value = await state.get("g", "a")
                value["x"] = 99
                return {"status": 200, "body": {"after": await state.get("g", "a")}}
            if case == "not-json":
                errors = []
                for bad in ({1, 2}, float("nan"), object()):
                    try:
                        await state.set("g", "bad", bad)
                    except ValueError as exc:
                        errors.append(str(exc))
                try:
                    await context.emit({"topic": "t", "data": {"when": object()}})
                except TypeError as exc:
                    errors.append(str(exc))
                bad = await state.get("g", "bad")
                return {"status": 200, "body": {"errors": errors, "bad": bad}}
            raise LookupError(case)
    """,
}


async def test_state_api(project: MakeProject, serve) -> None:
    async with serve(project(STATE_API)) as (engine, client):
        data = (await client.post("/state/roundtrip")).json()
        assert data == {
            "stored": {"x": 1},
            "a": {"x": 1},
            "b": [1, 2],
            "c": "text",
            "d": {"data": 5, "other": True},
            "e": {"none": None, "f": 1.5},
            "absent": None,
            "group": [
                {"x": 1},
                [1, 2],
                "text",
                {"data": 5, "other": True},
                {"none": None, "f": 1.5},
            ],
            "camel": [
                {"x": 1},
                [1, 2],
                "text",
                {"data": 5, "other": True},
                {"none": None, "f": 1.5},
            ],
            "emptyGroup": [],
        }
        copy = (await client.post("/state/copy")).json()
        assert copy == {"after": {"x": 1}}
        deleted = (await client.post("/state/delete")).json()
        assert deleted == {
            "removed": {"x": 1},
            "again": None,
            "group": [[1, 2], "text", {"data": 5, "other": True}, {"none": None, "f": 1.5}],
            "other": [],
        }
        assert "other" not in engine.state.groups()


async def test_state_get_wrapped_as_motia_017(project: MakeProject, serve) -> None:
    async with serve(project(STATE_API), Settings(state_get="wrapped")) as (_engine, client):
        data = (await client.post("/state/roundtrip")).json()
        assert data["stored"] == {"x": 1}
        assert data["a"] == {"data": {"x": 1}}
        assert data["b"] == [1, 2]
        assert data["c"] == "text"
        assert data["d"] == {"data": 5, "other": True}
        assert data["e"] == {"data": {"none": None, "f": 1.5}}
        assert data["absent"] == {"data": None}
        assert data["group"][0] == {"x": 1}
        assert data["camel"] == data["group"]
        assert (await client.get("/__motia/state/g/a")).json() == {"x": 1}


async def test_values_that_are_not_json_are_refused(project: MakeProject, serve) -> None:
    async with serve(project(STATE_API)) as (_engine, client):
        data = (await client.post("/state/not-json")).json()
        assert data["bad"] is None
        errors = data["errors"]
        assert len(errors) == 4
        assert all(e.startswith("state values must be JSON: ") for e in errors[:3])
        assert "set" in errors[0]
        assert "NaN" in errors[1]
        assert "object" in errors[2]
        assert errors[3].startswith("emitted data for 't' must be JSON")


async def test_a_dead_letter_whose_step_is_gone_stays_queued(project: MakeProject, serve) -> None:
    root = project(RETRIES)
    async with serve(root, FAST_RETRIES) as (engine, client):
        await client.put("/__motia/state/flags/broken", json=True)
        engine.emit("once", {"n": 1})
        await engine.idle()
        (item,) = (await client.get("/__motia/dlq")).json()["items"]
        step_file = root / "steps" / "once_step.py"
        step_file.unlink()
        await engine.apply_changes([(True, step_file)])
        refused = await client.post(f"/__motia/dlq/{item['id']}/retry")
        assert refused.status_code == 404
        assert "no longer subscribes to 'once'" in refused.json()["error"]
        assert (await client.get("/__motia/dlq")).json()["items"] == [item]


CONTEXT = {
    "steps/items_stream.py": """
        config = {
            "name": "items",
            "schema": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "qty": {"type": "integer"}},
                "required": ["qty"],
            },
        }
    """,
    "steps/context_step.py": """
        class Order:
            def __init__(self):
                self.id = "o-1"
                self.qty = 2

        class Opaque:
            __slots__ = ()

            def __repr__(self):
                return "<opaque>"

        config = {
            "type": "api",
            "name": "Context",
            "path": "/context",
            "method": "POST",
            "flows": ["f"],
        }

        async def handler(req, context):
            context.logger.info("dict fields", {"a": 1, "odd": Opaque(), "nested": {"x": [1]}})
            context.logger.warn("object fields", Order())
            context.logger.error("scalar fields", 42)
            context.logger.debug("no fields")
            items = context.streams.items
            created = await items.set("g", "i1", {"qty": 1})
            updated = await items.set("g", "i1", {"qty": 3})
            await items.set("g", "i2", {"qty": 4})
            try:
                await items.set("g", "bad", {"qty": "many"})
                refused = None
            except ValueError as exc:
                refused = str(exc)
            await items.send({"groupId": "g", "id": "i1"}, {"type": "ping", "data": {"n": 1}})
            got = await items.get("g", "i1")
            group = await context.streams["items"].get_group("g")
            removed = await items.delete("g", "i2")
            try:
                context.streams.nope
                missing = None
            except AttributeError as exc:
                missing = str(exc)
            return {
                "status": 200,
                "body": {
                    "traceId": context.trace_id,
                    "camel": context.traceId,
                    "flows": context.flows,
                    "created": created,
                    "updated": updated,
                    "refused": refused,
                    "got": got,
                    "group": group,
                    "removed": removed,
                    "after": await items.get_group("g"),
                    "missingStream": missing,
                },
            }
    """,
}


async def test_context_logger_and_streams(project: MakeProject, serve) -> None:
    async with serve(project(CONTEXT)) as (engine, client):
        subscription = engine.events.subscribe(types={"stream.change"})
        response = await client.post("/context")
        data = response.json()
        trace_id = data["traceId"]
        assert data["camel"] == trace_id
        assert data["flows"] == ["f"]
        assert data["created"] == {"qty": 1, "id": "i1"}
        assert data["updated"] == {"qty": 3, "id": "i1"}
        assert "stream 'items' item does not match its schema: qty" in data["refused"]
        assert data["got"] == {"qty": 3, "id": "i1"}
        assert data["group"] == [{"qty": 3, "id": "i1"}, {"qty": 4, "id": "i2"}]
        assert data["removed"] == {"qty": 4, "id": "i2"}
        assert data["after"] == [{"qty": 3, "id": "i1"}]
        assert data["missingStream"] == "no stream named 'nope' (declared streams: items)"

        changes = [e.data for e in subscription.drain()]
        subscription.close()
        assert [(c["type"], c["id"]) for c in changes] == [
            ("create", "i1"),
            ("update", "i1"),
            ("create", "i2"),
            ("event", "i1"),
            ("delete", "i2"),
        ]
        assert changes[3]["data"] == {"type": "ping", "data": {"n": 1}}
        assert all(c["traceId"] == trace_id and c["step"] == "Context" for c in changes)
        stamps = [c["timestamp"] for c in changes if c["id"] == "i1"]
        assert stamps == sorted(stamps)

        records = {r["msg"]: r for r in await logs(client, traceId=trace_id)}
        dict_fields = records["dict fields"]
        assert (dict_fields["a"], dict_fields["odd"], dict_fields["nested"]) == (
            1,
            "<opaque>",
            {"x": [1]},
        )
        assert dict_fields["level"] == "info"
        assert isinstance(dict_fields["time"], int)
        assert dict_fields["flows"] == ["f"]
        assert dict_fields["step"] == "Context"
        assert (records["object fields"]["id"], records["object fields"]["qty"]) == ("o-1", 2)
        assert records["object fields"]["level"] == "warn"
        assert records["scalar fields"]["data"] == 42
        assert records["no fields"]["level"] == "debug"


NOT_RETRIED = {
    "steps/failing_cron_step.py": """
        config = {"type": "cron", "name": "FailingCron", "cron": "0 0 1 1 *"}

        async def handler(context):
            raise RuntimeError("cron broke")
    """,
    "steps/failing_api_step.py": """
        config = {"type": "api", "name": "FailingApi", "path": "/fail", "method": "GET"}

        async def handler(req, context):
            raise RuntimeError("api broke")
    """,
}


async def test_api_and_cron_runs_are_not_retried(project: MakeProject, serve) -> None:
    async with serve(project(NOT_RETRIED), FAST_RETRIES) as (engine, client):
        api_trace = (await client.get("/fail")).json()["traceId"]
        cron_trace = engine.trigger_cron("FailingCron")
        await engine.idle()
        await asyncio.sleep(0.2)
        for trace_id in (api_trace, cron_trace):
            trace = await trace_of(client, trace_id, 1)
            assert [s["status"] for s in trace["spans"]] == ["error"]
        assert (await client.get("/__motia/dlq")).json() == {"items": []}
        (record,) = await logs(client, traceId=cron_trace, level="error")
        assert record["msg"] == "cron FailingCron failed: cron broke"


async def test_a_delivery_handed_over_twice_is_counted_until_each_attempt_ends(
    project: MakeProject, serve
) -> None:
    """A shared queue hands a delivery over again when its claim runs out while the first
    attempt still runs: two objects with one id, each counted on its queue until it ends."""
    files = {
        "steps/slow_step.py": """
            import asyncio

            config = {"type": "event", "name": "Slow", "subscribes": ["work"]}

            async def handler(input, context):
                await asyncio.sleep(0.05)
        """,
    }
    async with serve(project(files)) as (engine, _client):
        bus = engine.bus
        (made,) = bus.make_deliveries("work", "{}", "f" * 32, None)
        for _ in range(2):
            again = Delivery(
                made.id, made.seq, made.topic, made.step, made.data_json, made.trace_id,
                made.parent_span, made.attempt, made.not_before,
            )
            bus.dispatch(again, engine.steps["Slow"])
        assert bus.depth("work", "Slow") == 2
        await engine.idle()
        assert bus.depth("work", "Slow") == 0
        assert bus.queued_by_edge == {}
