"""The focus model: each pane focuses its main list when shown, Flows has the focus from the
start, the flow picker is never landed on, and a text input says how to leave it."""

from __future__ import annotations

from pathlib import Path

from pane_harness import copy_project, wait_for
from test_app import PING_API, workbench

from engine.settings import Settings
from motia_tui.app import CLUSTER_ONLY, MAIN_WIDGETS, PANES
from motia_tui.help import KeyBar
from motia_tui.pane_tabs import PaneTabs
from motia_tui.source import LocalSource
from motia_tui.widgets.flow_canvas import FlowCanvas

OTHER_FLOW_API = PING_API.replace('"flows": ["greetings"]', '"flows": ["ops"]')


def source_for(tmp_path: Path, second_flow: bool = False) -> LocalSource:
    project = copy_project(tmp_path)
    if second_flow:
        (project / "steps" / "ping_step.py").write_text(OTHER_FLOW_API, encoding="utf-8")
    return LocalSource(project, Settings(store=":memory:"), "127.0.0.1", 0, watch=False)


async def test_flows_has_the_focus_at_start_and_its_keys_work(tmp_path: Path) -> None:
    async with workbench(source_for(tmp_path, second_flow=True)) as (app, pilot):
        canvas = app.query_one(FlowCanvas)
        assert app.focused is canvas
        await wait_for(lambda: canvas.selected is not None, what="a selected node")
        first = canvas.selected
        await pilot.press("j")
        assert canvas.selected != first
        flows = app.panes["flows"]
        flow = flows._flow_name
        await pilot.press("right_square_bracket")
        assert flows._flow_name != flow
        assert app.focused is canvas
        await pilot.press("2", "1")
        assert app.focused is canvas, "1 must land on the graph, not the flow picker"
        before = canvas.selected
        await pilot.press("l")
        await pilot.press("h")
        await pilot.press("k", "j")
        assert canvas.selected is not None
        assert app.query_one("#tabs", PaneTabs).active == "flows"
        assert before is not None
        await app.action_quit()


async def test_every_pane_focuses_its_main_list_when_shown(tmp_path: Path) -> None:
    async with workbench(source_for(tmp_path)) as (app, pilot):
        for n, (tab, _title, _cls) in enumerate(PANES, start=1):
            if tab in CLUSTER_ONLY:  # absent without a cluster (tests/redis has its own)
                continue
            await pilot.press(str(n))
            focused = app.focused
            assert focused is not None, tab
            assert any(focused in app.panes[tab].query(sel) for sel in MAIN_WIDGETS[tab]), (
                tab, focused,
            )
        await app.action_quit()


async def test_in_the_body_editor_digits_type_and_the_footer_says_how_to_leave(
    tmp_path: Path,
) -> None:
    async with workbench(source_for(tmp_path)) as (app, pilot):
        await pilot.press("2", "enter")
        editor = app.query_one("#endpoints-body").text_area
        await wait_for(lambda: app.focused is editor, what="the body editor focused")
        before = editor.text
        await pilot.press("1", "2")
        assert app.query_one("#tabs", PaneTabs).active == "endpoints"
        assert editor.text != before and "12" in editor.text
        footer = app.query_one(KeyBar).text()
        assert footer.startswith(" esc Leave  F1-F7 Panes "), footer
        await pilot.press("f3")
        assert app.query_one("#tabs", PaneTabs).active == "traces"
        await pilot.press("f2")
        await pilot.press("escape")
        assert app.focused is not None and app.focused.id == "endpoints-routes"
        await app.action_quit()
