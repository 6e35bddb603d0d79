"""The State pane against a real engine: a live tree, edits with validation, deletions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pane_harness import PaneApp, copy_project, ready, wait_for
from textual.pilot import Pilot
from textual.widgets import Static

from motia_tui.panes.state import StatePane
from motia_tui.source import LocalSource
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.value_editor import ValueEditorScreen


async def seed(source: LocalSource) -> None:
    await source.set_state("stats", "ticks", 3)
    await source.set_state("greetings", "ada", {"text": "Hello, Ada!", "tags": ["a", "b"], "n": 1})
    await source.set_state("greetings", "grace", {"text": "Hello, Grace!"})


def lines(app: PaneApp) -> list[str]:
    """The tree as it reads on screen: one label a visible line."""
    tree = app.pane.state_tree
    return [str(tree.get_node_at_line(y).label) for y in range(tree.last_line + 1)]


async def loaded(app: PaneApp) -> None:
    await ready(app)
    await wait_for(lambda: len(lines(app)) >= 2, what="the groups")


async def go_to(pilot: Pilot[Any], app: PaneApp, label_start: str) -> None:
    """Move the cursor with `j` to the first line starting with `label_start`."""
    for _ in range(len(lines(app)) + 1):
        node = app.pane.state_tree.cursor_node
        if node is not None and str(node.label).startswith(label_start):
            return
        await pilot.press("j")
    raise AssertionError(f"no line starting with {label_start!r} in {lines(app)}")


async def test_groups_keys_and_values_open_lazily(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StatePane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        assert lines(app) == ["greetings  2 keys", "stats  1 key"]
        await pilot.press("enter")
        assert lines(app)[:3] == [
            "greetings  2 keys",
            'ada: {"text": "Hello, Ada!", "tags": ["a", "b"], "n": 1}',
            'grace: {"text": "Hello, Grace!"}',
        ]
        await pilot.press("j", "enter")
        assert lines(app)[2:5] == ['text: "Hello, Ada!"', 'tags: ["a", "b"]', "n: 1"]
        await go_to(pilot, app, "tags")
        await pilot.press("enter")
        assert lines(app)[4:6] == ['0: "a"', '1: "b"']


async def test_changes_made_elsewhere_appear_live_and_keep_open_nodes(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StatePane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        await pilot.press("enter", "j", "enter")  # open greetings and ada
        source = app.source
        await source.set_state("greetings", "ada", {"text": "Hi, Ada!", "tags": [], "n": 2})
        await source.set_state("greetings", "bob", "Hello, Bob!")
        await source.set_state("audit", "last", None)
        await source.delete_state("stats", None)
        await wait_for(
            lambda: (
                lines(app)
                == [
                    "audit  1 key",
                    "greetings  3 keys",
                    'ada: {"text": "Hi, Ada!", "tags": [], "n": 2}',
                    'text: "Hi, Ada!"',
                    "tags: []",
                    "n: 2",
                    'bob: "Hello, Bob!"',
                    'grace: {"text": "Hello, Grace!"}',
                ]
            ),
            what=f"the live tree, got {lines(app)}",
        )


async def test_edit_a_value_reaches_the_engine_as_a_manual_trace(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StatePane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        engine = app.source.engine
        await pilot.press("j", "enter")  # open stats
        await go_to(pilot, app, "ticks")
        await pilot.press("e")
        editor = await wait_for(
            lambda: app.screen if isinstance(app.screen, ValueEditorScreen) else None,
            what="the editor",
        )
        await pilot.press("delete", *"[1, 2")
        await pilot.press("ctrl+s")
        problem = editor.query_one(".value-editor--problem", Static)
        assert "not saved" in str(problem.render())
        assert app.screen is editor
        await engine.idle()
        assert engine.state.get("stats", "ticks") == 3

        await pilot.press("]", "ctrl+s")
        await wait_for(lambda: engine.state.get("stats", "ticks") == [1, 2], what="the save")
        assert not isinstance(app.screen, ValueEditorScreen)
        await wait_for(lambda: "ticks: [1, 2]" in lines(app), what="the tree to follow")
        manual = [t for t in engine.traces.list(20) if t["entry"] == "manual state edit"]
        assert manual


async def test_add_a_key_in_the_group_under_the_cursor(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StatePane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, ValueEditorScreen), what="the editor")
        await pilot.press(*"lin", "tab", "delete", "delete", *'{"text": "Hello, Lin!"}')
        await pilot.press("ctrl+s")
        engine = app.source.engine
        await wait_for(
            lambda: engine.state.get("greetings", "lin") == {"text": "Hello, Lin!"},
            what="the new key",
        )
        await wait_for(lambda: lines(app)[0] == "greetings  3 keys", what="the new count")


async def test_delete_a_key_and_a_group_after_confirmation(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StatePane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        engine = app.source.engine
        await pilot.press("enter", "j")  # greetings / ada
        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")
        await engine.idle()
        assert engine.state.get("greetings", "ada") is not None

        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(lambda: engine.state.get("greetings", "ada") is None, what="the delete")
        await wait_for(lambda: not any(x.startswith("ada") for x in lines(app)), what="the tree")

        await go_to(pilot, app, "stats")
        await pilot.press("delete")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(lambda: "stats" not in engine.state.groups(), what="the group delete")
        await wait_for(lambda: lines(app)[-1] != "stats  1 key", what="the group to go")


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_state_snapshot(tmp_path: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    app = PaneApp(copy_project(tmp_path), StatePane, before_reload=seed)

    async def settle(pilot: Pilot[Any]) -> None:
        await loaded(app)
        await pilot.press("enter", "j", "enter")

    assert snap_compare(app, terminal_size=size, run_before=settle)


async def test_g_and_shift_g_go_to_the_first_and_last_line(tmp_path: Path) -> None:
    app = PaneApp(copy_project(tmp_path), StatePane, before_reload=seed)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        await pilot.press("enter")  # open greetings: four lines
        tree = app.pane.state_tree
        assert tree.last_line == 3
        await pilot.press("G")
        assert str(tree.cursor_node.label).startswith("stats")
        await pilot.press("g")
        assert tree.cursor_line == 0
        assert str(tree.cursor_node.label).startswith("greetings")
