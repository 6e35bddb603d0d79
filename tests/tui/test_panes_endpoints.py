"""The Endpoints pane against a real server: build, send, read the answer, re-send, emit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pane_harness import PaneApp, copy_project, ready, wait_for
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static, TabbedContent

from motia_tui.messages import OpenTrace
from motia_tui.panes.endpoints import EndpointsPane
from motia_tui.widgets.highlight import HighlightedTextArea
from motia_tui.widgets.json_editor import JsonEditor


def pane(app: PaneApp) -> EndpointsPane:
    return app.pane


def status(app: PaneApp) -> str:
    return str(pane(app).query_one("#endpoints-status", Static).render())


def tab(app: PaneApp) -> str:
    return str(pane(app).query_one(TabbedContent).active)


async def routes_loaded(app: PaneApp) -> None:
    await ready(app)
    await wait_for(lambda: pane(app).routes, what="the routes")
    await wait_for(
        lambda: pane(app).query_one("#endpoints-path", Input).value, what="the first route"
    )


async def test_routes_are_listed_and_the_body_is_prefilled(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)):
        await routes_loaded(app)
        routes = pane(app).query_one("#endpoints-routes", OptionList)
        prompts = [str(routes.get_option_at_index(i).prompt) for i in range(routes.option_count)]
        assert prompts == ["POST   /greet", "GET    /greetings/:id", "⚡ emit an event"]
        assert pane(app).query_one("#endpoints-method", Select).value == "POST"
        body = pane(app).query_one("#endpoints-body", JsonEditor)
        assert body.value() == {"name": "string"}


async def test_post_greet_answers_200_with_its_trace_id(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("enter")  # the highlighted route: POST /greet
        body = pane(app).query_one("#endpoints-body", JsonEditor)
        assert body.text_area.has_focus
        await pilot.press("down", "ctrl+k", *'"name": "Ada"')
        assert body.value() == {"name": "Ada"}
        await pilot.press("ctrl+j")
        await wait_for(lambda: pane(app).history, what="the answer")
        exchange = pane(app).history[0]
        assert exchange.status == 200
        assert exchange.trace_id
        assert tab(app) == "endpoints-response"
        assert "200 OK" in status(app)
        assert exchange.trace_id in status(app)
        shown = pane(app).query_one("#endpoints-response-body", HighlightedTextArea).text
        assert '"message": "greeting queued"' in shown

        engine = app.source.engine
        await engine.idle()
        assert engine.state.get("greetings", exchange.trace_id) == {"text": "Hello, Ada!"}

        await pilot.press("ctrl+t")
        opened = await wait_for(
            lambda: [m for m in app.posted if isinstance(m, OpenTrace)], what="OpenTrace"
        )
        assert opened[0].trace_id == exchange.trace_id


async def test_path_params_fill_the_route_and_history_resends(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("down", "enter")  # GET /greetings/:id
        param = await wait_for(
            lambda: pane(app).query("#endpoints-params Input").first(Input), what="the :id input"
        )
        assert param.has_focus
        await pilot.press(*"ada")
        await pilot.press("ctrl+s")
        await wait_for(lambda: pane(app).history, what="the first answer")
        first = pane(app).history[0]
        assert (first.method, first.url, first.status) == ("GET", "/greetings/ada", 404)

        await app.source.set_state("greetings", "ada", {"text": "Hello, Ada!"})
        history = pane(app).query_one("#endpoints-history", OptionList)
        history.focus()
        history.highlighted = 0
        await pilot.press("r")
        await wait_for(lambda: len(pane(app).history) == 2, what="the re-sent answer")
        again = pane(app).history[0]
        assert (again.url, again.status) == ("/greetings/ada", 200)
        assert "Hello, Ada!" in pane(app).query_one("#endpoints-response-body").text


async def test_a_draft_survives_switching_routes(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("down", "enter", *"grace")
        await pilot.press("escape")  # back to the route list
        routes = pane(app).query_one("#endpoints-routes", OptionList)
        assert routes.has_focus
        await pilot.press("up")
        await wait_for(
            lambda: pane(app).query_one("#endpoints-path", Input).value == "/greet",
            what="the POST route",
        )
        await pilot.press("down")
        param = await wait_for(
            lambda: pane(app).query("#endpoints-params Input").first(Input), what="the :id input"
        )
        assert param.value == "grace"


async def test_open_endpoint_shows_the_builder_ready_to_type(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)):
        await routes_loaded(app)
        pane(app).query_one(TabbedContent).active = "endpoints-emit"
        pane(app).open_endpoint("GetGreeting")
        await wait_for(
            lambda: pane(app).query_one("#endpoints-path", Input).value == "/greetings/:id",
            what="the GET route",
        )
        assert tab(app) == "endpoints-request"
        await wait_for(
            lambda: isinstance(app.focused, Input) and app.focused.name == "param:id",
            what="focus on the :id input",
        )


async def test_emit_an_event_from_the_topic_picker(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("down", "down", "enter")  # "emit an event"
        assert tab(app) == "endpoints-emit"
        topic = pane(app).query_one("#endpoints-topic", Select)
        assert topic.has_focus
        assert topic.value == "greet.made"
        await pilot.press("enter", "down", "enter")
        assert topic.value == "greet.requested"
        data = pane(app).query_one("#endpoints-emit-data", JsonEditor)
        assert data.value() == {"name": "string"}  # MakeGreeting's input schema

        data.focus()
        await pilot.press("delete")  # no longer JSON: nothing may be sent
        await pilot.press("ctrl+j")
        assert "✗" in str(data.query_one(".json-editor--verdict", Static).render())
        await pilot.pause()
        assert pane(app)._trace_id is None

        await pilot.press("ctrl+z", "ctrl+j")
        result = pane(app).query_one("#endpoints-emit-result", Static)
        await wait_for(lambda: "emitted" in str(result.render()), what="the emit")
        trace_id = pane(app)._trace_id
        assert trace_id
        engine = app.source.engine
        await engine.idle()
        assert engine.state.get("greetings", trace_id) == {"text": "Hello, string!"}


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_endpoints_snapshot(tmp_path: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)

    async def settle(pilot: Pilot[Any]) -> None:
        await routes_loaded(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)


AUDIT_STEP = """
config = {"type": "event", "name": "AuditGreeting", "subscribes": ["greet.requested"],
          "emits": []}


async def handler(input, context):
    pass
"""


async def test_emit_prefills_from_the_first_subscriber_with_an_input_schema(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "a_audit_step.py").write_text(AUDIT_STEP)  # loads before MakeGreeting
    app = PaneApp(project, EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        steps = (await app.source.steps())["steps"]
        subscribers = [s["name"] for s in steps if "greet.requested" in s.get("subscribes", [])]
        assert subscribers == ["AuditGreeting", "MakeGreeting"]
        await pilot.press("down", "down", "enter", "enter", "down", "enter")
        assert pane(app).query_one("#endpoints-topic", Select).value == "greet.requested"
        data = pane(app).query_one("#endpoints-emit-data", JsonEditor)
        assert data.value() == {"name": "string"}


async def test_r_in_history_resends_the_newest_entry_with_none_highlighted(
    tmp_path: Path,
) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("enter", "ctrl+j")
        await wait_for(lambda: pane(app).history, what="the first answer")
        history = pane(app).query_one("#endpoints-history", OptionList)
        assert history.highlighted is None
        history.focus()
        await pilot.press("r")
        await wait_for(lambda: len(pane(app).history) == 2, what="the re-sent answer")
        assert history.highlighted == 0
        assert pane(app).history[0].url == "/greet"


async def test_route_and_history_entries_take_one_line_each(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    long_path = "/" + "/".join(f"segment{n}" for n in range(12))
    (project / "steps" / "long_api_step.py").write_text(
        f'config = {{"type": "api", "name": "Long", "path": "{long_path}", "method": "GET"}}\n\n'
        "async def handler(req, context):\n    return {'status': 204}\n"
    )
    app = PaneApp(project, EndpointsPane)
    async with app.run_test(size=(80, 24)) as pilot:
        await routes_loaded(app)
        routes = pane(app).query_one("#endpoints-routes", OptionList)
        await wait_for(lambda: routes.option_count == 4, what="the long route")
        await pilot.press("down", "down", "enter", "ctrl+j")
        await wait_for(lambda: pane(app).history, what="the answer")
        history = pane(app).query_one("#endpoints-history", OptionList)
        await pilot.pause()
        for widget in (routes, history):
            assert widget.virtual_size.height == widget.option_count, widget.id
        line = routes.render_line(2).text
        assert line.rstrip().endswith("…"), line
