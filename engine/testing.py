"""A harness for testing your own steps: the real engine, in memory, no port, no files.

    async with ProjectUnderTest("path/to/project") as project:
        response = await project.client.post("/orders", json={"item": "tea", "quantity": 2})
        await project.idle()
        assert project.state("orders", response.json()["orderId"])["status"] == "processed"

Requests go straight to the ASGI app (httpx's ASGI transport), so a test needs no free port,
and the store is the in-memory adapter, so nothing is written into the project.

`emits` and `state_changes` tell what a trace did in the terms a recorded trace is described
in (`engine.trace_facts`), and `assert_like` compares them with `ANY_ID` and `ANY_TIME` where
values are bound to differ: the tests `motia trace test` writes use these.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from engine import trace_facts
from engine.http import build_app
from engine.logs import listed
from engine.loose_match import ANY_ID, ANY_TIME, assert_like
from engine.runtime import Engine
from engine.settings import Settings

__all__ = ["ANY_ID", "ANY_TIME", "ProjectUnderTest", "assert_like"]


class ProjectUnderTest:
    """One project's engine, started for the length of an `async with` block."""

    def __init__(self, project_dir: Path | str, settings: Settings | None = None) -> None:
        base = settings or Settings(retry_base_s=0.01, retry_max_s=0.05)
        self.engine = Engine(project_dir, replace(base, store=":memory:"), mode="dev")
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=build_app(self.engine, cors_origins=None, introspection=None, streams=None)
            ),
            base_url="http://project.test",
        )

    async def __aenter__(self) -> ProjectUnderTest:
        await self.engine.start()
        if self.engine.errors:
            problems = "; ".join(str(e) for e in self.engine.errors.values())
            await self.engine.stop()
            raise AssertionError(f"the project has steps that fail to load: {problems}")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.aclose()
        await self.engine.stop()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until every emitted event has been handled (retries included)."""
        await self.engine.idle(timeout)

    def emit(self, topic: str, data: Any) -> str:
        """Emit an event as a person would; answers the new trace id."""
        return self.engine.emit(topic, data)

    async def trigger_cron(self, name: str) -> str:
        trace_id = self.engine.trigger_cron(name)
        await self.idle()
        return trace_id

    def state(self, group: str, key: str) -> Any:
        return self.engine.state.get(group, key)

    async def seed_state(self, group: str, key: str, value: Any) -> None:
        """Put a value in state before the test's trigger, as a person's edit would."""
        done = self.engine.set_state(group, key, value)
        if done is not None:
            await done

    def emits(self, trace_id: str) -> list[dict[str, Any]]:
        """The events a trace emitted (`step`, `topic`, `data`), grouped by step."""
        return trace_facts.by_step(trace_facts.emits(self._spans(trace_id)))

    def state_changes(self, trace_id: str) -> list[dict[str, Any]]:
        """The state a trace changed (`step`, `op`, `group`, `key`, `before`, `after`),
        grouped by step."""
        return trace_facts.by_step(trace_facts.state_changes(self._spans(trace_id)))

    def _spans(self, trace_id: str) -> list[dict[str, Any]]:
        trace = self.engine.traces.get(trace_id)
        if trace is None:
            raise AssertionError(f"no trace {trace_id} in this run")
        spans: list[dict[str, Any]] = trace["spans"]
        return spans

    def logs(self, trace_id: str | None = None, step: str | None = None) -> list[dict[str, Any]]:
        return [
            listed(record)
            for record in self.engine.logs.recent
            if (trace_id is None or record.get("traceId") == trace_id)
            and (step is None or record.get("step") == step)
        ]

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        return self.engine.traces.get(trace_id)

    @property
    def dead_letters(self) -> list[dict[str, Any]]:
        return list(self.engine.bus.dlq.values())
