"""The Streams pane against a real engine: names, groups, items, live changes, no streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pane_harness import PaneApp, copy_project, ready, wait_for
from textual.pilot import Pilot
from textual.widgets import Static

from motia_tui.panes.streams import StreamsPane
from motia_tui.source import LocalSource
from motia_tui.widgets.highlight import HighlightedTextArea


def seed(source: LocalSource) -> None:
    stream_set = source.engine.executor.stream_set
    stream_set(None, "greetings", "all", "ada", {"text": "Hello, Ada!"})
    stream_set(None, "greetings", "all", "grace", {"text": "Hello, Grace!"})
    stream_set(None, "greetings", "vip", "lin", {"text": "Hello, Lin!"})


def lines(app: PaneApp) -> list[str]:
    tree = app.pane.stream_tree
    return [str(tree.get_node_at_line(y).label) for y in range(tree.last_line + 1)]


def shown_json(app: PaneApp) -> str:
    return app.pane.query_one("#streams-json", HighlightedTextArea).text


async def test_streams_groups_and_items_with_the_selected_json(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StreamsPane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await wait_for(lambda: lines(app) == ["greetings  2 groups"], what="the stream")
        assert '"storageType": "default"' in shown_json(app)
        await pilot.press("enter", "j", "enter")
        await wait_for(
            lambda: (
                lines(app)
                == [
                    "greetings  2 groups",
                    "all  2 items",
                    'ada  {"text": "Hello, Ada!"}',
                    'grace  {"text": "Hello, Grace!"}',
                    "vip",
                ]
            ),
            what=f"the items, got {lines(app)}",
        )
        await pilot.press("j")
        assert '"text": "Hello, Ada!"' in shown_json(app)
        assert '"id": "ada"' in shown_json(app)


async def test_an_item_written_by_a_step_appears_live(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StreamsPane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await wait_for(lambda: lines(app), what="the stream")
        await pilot.press("enter", "j", "enter")
        await wait_for(lambda: "all  2 items" in lines(app), what="the group to open")
        async with httpx.AsyncClient(base_url=app.source.label) as client:
            response = await client.post("/greet", json={"name": "Bo"})
        trace_id = response.json()["traceId"]
        await wait_for(
            lambda: f'{trace_id}  {{"text": "Hello, Bo!"}}' in lines(app),
            what="the new item in the open group",
        )
        assert "all  3 items" in lines(app)

        app.source.engine.executor.stream_set(None, "greetings", "new", "x", {"text": "y"})
        await wait_for(lambda: lines(app)[0] == "greetings  3 groups", what="the new group")
        assert "new" in lines(app)


async def test_custom_events_are_shown_for_their_stream(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StreamsPane, before_reload=seed)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        await wait_for(lambda: lines(app), what="the stream")
        app.source.engine.executor.stream_send(
            None, "greetings", {"groupId": "all"}, {"type": "typing", "data": {"who": "Ada"}}
        )
        events = app.pane.query_one("#streams-events", Static)
        await wait_for(lambda: "Ada" in str(events.render()), what="the custom event")


async def test_without_streams_the_pane_says_how_to_declare_one(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "greetings_stream.py").unlink()
    app = PaneApp(project, StreamsPane)
    async with app.run_test(size=(120, 36)):
        await ready(app)
        message = app.pane.query_one("#streams-empty", Static)
        await wait_for(lambda: message.display, what="the message")
        assert "_stream.py" in str(message.render())
        assert not app.pane.query_one("#streams-detail").display


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_streams_snapshot(tmp_path: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    app = PaneApp(copy_project(tmp_path), StreamsPane, before_reload=seed)

    async def settle(pilot: Pilot[Any]) -> None:
        await ready(app)
        await wait_for(lambda: lines(app), what="the stream")
        await pilot.press("enter", "j", "enter")
        await wait_for(lambda: len(lines(app)) == 5, what="the items")
        await pilot.press("j")

    assert snap_compare(app, terminal_size=size, run_before=settle)
