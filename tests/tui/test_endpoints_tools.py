"""The Endpoints pane as a daily API client, against a real server: curl out and in, saved
requests and environments on disk, secrets masked, the response filter and copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pane_harness import PaneApp, copy_project, ready, wait_for
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static, TabbedContent, TextArea

from motia_tui.curl import parse_curl
from motia_tui.endpoint_model import outgoing
from motia_tui.panes.endpoints import EndpointsPane
from motia_tui.tape_file import find_tape
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.json_editor import JsonEditor
from motia_tui.widgets.response_view import MATCH, ResponseBody
from motia_tui.widgets.text_prompt import TextPrompt

SECRET = "s3cr3t-token-value"


def pane(app: PaneApp) -> EndpointsPane:
    return app.pane


def with_environments(tmp_path: Path) -> Path:
    project = copy_project(tmp_path)
    env = project / "motia-requests" / "env"
    env.mkdir(parents=True)
    (env / "dev.env").write_text("who=Ada\n", encoding="utf-8")
    (env / "dev.local.env").write_text(f"token={SECRET}\n", encoding="utf-8")
    (env / "ci.env").write_text("who=Grace\n", encoding="utf-8")
    return project


async def routes_loaded(app: PaneApp) -> None:
    await ready(app)
    await wait_for(lambda: pane(app).routes, what="the routes")
    await wait_for(
        lambda: pane(app).query_one("#endpoints-path", Input).value, what="the first route"
    )


def route_prompts(app: PaneApp) -> list[str]:
    routes = pane(app).query_one("#endpoints-routes", OptionList)
    return [str(routes.get_option_at_index(i).prompt) for i in range(routes.option_count)]


def status(app: PaneApp) -> str:
    return str(pane(app).query_one("#endpoints-status", Static).render())


async def answered(app: PaneApp, count: int) -> None:
    await wait_for(lambda: len(pane(app).history) >= count, what=f"answer {count}")


async def paste(app: PaneApp, pilot: Pilot[Any], text: str) -> None:
    """What a terminal's own paste sends: one paste event to the focused widget."""
    app.post_message(events.Paste(text))
    await pilot.pause()


async def test_copy_as_curl_and_paste_it_back_is_the_same_request(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("down")  # GET /greetings/:id
        await pilot.press("enter", *"g-42", "escape")
        before = outgoing(pane(app).capture())
        await pilot.press("c")
        command = app.clipboard
        assert command.startswith("curl ")
        assert f"{app.source.label}/greetings/g-42" in command
        assert any("Copied as curl" in (n.title or "") for n in app._notifications)
        await pilot.press("up")  # another route: its draft replaces the builder
        assert pane(app).query_one("#endpoints-path", Input).value == "/greet"
        pane(app).query_one("#endpoints-path", Input).focus()
        await paste(app, pilot, command)
        await wait_for(lambda: pane(app).query_one("#endpoints-path", Input).value
                       == "/greetings/:id", what="the pasted route")
        routes = pane(app).query_one("#endpoints-routes", OptionList)
        assert routes.highlighted == 1
        assert outgoing(pane(app).capture()) == before
        assert pane(app).query_one("#endpoints-path", Input).value == "/greetings/:id"


async def test_a_plain_paste_into_the_url_line_stays_a_paste(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        path = pane(app).query_one("#endpoints-path", Input)
        path.focus()
        path.value = ""
        await paste(app, pilot, "/greet?x=1")
        assert path.value == "/greet?x=1"


async def test_import_curl_from_the_palette_box_matches_the_route(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("i")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"wget nope", "ctrl+s")
        assert isinstance(app.screen, TextPrompt)  # refused in place, nothing lost
        assert "starts with `curl`" in str(app.screen.query_one(".text-prompt--problem",
                                                                 Static).render())
        app.screen.query_one("#text-prompt-box", TextArea).load_text(
            "curl -X POST 'http://127.0.0.1:3000/greet' \\\n"
            "  -H 'content-type: application/json' -H 'x-team: acme' \\\n"
            "  --data-raw '{\"name\":\"Lin\"}'"
        )
        await pilot.press("ctrl+s")
        await wait_for(lambda: not isinstance(app.screen, TextPrompt), what="the box to close")
        body = pane(app).query_one("#endpoints-body", JsonEditor)
        await wait_for(lambda: "Lin" in body.text, what="the imported body")
        assert body.value() == {"name": "Lin"}
        assert pane(app).query_one("#endpoints-headers", TextArea).text == "x-team: acme"
        assert str(pane(app).query_one(TabbedContent).active) == "endpoints-request"
        await pilot.press("ctrl+j")
        await answered(app, 1)
        assert pane(app).history[0].status == 200


async def test_keys_of_the_lists_never_act_while_typing(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        path = pane(app).query_one("#endpoints-path", Input)
        path.focus()
        path.value = ""
        await pilot.press(*"/scide")
        assert path.value == "/scide"
        assert not isinstance(app.screen, TextPrompt)
        assert app.clipboard == ""
        assert not (pane(app).project / "motia-requests").exists()


async def test_saved_requests_are_files_listed_under_their_route(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    app = PaneApp(project, EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("enter", "down", "ctrl+k", *'"name": "Ada"', "escape")
        await pilot.press("s")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"../x", "enter")
        assert isinstance(app.screen, TextPrompt)  # a name that is no file is refused
        app.screen.query_one("#text-prompt-box", Input).value = ""
        await pilot.press(*"greet ada", "enter")
        saved = project / "motia-requests" / "greet ada.json"
        await wait_for(saved.exists, what="the saved file")
        on_disk = json.loads(saved.read_text(encoding="utf-8"))
        assert on_disk["step"] == "GreetApi"
        assert json.loads(on_disk["body"]) == {"name": "Ada"}
        assert route_prompts(app)[:2] == ["POST   /greet", "  ◦ greet ada"]

        await pilot.press("s", *"again", "enter")  # a second one, also under /greet
        await wait_for(lambda: "  ◦ again" in route_prompts(app), what="the second entry")
        body = pane(app).query_one("#endpoints-body", JsonEditor)
        body.text = '{"name": "changed"}'
        routes = pane(app).query_one("#endpoints-routes", OptionList)
        routes.focus()
        routes.highlighted = route_prompts(app).index("  ◦ greet ada")
        await pilot.press("enter")
        await wait_for(lambda: body.text and json.loads(body.text) == {"name": "Ada"},
                       what="the saved body")
        assert body.text_area.has_focus

        await pilot.press("escape", "d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert saved.exists()
        await pilot.press("d", "y")
        await wait_for(lambda: not saved.exists(), what="the file to go")
        assert "  ◦ greet ada" not in route_prompts(app)
        assert (project / "motia-requests" / "again.json").exists()
        routes.highlighted = 0
        await pilot.press("d")  # on a route, not a saved request: nothing to delete
        assert not isinstance(app.screen, ConfirmScreen)


async def test_an_environment_fills_variables_and_masks_its_secrets(tmp_path: Path) -> None:
    project = with_environments(tmp_path)
    app = PaneApp(project, EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        env = pane(app).query_one("#endpoints-env", Select)
        assert env.value == ""
        await pilot.press("e")
        assert env.value == "ci"
        await pilot.press("e")
        assert env.value == "dev"
        body = pane(app).query_one("#endpoints-body", JsonEditor)
        body.text = '{"name": "{{who}}"}'
        pane(app).query_one("#endpoints-headers", TextArea).load_text("x-token: {{token}}")
        line = pane(app).query_one("#endpoints-env-line", Static)
        await wait_for(lambda: "who=Ada" in str(line.render()), what="the environment line")
        assert "token=***" in str(line.render())
        await pilot.press("ctrl+j")
        await answered(app, 1)
        exchange = pane(app).history[0]
        assert exchange.status == 200
        assert "env dev: token=***, who=Ada" in status(app)
        trace_id = str(exchange.trace_id)
        engine = app.source.engine
        await wait_for(lambda: engine.state.get("greetings", trace_id), what="the greeting")
        assert engine.state.get("greetings", trace_id) == {"text": "Hello, Ada!"}
        span = engine.traces.get(trace_id)["spans"][0]
        assert span["input"]["headers"]["x-token"] == SECRET  # the server got the value
        assert SECRET not in repr(pane(app).history)
        assert SECRET not in exchange.curl and "{{token}}" in exchange.curl
        assert parse_curl(exchange.curl).body == '{"name": "Ada"}'

        pane(app).query_one(TabbedContent).active = "endpoints-request"
        body.text = '{"name": "{{nobody}}"}'
        body.focus()
        await pilot.press("ctrl+j")
        await pilot.pause()
        assert len(pane(app).history) == 1  # not sent
        assert any("{{nobody}}" in str(n.message) for n in app._notifications)
        tape = app.source.tape
    assert tape is not None
    written = b"".join(p.read_bytes() for p in find_tape(project))
    assert b"greeting requested" in written
    assert SECRET.encode() not in written


async def test_the_live_json_check_takes_a_variable_as_a_value(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)):
        await routes_loaded(app)
        body = pane(app).query_one("#endpoints-body", JsonEditor)
        body.text = '{"name": "{{who}}", "count": {{n}}}'
        assert body.error is None
        body.text = '{"name": {{who}'
        assert body.error is not None


async def test_the_response_filter_marks_matches_and_y_copies_the_body(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("enter", "ctrl+j")
        await answered(app, 1)
        response = pane(app).query_one(ResponseBody)
        await wait_for(lambda: response.has_focus, what="the response body")
        await pilot.press("slash")
        filter_input = pane(app).query_one("#endpoints-filter", Input)
        assert filter_input.has_focus
        await pilot.press(*"$.message")
        result = pane(app).query_one("#endpoints-filter-result", Static)
        assert str(result.render()) == '1 match: $.message = "greeting queued"'
        marked = [(row, s, e) for row, marks in response.marks.items() for s, e, n in marks
                  if n == MATCH]
        [(row, start, end)] = marked
        line = response.document.get_line(row)
        assert line.encode()[start:end].decode() == '"greeting queued"'
        assert response.cursor_location[0] == row
        await pilot.press("backspace", "backspace", "backspace", "[")
        assert "is not a JSONPath" in str(result.render())
        await pilot.press("enter")
        assert response.has_focus
        await pilot.press("y")
        assert json.loads(app.clipboard)["message"] == "greeting queued"
        await pilot.press("escape")
        assert filter_input.value == ""
        assert response.marks == {}


async def test_history_entries_copy_as_curl(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), EndpointsPane)
    async with app.run_test(size=(120, 36)) as pilot:
        await routes_loaded(app)
        await pilot.press("enter", "ctrl+j")
        await answered(app, 1)
        pane(app).query_one("#endpoints-history", OptionList).focus()
        await pilot.press("c")
        sent = parse_curl(app.clipboard)
        assert (sent.method, sent.path) == ("POST", "/greet")
        assert json.loads(sent.body or "") == {"name": "string"}


@pytest.mark.parametrize("size", [(80, 24)], ids=["80x24"])
def test_builder_with_an_environment_snapshot(
    tmp_path: Path, snap_compare: Any, size: tuple[int, int]
) -> None:
    app = PaneApp(with_environments(tmp_path), EndpointsPane)

    async def settle(pilot: Pilot[Any]) -> None:
        await routes_loaded(app)
        await pilot.press("e", "e")
        pane(app).query_one("#endpoints-body", JsonEditor).text = '{"name": "{{who}}"}'
        pane(app).query_one("#endpoints-headers", TextArea).load_text("x-token: {{token}}")
        await wait_for(lambda: "who=Ada" in str(
            pane(app).query_one("#endpoints-env-line", Static).render()), what="the env line")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)
