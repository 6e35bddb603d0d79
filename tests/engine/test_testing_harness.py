"""`engine.testing.ProjectUnderTest`: the harness users test their own steps with."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.testing import ProjectUnderTest

TEMPLATE = Path(__file__).resolve().parents[2] / "motia_tui" / "templates" / "default"


async def test_the_template_project_runs_through_the_harness(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns(".motia", "__pycache__"))
    async with ProjectUnderTest(root) as project:
        hello = await project.client.get("/default")
        assert hello.json() == {"message": "Hello World from Motia!"}
        placed = await project.client.post("/orders", json={"item": "tea", "quantity": 2})
        assert placed.status_code == 202
        order_id = placed.json()["orderId"]
        await project.idle()
        assert project.state("orders", order_id) == {
            "id": order_id, "item": "tea", "quantity": 2, "total": 9.0, "status": "processed",
        }
        trace_id = placed.headers["x-trace-id"]
        assert [r["msg"] for r in project.logs(trace_id, step="NotifyCustomer")] == [
            "customer notified"
        ]
        trace = project.trace(trace_id)
        assert trace is not None
        assert [s["step"] for s in trace["spans"]] == ["PlaceOrder", "ProcessOrder",
                                                       "NotifyCustomer"]
        await project.trigger_cron("OrderReport")
        assert project.state("reports", "latest") == {"orders": 1, "revenue": 9.0}
        bad = await project.client.post("/orders", json={"item": "tea"})
        assert bad.status_code == 400
    assert not (root / ".motia").exists()


async def test_failures_reach_the_dead_letter_queue_quickly(
    project: Callable[[dict[str, str]], Path],
) -> None:
    root = project({
        "steps/flaky_step.py": (
            'config = {"type": "event", "name": "Flaky", "subscribes": ["go"],\n'
            '          "infrastructure": {"queue": {"maxRetries": 1}}}\n\n\n'
            "async def handler(input, context):\n"
            '    raise RuntimeError("no luck")\n'
        )
    })
    async with ProjectUnderTest(root) as harness:
        harness.emit("go", {"n": 1})
        await harness.idle()
        [item] = harness.dead_letters
        assert item["attempts"] == 2 and item["error"] == "no luck"


async def test_a_project_with_broken_steps_is_refused(
    project: Callable[[dict[str, str]], Path],
) -> None:
    root = project({"steps/broken_step.py": "config = {\n"})
    with pytest.raises(AssertionError, match=r"broken_step\.py"):
        async with ProjectUnderTest(root):
            pass
