"""What a workbench attached to one worker of a Redis cluster sees: every worker's spans,
logs, state changes and dead letters, live, each span naming the worker that ran it.
Real `motia start` processes on the shared Redis, under the test's own prefix."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from cluster_support import TOKEN, Worker, workers
from engine_support import write_files

AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIEW_PROJECT = {
    "steps/hello_step.py": """
        config = {"type": "api", "name": "Hello", "path": "/hello", "method": "POST",
                  "emits": ["greet"]}

        async def handler(req, context):
            context.logger.info("hello from " + req.body["who"])
            await context.state.set("greetings", req.body["who"], {"n": 1})
            await context.emit({"topic": "greet", "data": {"who": req.body["who"]}})
            return {"status": 200, "body": {"ok": True}}
    """,
    "steps/greet_step.py": """
        config = {"type": "event", "name": "Greet", "subscribes": ["greet"]}

        async def handler(data, context):
            context.logger.info("greeted " + data["who"])
    """,
    "steps/doom_step.py": """
        config = {"type": "api", "name": "Doom", "path": "/doom", "method": "POST",
                  "emits": ["doomed"]}

        async def handler(req, context):
            await context.emit({"topic": "doomed", "data": {"who": req.body["who"]}})
            return {"status": 200, "body": {}}
    """,
    "steps/fail_step.py": """
        config = {"type": "event", "name": "AlwaysFails", "subscribes": ["doomed"],
                  "infrastructure": {"queue": {"maxRetries": 0}}}

        async def handler(data, context):
            raise RuntimeError("never works")
    """,
}


def project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "app", VIEW_PROJECT)


def consumer(worker: Worker) -> str:
    return str(worker.health()["details"]["store"]["cluster"]["consumer"])  # type: ignore[index]


def trace(worker: Worker, trace_id: str, spans: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = httpx.get(f"{worker.url}/__motia/traces/{trace_id}", headers=AUTH, timeout=5)
        if answer.status_code == 200:
            found: dict[str, Any] = answer.json()
            if len([s for s in found["spans"] if s["status"] != "running"]) >= spans:
                return found
        time.sleep(0.1)
    raise AssertionError(f"no trace {trace_id} with {spans} spans on {worker.url}")


def test_every_span_names_the_worker_that_ran_it(tmp_path: Path, redis_url: str,
                                                 prefix: str) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        answer = httpx.post(f"{b.url}/hello", json={"who": "ann"}, timeout=10)
        assert answer.status_code == 200, answer.text
        found = trace(a, answer.headers["x-trace-id"], 2)  # read on the other worker
        by_step = {span["step"]: span for span in found["spans"]}
        assert by_step["Hello"]["worker"] == consumer(b)
        assert by_step["Greet"]["worker"] in {consumer(a), consumer(b)}
