"""The Traces pane and the introspection API say the same thing about the same trace.

The case that once split them: an event that failed every attempt, went to the dead-letter
queue, was retried from there and then succeeded (the retry's attempt 1 came after the
dead letter's attempt 2, and the pane ranked attempts by number, the API by time).

Both compute a trace's status and summary with `engine.trace_view`, the API from the spans the
engine holds, the pane from the spans its events brought; these tests drive the real
workbench over a real engine and ask the API about the very trace the pane shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from pane_harness import copy_project, wait_for

from engine.settings import Settings
from motia_tui.app import WorkbenchApp, make_workbench
from motia_tui.panes.traces import TracesPane
from motia_tui.source import LocalSource

FLAKY_STEP = """
from pathlib import Path

config = {
    "type": "event",
    "name": "Flaky",
    "subscribes": ["flaky"],
    "emits": [],
    "flows": ["greetings"],
    "infrastructure": {"queue": {"maxRetries": 1}},
}

TRIES = Path(__file__).with_name("flaky.tries")


async def handler(input, context):
    tries = len(TRIES.read_text()) if TRIES.exists() else 0
    TRIES.write_text("x" * (tries + 1))
    if tries < 2:
        raise RuntimeError(f"not yet (try {tries + 1})")
    context.logger.info("worked this time")
"""


@asynccontextmanager
async def workbench_on(project: Path) -> AsyncIterator[tuple[WorkbenchApp, str]]:
    settings = Settings(retry_base_s=0.05)
    source = LocalSource(project, settings, "127.0.0.1", 0, watch=False)
    app = make_workbench(source)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        await pilot.press("3")
        yield app, source.label
        await pilot.press("q")
        await wait_for(lambda: app._exit, what="the workbench to quit")


def traces_pane(app: WorkbenchApp) -> TracesPane:
    pane = app.panes["traces"]
    assert isinstance(pane, TracesPane)
    return pane


async def settled(client: httpx.AsyncClient, trace_id: str, spans: int) -> dict[str, Any]:
    """The API's trace once it has `spans` spans and none runs."""
    deadline = time.monotonic() + 30
    while True:
        response = await client.get(f"/__motia/traces/{trace_id}")
        answer: dict[str, Any] = response.json() if response.status_code == 200 else {}
        if len(answer.get("spans", [])) >= spans and answer.get("status") != "running":
            return answer
        assert time.monotonic() < deadline, f"trace {trace_id} did not settle: {answer}"
        await asyncio.sleep(0.05)


async def test_a_dead_letter_retried_into_success_is_ok_in_the_pane_and_the_api(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "flaky_step.py").write_text(FLAKY_STEP, encoding="utf-8")
    async with (
        workbench_on(project) as (app, url),
        httpx.AsyncClient(base_url=url, timeout=15) as client,
    ):
        emitted = await client.post("/__motia/emit", json={"topic": "flaky", "data": {}})
        trace_id = emitted.json()["traceId"]
        failed = await settled(client, trace_id, 3)
        assert failed["status"] == "error"
        dead = (await client.get("/__motia/dlq")).json()["items"]
        assert [item["traceId"] for item in dead] == [trace_id]

        retried = await client.post(f"/__motia/dlq/{dead[0]['id']}/retry")
        assert retried.status_code == 202, retried.text
        detail = await settled(client, trace_id, 5)
        assert detail["status"] == "ok"

        pane = traces_pane(app)
        await wait_for(
            lambda: len(pane.book.spans.get(trace_id, {})) == 5
            and pane.book.summary(trace_id)["status"] != "running",
            timeout=30,
            what="the pane to hear of all five spans",
        )
        listed = (await client.get("/__motia/traces")).json()["traces"]
        (row,) = [t for t in listed if t["traceId"] == trace_id]
        shown = pane.book.summary(trace_id)
        assert shown["status"] == row["status"] == detail["status"] == "ok"
        assert shown == row
