"""The trace tools' keys in Traces, with Pilot on a real engine: `R` re-runs (asking for the
credentials the request carried), `E` re-runs the selected span with its input edited, `m`
and `=` diff two traces, `T` writes a test, `x` exports; the palette has them all, and they
can be remapped."""

from __future__ import annotations

import json
from pathlib import Path

from pane_harness import PaneApp, copy_project, ready, wait_for
from test_palette import run_command
from textual.widgets import Label, Static

from engine.settings import Settings
from motia_tui.app import make_workbench
from motia_tui.keymap import parse_keymap
from motia_tui.panes.traces import TracesPane
from motia_tui.source import LocalSource
from motia_tui.widgets.json_editor import JsonEditor
from motia_tui.widgets.trace_diff_view import TraceDiffScreen
from motia_tui.widgets.trace_prompts import CredentialsScreen, SpanInputScreen


async def greet(app: PaneApp, name: str, **headers: str) -> str:
    answer = await app.source.request(
        "POST", "/greet", {"content-type": "application/json", **headers},
        json.dumps({"name": name}),
    )
    assert answer.status == 200
    await app.source.engine.idle()
    trace_id = str(answer.trace_id)
    # Listed before the next one is made: a cursor on the top row follows the newest trace.
    await wait_for(lambda: trace_id in app.pane.trace_list.order, what="the trace listed")
    return trace_id


async def select(app: PaneApp, trace_id: str) -> None:
    await wait_for(lambda: trace_id in app.pane.trace_list.order, what="the trace listed")
    app.pane.trace_list.move_to(app.pane.trace_list.order.index(trace_id))
    app.pane.trace_list.focus()
    await wait_for(lambda: app.pane.trace_list.has_focus, what="the list focused")
    await wait_for(lambda: app.pane.trace_list.selected == trace_id, what="the trace selected")


def title(app: PaneApp) -> str:
    return str(app.pane.query_one("#trace-title", Label).render())


def rerun_of(app: PaneApp, original: str) -> str | None:
    for trace in app.source.engine.traces.list(50):
        if trace.get("rerunOf") == original:
            return str(trace["traceId"])
    return None


def trace_span(app: PaneApp, trace_id: str, step: str = "MakeGreeting") -> str:
    trace = app.source.engine.traces.get(trace_id)
    assert trace is not None
    return str(next(s["spanId"] for s in trace["spans"] if s["step"] == step))


async def test_r_reruns_asking_for_the_credentials_and_the_link_shows_both_ways(
    tmp_path: Path,
) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        original = await greet(app, "Ada", authorization="Bearer first")
        await select(app, original)
        await pilot.press("R")
        await wait_for(lambda: isinstance(app.screen, CredentialsScreen), what="the prompt")
        assert "authorization" in str(app.screen.query_one(Static).render())
        await pilot.press(*"Bearer again", "enter")
        new_id = await wait_for(lambda: rerun_of(app, original), what="the re-run")
        await app.source.engine.idle()
        app.pane.open_trace(new_id)
        await wait_for(lambda: f"re-run of {original[:8]}" in title(app), what="the link")
        app.pane.open_trace(original)
        await wait_for(lambda: f"re-run as {new_id[:8]}" in title(app), what="the back link")
        rerun = app.source.engine.traces.get(new_id)
        assert rerun is not None and rerun["spans"][0]["input"]["body"] == {"name": "Ada"}


async def test_e_reruns_the_selected_span_with_its_input_edited(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        original = await greet(app, "Ada")
        await select(app, original)
        await pilot.press("enter")
        await wait_for(lambda: len(app.pane.waterfall.rows) >= 3, what="the waterfall")
        steps = [row.step for row in app.pane.waterfall.rows]
        app.pane.waterfall.move_to(steps.index("MakeGreeting"))
        await pilot.press("E")
        await wait_for(lambda: isinstance(app.screen, SpanInputScreen), what="the editor")
        editor = app.screen.query_one(JsonEditor)
        assert json.loads(editor.text) == {"name": "Ada"}
        editor.text = '{"name": "Edsger"}'
        await pilot.press("ctrl+s")
        new_id = await wait_for(lambda: rerun_of(app, original), what="the re-run")
        await app.source.engine.idle()
        assert app.source.engine.state.get("greetings", new_id) == {"text": "Hello, Edsger!"}
        trace = app.source.engine.traces.get(new_id)
        assert trace is not None and trace["rerunOfSpan"] == trace_span(app, original)
        assert [s["step"] for s in trace["spans"]][:2] == ["rerun MakeGreeting", "MakeGreeting"]


async def test_m_then_equals_diffs_two_traces_side_by_side(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        first = await greet(app, "Ada")
        second = await greet(app, "Grace")
        await select(app, first)
        await pilot.press("m")
        await wait_for(lambda: app.pane.trace_list.marked == first, what="the mark")
        await select(app, second)
        await pilot.press("enter")
        await pilot.press("equals_sign")
        await wait_for(lambda: isinstance(app.screen, TraceDiffScreen), what="the diff")
        text = str(app.screen.query_one("#trace-diff-body", Static).render())
        assert "≠ greet.requested" in text and "Grace" in text and "Ada" in text
        assert "  MakeGreeting" in text  # the same in both: not marked
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, TraceDiffScreen), what="closed")


async def test_t_writes_a_test_and_x_exports(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), TracesPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        trace_id = await greet(app, "Ada")
        await select(app, trace_id)
        project = app.source.engine.project_dir
        await pilot.press("T")
        written = project / "tests" / "test_post_greet.py"
        await wait_for(written.exists, what="the test file")
        assert "def test_post_greet() -> None:" in written.read_text(encoding="utf-8")
        await pilot.press("x")
        exported = project / f"trace-{trace_id[:8]}.json"
        await wait_for(exported.exists, what="the export")
        assert json.loads(exported.read_text(encoding="utf-8"))["trace"]["traceId"] == trace_id


async def test_the_tools_are_in_the_palette_and_can_be_remapped(tmp_path: Path) -> None:
    source = LocalSource(copy_project(tmp_path), Settings(store=":memory:"), "127.0.0.1", 0,
                         watch=False)
    keymap = parse_keymap({"traces-rerun": "ctrl+r", "traces-mark": "M"})
    app = make_workbench(source, keymap=keymap)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Traces: Re-run", "Traces: Re-run span", "Traces: Mark",
                       "Traces: Diff marked", "Traces: Write test", "Traces: Export"):
            assert wanted in titles
        answer = await source.request("POST", "/greet", {"content-type": "application/json"},
                                      json.dumps({"name": "Ada"}))
        await source.engine.idle()
        await pilot.press("3")
        pane = app.query_one(TracesPane)
        await wait_for(lambda: answer.trace_id in pane.trace_list.order, what="listed")
        pane.trace_list.focus()
        await pilot.press("M")
        await wait_for(lambda: pane.trace_list.marked == answer.trace_id, what="remapped mark")
        await pilot.press("ctrl+r")
        await wait_for(
            lambda: any(t.get("rerunOf") == answer.trace_id
                        for t in source.engine.traces.list(20)),
            what="the remapped re-run",
        )
        await run_command(app, pilot, "write test", "Traces: Write test")
        await wait_for((source.engine.project_dir / "tests" / "test_post_greet.py").exists,
                       what="the test written from the palette")
        await pilot.press("q")
        await wait_for(lambda: app._exit, what="the workbench to quit")
