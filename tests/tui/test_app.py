"""The whole workbench, built by `make_workbench` as the command line builds it, driven by keys.

Each test runs the real engine and uvicorn inside the app's loop (`run_test`) and talks to
the embedded server with a real HTTP client.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pane_harness import copy_project, wait_for
from textual.pilot import Pilot
from textual.widgets import Input

from engine.settings import Settings
from motia_tui.app import CLUSTER_ONLY, PANES, WorkbenchApp, make_workbench
from motia_tui.help import HelpScreen
from motia_tui.messages import OpenEndpoint
from motia_tui.pane_tabs import PaneTabs
from motia_tui.panes.endpoints import EndpointsPane
from motia_tui.panes.flows import FlowsPane
from motia_tui.panes.logs import LogsPane, RecordScreen
from motia_tui.panes.traces import TracesPane
from motia_tui.panes.workers import WorkersPane
from motia_tui.remote_source import RemoteSource
from motia_tui.source import FEED_SIZE, EngineSource, LocalSource, _LocalFeed
from motia_tui.widgets.flow_canvas import FlowCanvas

BROKEN_STEP = """
config = {"type": "event", "name": "Broken", "subscribes": "not-a-list"}


async def handler(input, context):
    pass
"""
FAILING_API = """
config = {"type": "api", "name": "Explode", "path": "/explode", "method": "GET", "emits": []}


async def handler(req, context):
    raise ValueError("kaboom")
"""

PING_API = """
config = {"type": "api", "name": "Ping", "path": "/ping", "method": "GET", "emits": [],
          "flows": ["greetings"]}


async def handler(req, context):
    return {"status": 200, "body": "pong"}
"""


@asynccontextmanager
async def workbench(
    source: EngineSource, size: tuple[int, int] = (120, 36)
) -> AsyncIterator[tuple[WorkbenchApp, Pilot[int]]]:
    app = make_workbench(source)
    async with app.run_test(size=size) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        yield app, pilot
        if not app._exit:
            await pilot.press("q")
            await wait_for(lambda: app._exit, what="the workbench to quit")


def local_source(tmp_path: Path, watch: bool = False) -> LocalSource:
    return LocalSource(copy_project(tmp_path), Settings(), "127.0.0.1", 0, watch=watch)


def logs_of(app: WorkbenchApp) -> LogsPane:
    pane = app.panes["logs"]
    assert isinstance(pane, LogsPane)
    return pane


def traces_of(app: WorkbenchApp) -> TracesPane:
    pane = app.panes["traces"]
    assert isinstance(pane, TracesPane)
    return pane


def shown_messages(pane: LogsPane) -> list[str]:
    buffer = pane.buffer
    return [str(buffer.record_at(i).get("msg")) for i in range(len(buffer))]


async def greet(url: str, name: str = "Ada") -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{url}/greet", json={"name": name})
    assert response.status_code == 200
    return str(response.json()["traceId"])


async def test_keys_switch_tabs_and_q_quits_with_zero(tmp_path: Path) -> None:
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        tabs = app.query_one(PaneTabs)
        assert tabs.active == "flows"
        for n, (tab, _title, _cls) in reversed(list(enumerate(PANES, start=1))):
            await pilot.press(str(n))
            if tab not in CLUSTER_ONLY:  # not a cluster: its key does nothing
                assert tabs.active == tab
        url = source.label
        await pilot.press("q")
        await wait_for(lambda: app._exit, what="the workbench to quit")
    assert app.return_code == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/__motia/steps", timeout=1)


async def test_the_tab_row_marks_the_shown_pane_and_a_click_shows_one(tmp_path: Path) -> None:
    """Every pane but the cluster's Workers has its numbered label; the bar under the row
    is lit under the shown pane's label only; a click on a label shows that pane with its
    main list focused, as its key does."""
    async with workbench(local_source(tmp_path)) as (app, pilot):
        tabs = app.query_one(PaneTabs)
        labels = tabs.render_line(0).text
        assert labels.split() == ["1", "Flows", "2", "Endpoints", "3", "Traces", "4", "Logs",
                                  "5", "State", "6", "Streams", "7", "DLQ"]
        for key, tab in (("3", "traces"), ("4", "logs")):
            await pilot.press(key)
            bar = tabs.render_line(1)
            lit = {s.style for s in bar if s.text.strip("━") == ""} - {None}
            assert len(lit) == 2, bar  # the lit part and the rest
            start, end = next((s, e) for t, s, e in tabs.spans() if t == tab)
            colours = [s.style.color for s in bar for _cell in s.text]
            assert len(set(colours[start:end])) == 1
            assert colours[start] not in colours[:start - 1] + colours[end + 1:]
            assert labels[start:end] == f"{key} {tab.capitalize()}"
        start, _end = next((s, e) for t, s, e in tabs.spans() if t == "traces")
        await pilot.click(PaneTabs, offset=(start + 1, 0))
        await wait_for(lambda: app.shown_tab() == "traces", what="Traces shown by a click")
        assert app.focused is app.main_widget("traces")
        start, _end = next((s, e) for t, s, e in tabs.spans() if t == "logs")
        await pilot.click(PaneTabs, offset=(start, 1))  # the bar under a label counts too
        await wait_for(lambda: app.shown_tab() == "logs", what="Logs shown by a click")
        assert app.focused is app.main_widget("logs")


async def test_help_lists_every_binding_and_palette_every_action(tmp_path: Path) -> None:
    async with workbench(local_source(tmp_path)) as (app, pilot):
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        described = {(e.section, e.description) for e in screen.entries}
        assert {
            ("Everywhere", "Errors"),
            ("Everywhere", "Quit"),
            ("Logs", "Filter"),
            ("Traces", "Open trace"),
        } <= described
        titles = {title for tab, title, _c in PANES if tab not in CLUSTER_ONLY}
        assert {section for section, _ in described} >= titles
        assert "Workers" not in {section for section, _ in described}  # not a cluster
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

        titles = {command.title for command in app.get_system_commands(app.screen)}
        for entry in app.key_entries():
            if entry.action != "command_palette":
                assert any(entry.description in title for title in titles), entry
        assert "Logs: Filter" in titles


async def test_hidden_panes_catch_up_when_shown(tmp_path: Path) -> None:
    """Panes behind other tabs do no work per event; showing one hands it what it missed,
    before the key press returns."""
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        flows = app.query_one(FlowsPane)
        canvas = flows.query_one(FlowCanvas)
        box = canvas.boxes["GreetApi"]
        traces, logs = traces_of(app), logs_of(app)

        def counters() -> str:
            return canvas._lines[box.y + 3][box.x : box.x + box.w]

        assert "runs 0" in counters()
        await pilot.press("4")
        trace_ids = [await greet(source.label) for _ in range(2)]
        await source.engine.idle()
        await wait_for(
            lambda: shown_messages(logs).count("greeting recorded") == 2,
            what="the shown pane to get both requests",
        )
        assert flows.model.counters.get("GreetApi", {}).get("runs", 0) == 0
        assert "runs 0" in counters()
        assert not set(trace_ids) & set(traces.book.summaries)

        await pilot.press("3")
        assert set(trace_ids) <= set(traces.trace_list.order)
        await pilot.press("1")
        assert flows.model.counters["GreetApi"]["runs"] == 2
        await wait_for(lambda: "runs 2" in counters(), what="the counts drawn once shown")


async def test_a_pane_hidden_through_a_flood_reloads_when_shown(tmp_path: Path) -> None:
    """Past its backlog's bound a hidden pane keeps nothing and reloads from the engine."""
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        traces = traces_of(app)
        app.pump.backlogs["traces"].limit = 5
        await pilot.press("4")
        trace_ids = [await greet(source.label, name) for name in ("Ada", "Bob", "Cy")]
        await source.engine.idle()
        logs = logs_of(app)
        await wait_for(
            lambda: shown_messages(logs).count("greeting recorded") == 3,
            what="the shown pane to get every request",
        )
        assert app.pump.backlogs["traces"].overflowed
        assert app.pump.backlogs["traces"].events == []
        await pilot.press("3")
        await wait_for(
            lambda: set(trace_ids) <= set(traces.trace_list.order),
            what="the reloaded traces in the list",
        )
        assert all(traces.book.summary(t)["spans"] == 3 for t in trace_ids)


async def test_span_starts_are_made_only_while_a_pane_reads_them(tmp_path: Path) -> None:
    """While Flows and Traces are hidden past their backlogs' bound (they reload when shown),
    nobody reads a `span.start`, and the feed leaves them out; the ends still come (the
    header's failures, the Workers pane), and what each pane shows once shown is the same."""
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        flows, traces, logs = app.query_one(FlowsPane), traces_of(app), logs_of(app)
        for tab in ("flows", "traces"):
            app.pump.backlogs[tab].limit = 0
        await pilot.press("4")
        first = await greet(source.label, "Ada")
        await source.engine.idle()
        await wait_for(lambda: shown_messages(logs).count("greeting recorded") == 1,
                       what="the first request on Logs")
        assert app.pump.backlogs["flows"].overflowed and app.pump.backlogs["traces"].overflowed
        feed = app.pump.feed
        assert feed is not None
        drained: list[str] = []
        drain = feed.drain

        def recorded(*args: Any) -> list[Any]:
            events = drain(*args)
            drained.extend(event["type"] for event in events)
            return events

        feed.drain = recorded  # type: ignore[method-assign]
        later = [await greet(source.label, name) for name in ("Bob", "Cy")]
        await source.engine.idle()
        await wait_for(lambda: shown_messages(logs).count("greeting recorded") == 3,
                       what="the later requests on Logs")
        assert drained.count("span.end") == 6 and "span.start" not in drained

        await pilot.press("3")
        await wait_for(lambda: {first, *later} <= set(traces.trace_list.order),
                       what="the traces reloaded once shown")
        await wait_for(lambda: all(traces.book.summary(t)["spans"] == 3 for t in later),
                       what="each trace's three spans")
        await pilot.press("1")
        await wait_for(lambda: flows.model.counters.get("GreetApi", {}).get("runs") == 3,
                       what="the counts reloaded once shown")
        drained.clear()
        await greet(source.label, "Dee")
        await source.engine.idle()
        await wait_for(lambda: flows.model.counters["GreetApi"]["runs"] == 4,
                       what="the shown Flows pane counting the next request")
        assert drained.count("span.start") == 3
        assert all(c["running"] == 0 for c in flows.model.counters.values())


async def test_a_pane_whose_tab_the_source_never_shows_is_handed_no_events(
    tmp_path: Path,
) -> None:
    """Off a cluster the Workers tab is never shown: handing it every batch (it is fed even
    while hidden) cost the loop a pass over each batch for nothing."""
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        workers = app.query_one(WorkersPane)
        handed: list[Any] = []
        workers.apply_events = handed.append  # type: ignore[method-assign]
        logs = logs_of(app)
        await pilot.press("4")
        await greet(source.label, "Ada")
        await source.engine.idle()
        await wait_for(lambda: shown_messages(logs).count("greeting recorded") == 1,
                       what="the request on Logs")
        assert handed == []


async def test_after_the_feed_overflows_the_shown_pane_reloads_and_the_others_once_shown(
    tmp_path: Path,
) -> None:
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        await pilot.press("4")
        feed = app.pump.feed
        assert isinstance(feed, _LocalFeed)
        feed._subscription._maxsize = 2  # every batch overflows the feed
        trace_ids = [await greet(source.label, name) for name in ("Ada", "Bob", "Cy")]
        await source.engine.idle()
        logs, traces = logs_of(app), traces_of(app)
        await wait_for(
            lambda: shown_messages(logs).count("greeting recorded") == 3,
            what="the shown pane reloaded from the engine",
        )
        assert app.pump.backlogs["traces"].overflowed
        assert not set(trace_ids) & set(traces.book.summaries)
        feed._subscription._maxsize = FEED_SIZE
        await pilot.press("3")
        await wait_for(
            lambda: set(trace_ids) <= set(traces.trace_list.order),
            what="the traces reloaded once shown",
        )


async def test_an_endpoint_opened_before_its_hidden_pane_heard_of_the_step(
    tmp_path: Path,
) -> None:
    source = local_source(tmp_path)
    async with workbench(source) as (app, _pilot):
        step = source.engine.project_dir / "steps" / "ping_step.py"
        step.write_text(PING_API, encoding="utf-8")
        await source.engine.apply_changes([(False, step)])
        flows = app.query_one(FlowsPane)
        await wait_for(lambda: "Ping" in flows.model.steps, what="Flows to show the new step")
        endpoints = app.query_one(EndpointsPane)
        assert "Ping" not in {route.step for route in endpoints.routes}

        app.post_message(OpenEndpoint("Ping"))
        path = endpoints.query_one("#endpoints-path", Input)
        await wait_for(lambda: path.value == "/ping", what="the new route in the builder")
        tabs = app.query_one("#tabs", PaneTabs)
        await wait_for(lambda: tabs.active == "endpoints", what="the Endpoints pane shown")
        assert not [n for n in app._notifications if "no api step" in n.message]
        await app.action_quit()


async def test_request_shows_in_traces_and_logs(tmp_path: Path) -> None:
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        trace_id = await greet(source.label)
        await source.engine.idle()
        await pilot.press("4")
        logs = logs_of(app)
        await wait_for(
            lambda: "greeting recorded" in shown_messages(logs), what="the log line in Logs"
        )
        await pilot.press("3")
        traces = traces_of(app)
        await wait_for(lambda: trace_id in traces.trace_list.order, what="the trace in the list")
        await wait_for(
            lambda: traces.book.summary(trace_id)["spans"] == 3, what="all three spans"
        )
        await pilot.press("enter")
        await wait_for(lambda: traces.open_id == trace_id, what="the trace to open")
        waterfall = traces.waterfall
        assert [row.step for row in waterfall.rows] == [
            "GreetApi",
            "MakeGreeting",
            "RecordGreeting",
        ]
        assert [row.depth for row in waterfall.rows] == [0, 1, 2]
        body = str(app.query_one("#span-body").render())
        assert "── input" in body and '"name": "Ada"' in body
        await pilot.press("down")
        body = str(app.query_one("#span-body").render())
        assert "MakeGreeting" in body and "set greetings/" in body
        await pilot.press("l")
        assert app.query_one(PaneTabs).active == "logs"
        await wait_for(
            lambda: shown_messages(logs) == ["greeting requested", "greeting recorded"],
            what="the logs of the trace",
        )
        await pilot.press("enter")
        assert isinstance(app.screen, RecordScreen)
        await pilot.press("t")
        assert app.query_one(PaneTabs).active == "traces"
        assert traces.open_id == trace_id


async def test_logs_filter_keys(tmp_path: Path) -> None:
    source = local_source(tmp_path)
    async with workbench(source) as (app, pilot):
        await pilot.press("4")
        for name in ("Ada", "Bob", "Cy"):
            await greet(source.label, name)
        await source.engine.idle()
        logs = logs_of(app)
        await wait_for(
            lambda: shown_messages(logs).count("greeting recorded") == 3, what="three greetings"
        )
        await pilot.press("slash")
        await pilot.press(*"Bob", "enter")
        await wait_for(
            lambda: not logs.buffer.scanning and len(logs.buffer) == 2, what="the filter to apply"
        )
        assert {
            logs.buffer.record_at(i).get("name") or logs.buffer.record_at(i).get("text")
            for i in range(2)
        } == {"Bob", "Hello, Bob!"}
        await pilot.press("slash", "ctrl+a", *"level:error", "enter")
        await wait_for(lambda: len(logs.buffer) == 0, what="no errors shown")
        await pilot.press("escape")
        await wait_for(lambda: logs.buffer.filter.is_empty, what="the filter to clear")
        assert shown_messages(logs).count("greeting recorded") == 3


async def test_broken_step_and_failing_handler_notify(tmp_path: Path) -> None:
    source = local_source(tmp_path, watch=True)
    project = source.engine.project_dir
    async with workbench(source) as (app, pilot):
        (project / "steps" / "broken_step.py").write_text(BROKEN_STEP, encoding="utf-8")
        await wait_for(
            lambda: any("failed to load" in n.title for n in app._notifications),
            what="a notification about the broken step",
        )
        await wait_for(lambda: app.notices.broken == 1, what="the header to count it")
        header = str(app.query_one("#header-steps").render())
        assert "1 broken" in header

        (project / "steps" / "explode_step.py").write_text(FAILING_API, encoding="utf-8")
        await wait_for(lambda: "Explode" in source.engine.steps, what="the new step to load")
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{source.label}/explode")).status_code == 500
        await wait_for(
            lambda: any("kaboom" in n.message for n in app._notifications),
            what="a notification about the handler error",
        )
        await pilot.press("exclamation_mark")
        logs = logs_of(app)
        assert app.query_one(PaneTabs).active == "logs"
        await wait_for(lambda: not logs.buffer.scanning, what="the error filter")
        messages = shown_messages(logs)
        assert any("failed to load" in m for m in messages)
        assert any("kaboom" in m for m in messages)
        assert all(logs.buffer.record_at(i)["level"] == "error" for i in range(len(messages)))
        errors = str(app.query_one("#header-errors").render())
        assert "error" in errors and errors != "no errors"


async def test_attached_workbench(tmp_path: Path) -> None:
    engine_side = local_source(tmp_path)
    await engine_side.start()
    try:
        async with workbench(RemoteSource(engine_side.label)) as (app, pilot):
            assert str(app.query_one("#header-address").render()) == engine_side.label
            trace_id = await greet(engine_side.label)
            traces, logs = traces_of(app), logs_of(app)
            await pilot.press("3")
            await wait_for(lambda: trace_id in traces.trace_list.order, what="the trace")
            await pilot.press("4")
            await wait_for(lambda: "greeting recorded" in shown_messages(logs), what="the log")
            state = await app.source.state()
            assert json.dumps(state["greetings"][trace_id]) == '{"text": "Hello, Ada!"}'
    finally:
        await engine_side.stop()


async def test_terminal_flags(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_workbench(local_source(tmp_path), color="bogus")
    app = make_workbench(local_source(tmp_path), color="16", mouse=False, slow_link=True)
    assert app.console.color_system == "standard"
    assert (app.fps, app.animation_level, app.use_mouse) == (4, "none", False)
    async with app.run_test(size=(80, 24)):
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        assert app.theme == "ansi-dark"
        await app.action_quit()
    assert make_workbench(local_source(tmp_path), color="256").console.color_system == "256"


def test_without_a_terminal_it_says_how_to_get_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "motia_tui.cli", "tui", "--dir", str(copy_project(tmp_path))],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert done.returncode != 0
    assert "ssh -t" in done.stderr
