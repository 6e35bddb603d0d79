"""A finished run leaves by reference counting: nothing of it waits for the cyclic collector,
whose young collections would otherwise free thousands of runs' objects at a time."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.context import FlowContext
from engine.runs import Run
from engine.testing import ProjectUnderTest

STEPS = {
    "steps/items_stream.py": """
config = {"name": "items", "schema": {"type": "object"}, "baseConfig": {"storageType": "default"}}
""",
    "steps/start_step.py": """
config = {"type": "api", "name": "Start", "path": "/start", "method": "POST", "emits": ["busy"]}


async def handler(req, context):
    await context.state.set("start", str(req["body"]["n"]), req["body"])
    await context.emit({"topic": "busy", "data": req["body"]})
    return {"status": 200, "body": {}}
""",
    "steps/busy_step.py": """
config = {"type": "event", "name": "Busy", "subscribes": ["busy"], "emits": ["done"]}


async def handler(input, context):
    await context.state.set("busy", str(input["n"]), input)
    await context.state.get("busy", str(input["n"]))
    await context.streams.items.set("g", str(input["n"]), input)
    context.logger.info("busy", {"n": input["n"]})
    await context.emit({"topic": "done", "data": input})
""",
}


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """What the collector finds unreachable, kept for the test to look at."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_runs_leave_no_cycles(
    project: Callable[[dict[str, str]], Path], saved_garbage: list[object]
) -> None:
    root = project(STEPS)
    async with ProjectUnderTest(root) as harness:
        for n in range(20):
            assert (await harness.client.post("/start", json={"n": n})).status_code == 200
        await harness.idle()
        assert len(harness.engine.state.get_group("busy")) == 20
        gc.collect()
        left = [type(o).__name__ for o in saved_garbage if isinstance(o, FlowContext | Run)]
        assert left == []
