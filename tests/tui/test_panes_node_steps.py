"""The workbench panes with TypeScript and JavaScript steps on a real Node worker: Flows marks
each step's language, and what a TypeScript step writes to state and streams shows live in
the State and Streams panes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from node_support import node_project, template_project
from pane_harness import PaneApp, ready, wait_for
from test_panes_flows import canvas, detail, picture, select_node
from textual.pilot import Pilot

from motia_tui.panes.flows import FlowsPane
from motia_tui.panes.state import StatePane
from motia_tui.panes.streams import StreamsPane

TS_WRITER = {
    "src/scores.stream.py": """
        config = {
            "name": "scores",
            "schema": {"type": "object", "properties": {"points": {"type": "number"}}},
            "baseConfig": {"storageType": "default"},
        }
    """,
    "src/score.step.ts": """
        import type { ApiRouteConfig, Handlers } from 'motia'

        export const config: ApiRouteConfig = {
          type: 'api', name: 'Score', path: '/score/:player', method: 'POST', emits: [],
        }

        export const handler: Handlers['Score'] = async (req, { state, streams }) => {
          const player: string = req.pathParams.player
          await state.set('players', player, { points: req.body.points, by: 'typescript' })
          await streams.scores.set('table', player, { points: req.body.points })
          return { status: 200, body: { player } }
        }
    """,
}


def tree_lines(tree: Any) -> list[str]:
    return [str(tree.get_node_at_line(y).label) for y in range(tree.last_line + 1)]


async def open_line(pilot: Pilot[Any], tree: Any, label_start: str) -> None:
    """Move the cursor with `j` to the line starting with `label_start` and open it."""
    for _ in range(tree.last_line + 2):
        node = tree.cursor_node
        if node is not None and str(node.label).startswith(label_start):
            await pilot.press("enter")
            return
        await pilot.press("j")
    raise AssertionError(f"no line starting with {label_start!r} in {tree_lines(tree)}")


async def score(app: PaneApp, player: str, points: int) -> None:
    async with httpx.AsyncClient(base_url=app.source.label) as client:
        response = await client.post(f"/score/{player}", json={"points": points})
    assert response.status_code == 200, response.text


async def test_flows_marks_each_steps_language(tmp_path: Path) -> None:
    app = PaneApp(template_project(tmp_path, "hello_multilang"), FlowsPane)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(app)
        await wait_for(lambda: "LogGreeting" in picture(app), what="the graph")
        text = picture(app)
        assert "ts GET /hello" in text
        assert "py process-greeting" in text
        assert "js greeting-processed" in text
        await select_node(pilot, app, "LogGreeting")
        assert "lang    javascript" in detail(app)
        assert "src/hello/log-greeting.step.js" in detail(app)
        assert canvas(app).selected == "LogGreeting"


async def test_state_written_by_a_ts_step_shows_in_the_state_pane(tmp_path: Path) -> None:
    app = PaneApp(node_project(tmp_path, TS_WRITER), StatePane)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await score(app, "ada", 3)
        await wait_for(
            lambda: tree_lines(app.pane.state_tree)[:1] == ["players  1 key"],
            what=f"the group, got {tree_lines(app.pane.state_tree)}",
        )
        await open_line(pilot, app.pane.state_tree, "players")
        await wait_for(
            lambda: 'ada: {"points": 3, "by": "typescript"}' in tree_lines(app.pane.state_tree),
            what=f"the value, got {tree_lines(app.pane.state_tree)}",
        )
        await score(app, "grace", 5)
        await wait_for(
            lambda: tree_lines(app.pane.state_tree)[0] == "players  2 keys", what="live change"
        )


async def test_stream_items_written_by_a_ts_step_show_in_the_streams_pane(
    tmp_path: Path,
) -> None:
    app = PaneApp(node_project(tmp_path, TS_WRITER), StreamsPane)

    async with app.run_test(size=(120, 36)) as pilot:
        await ready(app)
        await score(app, "ada", 3)
        await wait_for(
            lambda: tree_lines(app.pane.stream_tree)[:1] == ["scores  1 group"],
            what=f"the stream, got {tree_lines(app.pane.stream_tree)}",
        )
        await open_line(pilot, app.pane.stream_tree, "scores")
        await wait_for(lambda: len(tree_lines(app.pane.stream_tree)) > 1, what="the groups")
        await open_line(pilot, app.pane.stream_tree, "table")
        await wait_for(
            lambda: 'ada  {"points": 3}' in tree_lines(app.pane.stream_tree),
            what=f"the item, got {tree_lines(app.pane.stream_tree)}",
        )
        await score(app, "grace", 5)
        await wait_for(
            lambda: 'grace  {"points": 5}' in tree_lines(app.pane.stream_tree),
            what="the live item",
        )
