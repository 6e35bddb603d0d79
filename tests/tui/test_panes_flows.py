"""The Flows pane against a real engine: graph, selection, live counters, cron, hot reload."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from pane_harness import QUIET_CRON, PaneApp, copy_project, ready, wait_for
from textual.pilot import Pilot
from textual.widgets import Select, Static

from motia_tui.messages import OpenEndpoint
from motia_tui.panes.flows import FlowsPane
from motia_tui.source import LocalSource
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.flow_canvas import FlowCanvas
from motia_tui.widgets.graph_render import COUNT_MARK

OTHER_FLOW_STEP = """\
config = {
    "type": "event",
    "name": "Audit",
    "subscribes": ["audit.requested"],
    "emits": [],
    "flows": ["audit"],
}


async def handler(input, context):
    pass
"""

SLOW_STEP = """\
import asyncio

config = {
    "type": "event",
    "name": "SlowAudit",
    "subscribes": ["greet.requested"],
    "emits": [],
    "flows": ["greetings"],
}


async def handler(input, context):
    await asyncio.sleep(1.5)
"""


def canvas(app: PaneApp) -> FlowCanvas:
    return app.pane.query_one(FlowCanvas)


def picture(app: PaneApp) -> str:
    return "\n".join(canvas(app)._lines)


def detail(app: PaneApp) -> str:
    return str(app.pane.query_one("#flows-detail-text", Static).render())


async def select_node(pilot: Pilot[Any], app: PaneApp, name: str) -> None:
    """Walk the selection with `j` until `name` is selected, as a user would."""
    await wait_for(lambda: canvas(app).selected is not None, what="a selected node")
    if not canvas(app).has_focus:
        canvas(app).focus()
        await wait_for(lambda: canvas(app).has_focus, what="the graph to have the focus")
    for _ in range(len(canvas(app)._render_data.order)):
        if canvas(app).selected == name:
            return
        await pilot.press("j")
    assert canvas(app).selected == name


async def test_graph_draws_every_step_with_marks_edges_and_counters(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), FlowsPane)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        await wait_for(lambda: "GreetApi" in picture(app), what="the graph")
        text = picture(app)
        for mark in (
            "[API] GreetApi",
            "(EVT) MakeGreeting",
            "(EVT) RecordGreeting",
            "<CRON> CountTicks",
            "{NOOP} Announce",
        ):
            assert mark in text
        assert "╌/greet╌" in text  # the virtual edge is dashed and labelled
        assert "─greet.requested─" in text
        assert text.count("runs 0") == 6
        assert not app.pane.query_one("#flows-picker", Select).display  # one flow: no picker


async def test_keys_move_the_selection_and_show_config_and_file(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), FlowsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await select_node(pilot, app, "GreetApi")
        assert "steps/greet_api_step.py:1" in detail(app)
        assert "POST /greet" in detail(app)
        assert '"minLength": 1' in detail(app)  # the bodySchema is part of the config shown
        await pilot.press("k")
        assert canvas(app).selected != "GreetApi"
        await pilot.press("j")
        await pilot.press("right")
        assert canvas(app).selected == "MakeGreeting"
        assert "greet.requested" in detail(app)
        await pilot.press("left")
        assert canvas(app).selected == "GreetApi"


async def test_enter_on_an_api_node_asks_to_open_it_in_endpoints(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), FlowsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await select_node(pilot, app, "GetGreeting")
        await pilot.press("enter")
        opened = await wait_for(
            lambda: [m for m in app.posted if isinstance(m, OpenEndpoint)], what="OpenEndpoint"
        )
        assert opened[0].step == "GetGreeting"


async def test_enter_on_a_cron_node_triggers_it_after_confirmation(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), FlowsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        engine = app.source.engine
        await select_node(pilot, app, "CountTicks")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        await engine.idle()
        assert engine.state.get("stats", "ticks") is None

        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_for(lambda: engine.state.get("stats", "ticks") == 1, what="the cron run")
        box = canvas(app).boxes["CountTicks"]
        await wait_for(
            lambda: "runs 1" in canvas(app)._lines[box.y + 3], what="the live run counter"
        )


async def test_counters_follow_requests_live(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), FlowsPane)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        async with httpx.AsyncClient(base_url=app.source.label) as client:
            for name in ("Ada", "Grace"):
                response = await client.post("/greet", json={"name": name})
                assert response.status_code == 200
        await app.source.engine.idle()
        for node in ("GreetApi", "MakeGreeting", "RecordGreeting"):
            box = canvas(app).boxes[node]
            await wait_for(
                lambda box=box: "runs 2" in canvas(app)._lines[box.y + 3],
                what=f"{node} to count two runs",
            )
        await wait_for(lambda: not app.pane.model.queued, what="the queues to drain")


async def test_runs_in_flight_and_queued_events_show_while_a_step_works(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "slow_audit_step.py").write_text(SLOW_STEP)
    app = PaneApp(project, FlowsPane)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        await wait_for(lambda: "SlowAudit" in canvas(app).boxes, what="the slow step")
        async with httpx.AsyncClient(base_url=app.source.label) as client:
            assert (await client.post("/greet", json={"name": "Ada"})).status_code == 200
        box = canvas(app).boxes["SlowAudit"]
        await wait_for(
            lambda: "runs 0 ▸1" in canvas(app)._lines[box.y + 3], what="the run in flight"
        )
        await wait_for(
            lambda: f"{COUNT_MARK}1" in picture(app), what="the queued count on the edge"
        )
        await wait_for(
            lambda: "runs 1" in canvas(app)._lines[box.y + 3], timeout=5, what="the run to end"
        )
        await wait_for(lambda: f"{COUNT_MARK}1" not in picture(app), what="the edge to drain")


async def test_a_broken_step_turns_red_with_its_reason_and_recovers(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    app = PaneApp(project, FlowsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        engine = app.source.engine
        step = project / "steps" / "make_greeting_step.py"
        good = step.read_text()
        step.write_text(good.replace('"subscribes"', '"subscribes": 5, "x"'))
        await engine.apply_changes([(False, step)])
        await wait_for(
            lambda: "MakeGreeting" in canvas(app)._broken, what="the node to be marked broken"
        )
        errors = app.pane.query_one("#flows-errors", Static)
        assert errors.display
        assert "make_greeting_step.py" in str(errors.render())
        await select_node(pilot, app, "MakeGreeting")
        assert "does not load" in detail(app)

        step.write_text(good.replace("Compose the greeting text", "Compose it"))
        await engine.apply_changes([(False, step)])
        await wait_for(lambda: not canvas(app)._broken, what="the node to recover")
        await wait_for(lambda: "Compose it" in detail(app), what="the new config")
        assert not errors.display


async def test_several_flows_get_a_picker_and_bracket_keys_switch(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "audit_step.py").write_text(OTHER_FLOW_STEP)
    app = PaneApp(project, FlowsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        picker = app.pane.query_one("#flows-picker", Select)
        await wait_for(lambda: picker.display, what="the flow picker")
        assert picker.value == "audit"
        assert "(EVT) Audit" in picture(app)
        await pilot.press("]")
        assert picker.value == "greetings"
        assert "[API] GreetApi" in picture(app)
        await pilot.press("[")
        assert "(EVT) Audit" in picture(app)


async def test_a_project_without_flows_says_how_to_make_one(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    for step in (project / "steps").glob("*_step.py"):
        step.unlink()
    app = PaneApp(project, FlowsPane)
    async with app.run_test(size=(80, 24)):
        await ready(app)
        empty = app.pane.query_one("#flows-empty", Static)
        await wait_for(lambda: empty.display, what="the message")
        assert '"flows": ["orders"]' in str(empty.render())
        assert not canvas(app).display


T0_S = 1_704_164_645.0  # 2024-01-02 03:04:05 UTC


def frozen_pane(source: LocalSource) -> FlowsPane:
    """Cron fire times in UTC against a fixed "now", so pictures depend only on the code."""
    return FlowsPane(source, tz=UTC, clock=lambda: T0_S)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_flows_snapshot(tmp_path: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    app = PaneApp(copy_project(tmp_path), frozen_pane)

    async def settle(pilot: Pilot[Any]) -> None:
        await ready(app)
        await wait_for(lambda: "GreetApi" in picture(app), what="the graph")
        await select_node(pilot, app, "GreetApi")

    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_flows_fitted_snapshot(tmp_path: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    app = PaneApp(copy_project(tmp_path), frozen_pane)

    async def settle(pilot: Pilot[Any]) -> None:
        await ready(app)
        await wait_for(lambda: "GreetApi" in picture(app), what="the graph")
        await select_node(pilot, app, "MakeGreeting")
        await pilot.press("p", "f")
        await wait_for(lambda: app.pane.zoom is None, what="fit mode")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)


UNFLOWED_STEPS = {
    "loner_api_step.py": """\
config = {"type": "api", "name": "Loner", "path": "/loner", "method": "POST",
          "emits": [{"topic": "loner.asked", "label": "ask"}]}


async def handler(req, context):
    return {"status": 202}
""",
    "loner_worker_step.py": """\
config = {"type": "event", "name": "LonerWorker", "subscribes": ["loner.asked"], "emits": []}


async def handler(input, context):
    pass
""",
}


def widest(app: PaneApp) -> int:
    return max((len(line) for line in canvas(app)._lines), default=0)


async def test_p_hides_the_panel_f_fits_and_plus_minus_zoom(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), FlowsPane)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await wait_for(lambda: "GreetApi" in picture(app), what="the graph")
        full = widest(app)
        assert full > 80
        panel = app.pane.query_one("#flows-detail")
        await pilot.press("p")
        assert not panel.display
        await pilot.press("f")
        await wait_for(lambda: widest(app) <= canvas(app).scrollable_content_region.width,
                       what="the graph to fit")
        assert canvas(app).scrollable_content_region.width >= 76  # the panel's room is the graph's
        for name in ("Announce", "GreetApi", "MakeGreeting", "RecordGreet"):
            assert name in picture(app)
        fitted = widest(app)
        await pilot.press("plus")
        assert widest(app) > fitted
        await pilot.press("minus")
        assert widest(app) == fitted
        await pilot.press("minus")  # already the smallest: stays
        assert widest(app) == fitted
        await pilot.press("plus", "p")
        assert panel.display
        await pilot.press("f")  # nothing fits beside the panel at 80 columns: the smallest
        await wait_for(lambda: widest(app) == fitted, what="the smallest drawing")


TALL_FLOW = ("PlaceOrder", "AddPoints", "ChargeCard", "PackParcel", "ReserveStock",
             "SendReceipt", "Ledger")


def fits(app: PaneApp) -> bool:
    room = canvas(app).scrollable_content_region
    return widest(app) <= room.width and len(canvas(app)._lines) <= room.height


async def test_f_fits_a_tall_flow_in_height_as_well_as_width(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path, "tall_flow"), FlowsPane)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await wait_for(lambda: "Ledger" in picture(app), what="the graph")
        assert len(canvas(app)._lines) > canvas(app).scrollable_content_region.height
        await pilot.press("p", "f")
        await wait_for(lambda: fits(app), what="the graph to fit both ways")
        fitted = picture(app)
        for name in TALL_FLOW:
            assert name in fitted
        assert "runs 0" in fitted  # the counters stay; the trigger lines gave way
        await pilot.press("plus")
        assert len(canvas(app)._lines) > len(fitted.splitlines())
        await pilot.press("minus")
        assert picture(app) == fitted
        await pilot.press("minus", "minus", "minus")
        smallest = picture(app)
        assert len(smallest.splitlines()) < len(fitted.splitlines())
        await pilot.press("minus")  # already the smallest both ways: stays
        assert picture(app) == smallest
        await pilot.press("f")
        assert picture(app) == fitted
        await pilot.resize_terminal(120, 36)
        await wait_for(lambda: "(EVT) SendReceipt" in picture(app), what="the full drawing")
        assert fits(app)  # fitting holds across a resize, which has room for everything


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_tall_flow_fitted_snapshot(
    tmp_path: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = PaneApp(copy_project(tmp_path, "tall_flow"), frozen_pane)

    async def settle(pilot: Pilot[Any]) -> None:
        await ready(app)
        await wait_for(lambda: "Ledger" in picture(app), what="the graph")
        await select_node(pilot, app, "PackParcel")
        await pilot.press("p", "f")
        await wait_for(lambda: fits(app), what="the graph to fit")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)


async def test_the_view_follows_the_selected_node(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), FlowsPane)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await wait_for(lambda: "GreetApi" in picture(app), what="the graph")
        view = canvas(app)
        assert view.scroll_x == 0
        await select_node(pilot, app, "RecordGreeting")
        box = view.boxes["RecordGreeting"]
        await wait_for(lambda: view.scroll_x > 0, what="the view to scroll right")
        assert view.scroll_x <= box.x < view.scroll_x + view.scrollable_content_region.width
        for _ in range(len(view._render_data.order)):
            if view.selected == "GetGreeting":
                break
            await pilot.press("k")
        assert view.selected == "GetGreeting"
        await wait_for(lambda: view.scroll_x == 0, what="the view to come back")
        assert view.scroll_y + view.scrollable_content_region.height > view.boxes["GetGreeting"].y


async def test_steps_without_a_flow_are_drawn_in_the_no_flow_graph(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    for name, text in UNFLOWED_STEPS.items():
        (project / "steps" / name).write_text(text, encoding="utf-8")
    app = PaneApp(project, FlowsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await wait_for(lambda: "GreetApi" in picture(app), what="the graph")
        picker = app.pane.query_one("#flows-picker", Select)
        assert picker.display
        await pilot.press("]")
        assert picker.value == "(no flow)"
        await wait_for(lambda: "[API] Loner" in picture(app), what="the no-flow graph")
        assert "(EVT) LonerWorker" in picture(app)
        assert "─ask─" in picture(app)
        assert "GreetApi" not in picture(app)


async def test_each_cron_step_shows_its_next_fire(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    ticks = project / "steps" / "count_ticks_step.py"
    ticks.write_text(ticks.read_text().replace(f"\"{QUIET_CRON}\"", "\"0 3 * * *\""))
    app = PaneApp(project, lambda source: FlowsPane(source, tz=UTC, clock=lambda: T0_S))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await wait_for(lambda: "CountTicks" in picture(app), what="the graph")
        when = (await app.source.stats())["cron"]["CountTicks"]
        assert when > T0_S
        await select_node(pilot, app, "CountTicks")
        await wait_for(lambda: "next" in detail(app), what="the next fire in the panel")
        assert "(in " in detail(app)
        assert "0 3 * * * → " in picture(app)


async def test_s_opens_the_flow_picker_and_a_pick_comes_back_to_the_graph(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "audit_step.py").write_text(OTHER_FLOW_STEP)
    app = PaneApp(project, FlowsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        picker = app.pane.query_one("#flows-picker", Select)
        await wait_for(lambda: picker.display, what="the flow picker")
        canvas(app).focus()
        await pilot.press("s")
        assert picker.expanded
        await pilot.press("down", "enter")
        await wait_for(lambda: picker.value == "greetings", what="the picked flow")
        await wait_for(lambda: app.focused is canvas(app), what="the focus back on the graph")
        assert "[API] GreetApi" in picture(app)
