"""Log records hold plain values only, so the garbage collector never walks them, and they
leave the engine with their flows as a list, as they always did."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path

from engine.settings import Settings
from engine.testing import ProjectUnderTest

STEP = '''
config = {"type": "api", "name": "Chatty", "path": "/chatty", "method": "GET", "emits": [],
          "flows": ["talk", "more"]}


async def handler(req, context):
    for n in range(3):
        context.logger.info("line", {"n": n})
    return {"status": 200, "body": {}}
'''


async def test_records_are_untracked_and_read_with_flows_as_lists(
    project: Callable[[dict[str, str]], Path],
) -> None:
    root = project({"steps/chatty_step.py": STEP})
    async with ProjectUnderTest(root) as harness:
        await harness.client.get("/chatty")
        gc.collect()  # the first collection that sees the flows' shared tuple untracks it
        trace_id = (await harness.client.get("/chatty")).headers["x-trace-id"]
        held = [r for r in harness.engine.logs.recent if r.get("traceId") == trace_id]
        assert len(held) == 3
        assert not any(gc.is_tracked(record) for record in held)
        gc.collect(0)  # the store's tuples, untracked by the first collection that sees them
        stored = list(harness.engine.store._logs)  # type: ignore[attr-defined]
        assert len(stored) == 6 and not any(gc.is_tracked(record) for record in stored)

        assert [r["flows"] for r in harness.logs(trace_id)] == [["talk", "more"]] * 3
        trace = harness.trace(trace_id)
        assert trace is not None
        [span] = trace["spans"]  # ended: held as its JSON text
        assert [r["flows"] for r in span["logs"]] == [["talk", "more"]] * 3


async def test_a_query_past_the_memory_ring_shows_each_record_once(
    project: Callable[[dict[str, str]], Path],
) -> None:
    """Past the memory ring a query reads the disk too: the ring's records (flows a tuple)
    are told apart from the same records read back (flows a list), so each shows once."""
    root = project({"steps/chatty_step.py": STEP})
    settings = Settings(memory_window=2, retry_base_s=0.01, retry_max_s=0.05)
    async with ProjectUnderTest(root, settings) as harness:
        trace_id = (await harness.client.get("/chatty")).headers["x-trace-id"]
        found = await harness.engine.logs.find(trace_id=trace_id)
        assert [(r["n"], list(r["flows"])) for r in found] == [
            (n, ["talk", "more"]) for n in range(3)
        ]


async def test_a_feed_drained_as_json_holds_records_the_collector_does_not_walk(
    project: Callable[[dict[str, str]], Path],
) -> None:
    """A workbench's feed waits with each record as itself, not inside a tracked event, and
    drains what a plain window does, times and overflow included."""
    root = project({"steps/chatty_step.py": STEP})
    async with ProjectUnderTest(root) as harness:
        hub = harness.engine.events
        await harness.client.get("/chatty")
        gc.collect()  # untracks the flows' shared tuple
        plain, wire = hub.subscribe(maxsize=8), hub.subscribe_wire(8)
        for _ in range(3):
            await harness.client.get("/chatty")
        gc.collect()
        held = list(wire._buffer)  # type: ignore[attr-defined]
        records = [item for item in held if type(item) is dict]
        assert len(held) == 8 and len(records) >= 3
        assert not any(gc.is_tracked(record) for record in records)
        assert wire.take_dropped() == plain.take_dropped() > 0
        drained = wire.drain_wire(3) + wire.drain_wire(3) + wire.drain_wire()
        assert drained == [event.to_json() for event in plain.drain()]

        await harness.client.get("/chatty")
        assert [e.to_json() for e in wire.drain()] == [e.to_json() for e in plain.drain()]
        await harness.client.get("/chatty")
        async with asyncio.timeout(5):
            first = await wire.get()
        assert first.to_json() == (await plain.get()).to_json()
        plain.close()
        wire.close()


async def test_records_are_untracked_when_the_first_run_came_before_the_freeze(
    project: Callable[[dict[str, str]], Path],
) -> None:
    """The workbench keeps the collector off until it is ready, then freezes what start-up
    made: a run in that time made its flows' tuple with no collection to untrack it, and
    frozen it stays tracked. The next runs' records must not hold it."""
    flows = '"flows": ["made", "before", "ready"]'  # a list no other test's runs made a tuple of
    root = project({"steps/chatty_step.py": STEP.replace('"flows": ["talk", "more"]', flows)})
    async with ProjectUnderTest(root) as harness:
        gc.disable()
        try:
            await harness.client.get("/chatty")  # before the workbench is ready
            gc.freeze()
            gc.enable()
            await harness.client.get("/chatty")
            gc.collect(0)  # the young collection that untracks the new runs' tuple
            trace_id = (await harness.client.get("/chatty")).headers["x-trace-id"]
            held = [r for r in harness.engine.logs.recent if r.get("traceId") == trace_id]
            assert len(held) == 3
            assert not any(gc.is_tracked(record) for record in held)
        finally:
            gc.unfreeze()
            gc.enable()
