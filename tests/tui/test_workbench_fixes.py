"""Things a user found in the workbench, each checked through the whole app."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from pane_harness import copy_project, wait_for

from engine.settings import Settings
from motia_tui.app import make_workbench
from motia_tui.source import LocalSource


async def test_a_busy_port_says_address_already_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        source = LocalSource(copy_project(tmp_path), Settings(), "127.0.0.1", port, watch=False)
        app = make_workbench(source)
        async with app.run_test(size=(80, 24)):
            await wait_for(lambda: app._exit, what="the workbench to give up")
    assert app.return_code == 1
    printed = " ".join(capsys.readouterr().err.split())
    assert f"could not listen on 127.0.0.1:{port}" in printed
    assert "address already in use" in printed


FAILING_API = """
config = {"type": "api", "name": "NotifyCustomer", "path": "/notify", "method": "POST",
          "emits": [], "flows": ["greetings"]}


async def handler(req, context):
    context.logger.info("about to fail")
    raise ConnectionError("mail server refused")
"""


async def test_repeated_failures_make_one_coalesced_toast_off_the_logs_tail(
    tmp_path: Path,
) -> None:
    import httpx
    from textual.widgets._toast import ToastRack

    project = copy_project(tmp_path)
    (project / "steps" / "notify_api_step.py").write_text(FAILING_API, encoding="utf-8")
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    app = make_workbench(source)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        await pilot.press("4")
        rack = app.screen.get_child_by_type(ToastRack)
        app.notices.last_toast = asyncio.get_running_loop().time()  # the next toast waits its turn
        async with httpx.AsyncClient(base_url=source.label) as client:
            for _ in range(12):
                assert (await client.post("/notify", json={})).status_code == 500
        toasts = await wait_for(
            lambda: [n for n in app._notifications if n.title == "A handler failed"],
            what="the failure toast",
        )
        assert len(toasts) == 1
        assert toasts[0].message.startswith("NotifyCustomer failed \u00d712: ")
        assert "mail server refused" in toasts[0].message
        await pilot.pause()
        assert rack.has_class("-logs-shown") and rack.styles.dock == "top"
        await pilot.press("1")
        assert not rack.has_class("-logs-shown")
        await pilot.pause()
        assert rack.styles.dock == "bottom"


async def test_t_on_a_log_line_opens_its_trace_at_the_span_that_wrote_it(
    tmp_path: Path,
) -> None:
    import httpx

    from motia_tui.panes.logs import LogsPane
    from motia_tui.panes.traces import TracesPane, Waterfall

    source = LocalSource(copy_project(tmp_path), Settings(), "127.0.0.1", 0, watch=False)
    app = make_workbench(source)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        async with httpx.AsyncClient(base_url=source.label) as client:
            trace_id = (await client.post("/greet", json={"name": "Ada"})).json()["traceId"]
        await source.engine.idle()
        await pilot.press("4")
        logs = app.panes["logs"]
        assert isinstance(logs, LogsPane)
        await wait_for(lambda: any(logs.buffer.record_at(i).get("msg") == "greeting recorded"
                                   for i in range(len(logs.buffer))), what="the log line")
        line = next(i for i in range(len(logs.buffer))
                    if logs.buffer.record_at(i).get("msg") == "greeting recorded")
        record = logs.buffer.record_at(line)
        logs.view.focus()
        logs.view._move_to(line)
        await pilot.press("t")
        traces = app.panes["traces"]
        assert isinstance(traces, TracesPane)
        waterfall = traces.query_one(Waterfall)
        await wait_for(lambda: traces.open_id == trace_id and len(waterfall.rows) == 3,
                       what="the trace")
        await wait_for(lambda: waterfall.rows[waterfall.cursor].span_id == record["spanId"],
                       what="the span that wrote the line")
        assert waterfall.rows[waterfall.cursor].step == "RecordGreeting"
