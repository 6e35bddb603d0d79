"""The Traces pane against a real engine: the filter after reloads, the waterfall's cursor,
retries' backoff on the time axis."""

from __future__ import annotations

import json
from pathlib import Path

from pane_harness import PaneApp, copy_project, ready, wait_for
from textual.widgets import Label

from motia_tui.panes.traces import TracesPane, Waterfall
from motia_tui.source import LocalSource
from motia_tui.widgets.waterfall import GAP_MARK


async def greet(source: LocalSource, name: str) -> str:
    answer = await source.request(
        "POST", "/greet", {"content-type": "application/json"}, json.dumps({"name": name})
    )
    assert answer.status == 200
    await source.engine.idle()
    return str(answer.trace_id)


def listed(app: PaneApp) -> list[str]:
    return list(app.pane.trace_list.order)


async def test_the_step_filter_matches_every_span_after_a_reload(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        greeted = [await greet(app.source, name) for name in ("Ada", "Grace")]
        cron = await app.source.trigger_cron("CountTicks")
        await app.source.engine.idle()
        await wait_for(lambda: len(listed(app)) == 3, what="three traces")
        await app.pane.reload()  # what a restart, a feed overflow or a long-hidden pane does
        assert app.pane.book.spans == {}  # only summaries are held now
        api = [t["traceId"] for t in await app.source.traces(step="MakeGreeting")]
        assert sorted(api) == sorted(greeted)
        app.pane.trace_list.set_filter("step:MakeGreeting")
        assert sorted(listed(app)) == sorted(greeted)
        app.pane.trace_list.set_filter("recordgreet")  # free text over the steps too
        assert sorted(listed(app)) == sorted(greeted)
        app.pane.trace_list.set_filter("step:CountTicks")
        assert listed(app) == [cron]


async def test_a_single_span_trace_says_1_span(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        trace_id = await app.source.trigger_cron("CountTicks")
        await app.source.engine.idle()
        app.pane.open_trace(trace_id)
        title = app.pane.query_one("#trace-title", Label)
        await wait_for(lambda: "1 span ·" in str(title.render()), what="the title")


async def test_a_refused_body_shows_its_fields_in_the_span(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        answer = await app.source.request(
            "POST", "/greet", {"content-type": "application/json"}, json.dumps({"name": ""})
        )
        assert answer.status == 400
        assert answer.trace_id is not None
        app.pane.open_trace(answer.trace_id)
        waterfall = app.pane.query_one(Waterfall)
        await wait_for(lambda: len(waterfall.rows) == 1, what="the one span")
        details = app.pane.query_one("#span-body")
        await wait_for(lambda: "name: " in str(details.render()), what="the failing field")
        shown = str(details.render())
        assert "request body does not match the schema" in shown
        assert "GreetApi · api" in shown


FLAKY_STEP = """
config = {
    "type": "event",
    "name": "FlakyNotify",
    "subscribes": ["greet.made"],
    "emits": [],
    "flows": ["greetings"],
    "infrastructure": {"queue": {"maxRetries": 2}},
}


async def handler(input, context):
    context.logger.info("trying to notify")
    raise RuntimeError("the mail server is down")
"""


async def test_retries_backoff_is_compressed_and_marked(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "flaky_step.py").write_text(FLAKY_STEP, encoding="utf-8")
    (project / "motia.toml").write_text("retry_base_s = 0.3\nretry_max_s = 0.6\n")
    app = PaneApp(project, TracesPane)
    async with app.run_test(size=(100, 30)):
        await ready(app)
        trace_id = await greet(app.source, "Ada")
        await wait_for(lambda: app.source.engine.bus.dlq, timeout=20, what="the dead letter")
        await app.source.engine.idle()
        app.pane.open_trace(trace_id)
        waterfall = app.pane.query_one(Waterfall)
        await wait_for(lambda: len(waterfall.rows) == 6, what="six spans")
        await wait_for(lambda: waterfall.size.width > 0, what="the waterfall laid out")
        lines = [waterfall.render_line(y).text for y in range(7)]
        assert GAP_MARK in lines[0]
        attempts = [line for line in lines[1:] if "FlakyNotify" in line]
        assert len(attempts) == 3
        assert all(GAP_MARK in line for line in attempts[:1])


async def test_the_selected_span_is_marked_with_or_without_focus(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        trace_id = await greet(app.source, "Ada")
        app.pane.open_trace(trace_id)
        waterfall = app.pane.query_one(Waterfall)
        await wait_for(lambda: len(waterfall.rows) == 3, what="three spans")
        await wait_for(lambda: waterfall.size.width > 0, what="the waterfall laid out")
        await pilot.press("j")
        assert waterfall.render_line(2).text.startswith("▶ ")
        assert not waterfall.render_line(1).text.startswith("▶")
        waterfall.blur()
        await pilot.pause()
        assert waterfall.render_line(2).text.startswith("▶ ")


CHATTY_STEP = """
config = {"type": "api", "name": "Chatty", "path": "/chatty", "method": "POST", "emits": []}


async def handler(req, context):
    for n in range(200):
        context.logger.info("line", {"n": n})
    return {"status": 200, "body": {}}
"""


async def test_a_trace_whose_spans_left_the_pane_opens_with_its_logs(tmp_path: Path) -> None:
    """Past the pane's budget of log records the oldest traces keep only their summary, and
    Enter on one fetches it, logs and all."""
    project = copy_project(tmp_path)
    (project / "steps" / "chatty_step.py").write_text(CHATTY_STEP, encoding="utf-8")
    app = PaneApp(project, TracesPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        app.pane.book.log_budget = 1_000
        traces = []
        for _run in range(8):
            answer = await app.source.request("POST", "/chatty", {}, None)
            assert answer.status == 200
            traces.append(str(answer.trace_id))
        await app.source.engine.idle()
        await wait_for(lambda: sorted(listed(app)) == sorted(traces), what="eight traces")
        assert traces[0] not in app.pane.book.spans and traces[-1] in app.pane.book.spans
        app.pane.trace_list.move_to(listed(app).index(traces[0]))
        await pilot.press("enter")
        details = app.pane.query_one("#span-body")
        await wait_for(lambda: "logs (200)" in str(details.render()), what="the span's logs")
        assert str(details.render()).rstrip().endswith(f"Chatty {traces[0][:8]} line n=199")
