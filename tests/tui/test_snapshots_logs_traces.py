"""Snapshots of the Logs and Traces panes at 80x24 and 120x36.

The panes sit on a real `LocalSource` that is never started (so it has nothing to add) and
are fed a fixed batch of engine events with fixed times, shown in UTC: the pictures depend
on nothing but the code. Update them with `pytest --snapshot-update` after a deliberate
change, and look at the report before accepting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from pane_harness import copy_project
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Footer

from engine.settings import Settings
from motia_tui.panes.logs import LogsPane
from motia_tui.panes.traces import TracesPane
from motia_tui.source import LocalSource

WORKBENCH_CSS = Path(__file__).resolve().parents[2] / "motia_tui" / "workbench.tcss"
T0 = 1_704_164_645_000  # 2024-01-02 03:04:05 UTC
SIZES = [(80, 24), (120, 36)]


def log(offset: int, level: str, msg: str, step: str | None, trace: str | None,
        **fields: Any) -> dict[str, Any]:
    record = {"level": level, "time": T0 + offset, "msg": msg, "traceId": trace,
              "flows": ["greetings"] if step else [], "step": step, **fields}
    return {"type": "log", "time": T0 + offset, "data": record}


def span(trace: str, span_id: str, parent: str | None, step: str, start: int, duration: float,
         status: str = "ok", attempt: int = 1, **extra: Any) -> list[dict[str, Any]]:
    data: dict[str, Any] = {
        "spanId": span_id, "traceId": trace, "parentId": parent, "step": step,
        "kind": extra.pop("kind", "event"), "attempt": attempt, "status": "running",
        "start": T0 + start, "durationMs": None, "input": extra.pop("input", {}),
        "emits": extra.pop("emits", []), "stateOps": extra.pop("stateOps", []),
        "logs": extra.pop("logs", []), **extra,
    }
    ended = {**data, "status": status, "durationMs": duration}
    if status == "ok":
        ended["output"] = None
    return [
        {"type": "span.start", "time": T0 + start, "data": data},
        {"type": "span.end", "time": T0 + start + duration, "data": ended},
    ]


OK_TRACE, FAILED_TRACE, CRON_TRACE = "a" * 32, "b" * 32, "c" * 32
TRACE_EVENTS = [
    *span(OK_TRACE, "a1", None, "GreetApi", 0, 4.5, kind="api",
          input={"method": "POST", "path": "/greet", "body": {"name": "Ada"}},
          emits=[{"topic": "greet.requested", "data": {"name": "Ada"}, "subscribers": 1}],
          logs=[log(1, "info", "greeting requested", "GreetApi", OK_TRACE, name="Ada")["data"]]),
    *span(OK_TRACE, "a2", "a1", "MakeGreeting", 5, 2.25,
          stateOps=[{"op": "set", "group": "greetings", "key": OK_TRACE,
                     "value": {"text": "Hello, Ada!"}}]),
    *span(OK_TRACE, "a3", "a2", "RecordGreeting", 8, 12.0),
    *span(CRON_TRACE, "c1", None, "CountTicks", 100, 1.5, kind="cron", input=None),
    *span(FAILED_TRACE, "b1", None, "emit greet.requested", 200, 0.5, kind="manual"),
    *span(FAILED_TRACE, "b2", "b1", "MakeGreeting", 201, 3.0, status="error", deliveryId="d1",
          error={"message": "RuntimeError: state store is down",
                 "traceback": "Traceback (most recent call last):\n  ...\nRuntimeError"}),
    *span(FAILED_TRACE, "b3", "b1", "MakeGreeting", 1205, 2.0, status="error", attempt=2,
          deliveryId="d1", error={"message": "RuntimeError: state store is down"}),
]
LOG_EVENTS = [
    log(0, "info", "Started server process [4242]", None, None, logger="uvicorn.error"),
    log(3, "debug", "loading steps", None, None),
    *[
        log(10 + i * 37, level, msg, step, trace, **fields)
        for i, (level, msg, step, trace, fields) in enumerate(
            [
                ("info", "greeting requested", "GreetApi", OK_TRACE, {"name": "Ada"}),
                ("info", "greeting recorded", "RecordGreeting", OK_TRACE,
                 {"text": "Hello, Ada!"}),
                ("warn", "input does not match MakeGreeting's schema", "MakeGreeting",
                 FAILED_TRACE, {"details": ["'name' is a required property"]}),
                ("error", "MakeGreeting failed (attempt 1/2), will retry: state store is down",
                 "MakeGreeting", FAILED_TRACE, {"errorType": "RuntimeError"}),
                ("error", "MakeGreeting failed (attempt 2/2), moved to the dead-letter queue",
                 "MakeGreeting", FAILED_TRACE, {"errorType": "RuntimeError"}),
                ("info", "tick", "CountTicks", CRON_TRACE, {"ticks": 41}),
            ]
            * 4
        )
    ],
]


class OnePane(App[None]):
    """A pane on its own, styled by the workbench's stylesheet, fed a fixed batch."""

    CSS_PATH = str(WORKBENCH_CSS)

    def __init__(self, make: Callable[[LocalSource], Widget], events: list[dict[str, Any]],
                 project: Path) -> None:
        super().__init__()
        self.source = LocalSource(project, Settings(store=":memory:"), "127.0.0.1", 0,
                                  watch=False)
        self.pane = make(self.source)
        self.events = events

    def compose(self) -> ComposeResult:
        yield self.pane
        yield Footer()

    async def on_mount(self) -> None:
        await self.pane.reload()  # type: ignore[attr-defined]
        self.pane.apply_events(self.events)  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_logs_pane(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = OnePane(lambda s: LogsPane(s, tz=UTC), LOG_EVENTS, copy_project(tmp_path))
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_logs_pane_filtered(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = OnePane(lambda s: LogsPane(s, tz=UTC), LOG_EVENTS, copy_project(tmp_path))
    assert snap_compare(app, terminal_size=size, press=["slash", *"level:warn", "enter"])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_traces_list(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = OnePane(lambda s: TracesPane(s, tz=UTC), TRACE_EVENTS, copy_project(tmp_path))
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_traces_waterfall(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    app = OnePane(lambda s: TracesPane(s, tz=UTC), TRACE_EVENTS, copy_project(tmp_path))
    assert snap_compare(app, terminal_size=size, press=["enter", "down"])
