"""One key plan: every binding has an id, no key collides where it applies, a `[keys]`
table remaps bindings by id (and is refused with every problem named), `?` shows the keys in
effect, and the footer fits 80 columns without cutting a key.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pane_harness import copy_project, wait_for
from test_app import local_source, workbench
from test_snapshots_logs_traces import LOG_EVENTS, SIZES, WORKBENCH_CSS
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.widget import Widget

from engine.settings import Settings, load_settings
from motia_tui.app import CLUSTER_ONLY, PANES, WorkbenchApp, make_workbench
from motia_tui.help import KEPT, LOCAL, SPARE, FooterKey, HelpScreen, KeyBar, fit_keys
from motia_tui.keymap import (
    KeymapError,
    _own_classes,
    collisions,
    declared_bindings,
    load_keymap,
    parse_keymap,
)
from motia_tui.pane_tabs import PaneTabs
from motia_tui.panes.logs import LogsPane
from motia_tui.source import LocalSource

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_binding_has_an_id() -> None:
    missing = [
        f"{cls.__module__}.{cls.__name__}: {binding.key} -> {binding.action}"
        for cls in _own_classes(DOMNode)
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", []))
        if not binding.id
    ]
    assert missing == []


def test_nothing_is_bound_to_alt_with_a_printable_key() -> None:
    for binding_id, binding in declared_bindings().items():
        assert not re.fullmatch(r"alt\+.", binding.key), binding_id


async def test_no_key_collides_within_a_focus_context(tmp_path: Path) -> None:
    """Walk every focusable widget of every pane: within its chain of bindings a key runs
    one action, and no pane takes a global key."""
    async with workbench(local_source(tmp_path)) as (app, _pilot):
        roots = list(app.panes.values())
        focusable = [w for r in roots for w in r.walk_children(Widget) if w.can_focus]
        assert len(focusable) > 10
        assert collisions(app, roots, {}) == []
        assert collisions(app, roots, {"logs-copy": "t"}) == ["t: logs-trace and logs-copy"]
        assert collisions(app, roots, {"traces-copy": "2"}) == [
            "2: traces-copy and tab-endpoints"
        ]
        await app.action_quit()


def test_modal_screens_bind_each_key_once() -> None:
    from motia_tui.panes.logs import RecordScreen
    from motia_tui.widgets.confirm import ConfirmScreen
    from motia_tui.widgets.value_editor import ValueEditorScreen

    for screen in (HelpScreen, RecordScreen, ConfirmScreen, ValueEditorScreen):
        keys = [b.key for b in Binding.make_bindings(screen.__dict__.get("BINDINGS", []))]
        assert len(keys) == len(set(keys)), screen


def test_the_readme_keys_table_names_every_shown_key() -> None:
    """Every key that the footer or `?` shows appears in the README's keys tables."""
    text = README.read_text(encoding="utf-8")
    keys_part = text[text.index("### Keys") : text.index("### Attaching")]
    documented = {k.lower() for k in re.findall(r"`([^`]+)`", keys_part)}
    shown = {b.key for b in declared_bindings().values() if b.show and b.description}
    aliases = {
        "question_mark": "?", "exclamation_mark": "!", "colon": ":", "slash": "/",
        "enter": "enter", "escape": "esc", "left_square_bracket": "[",
        "right_square_bracket": "]", "up": "↑", "down": "↓", "greater_than_sign": ">",
        "less_than_sign": "<", "plus_sign": "+", "plus": "+", "minus": "-", "equals_sign": "=",
    }
    undocumented = []
    for key in shown:
        name = aliases.get(key, key).lower()
        if name not in documented:
            undocumented.append(key)
    assert undocumented == []


def test_a_keys_table_is_checked_with_every_problem_named(tmp_path: Path) -> None:
    assert parse_keymap({"tab-logs": ["4", "F4", "ctrl+l"], "help": "f12"}) == {
        "tab-logs": "4,F4,ctrl+l",
        "help": "f12",
    }
    with pytest.raises(KeymapError) as caught:
        parse_keymap(
            {
                "flows-nxt-flow": "n",
                "help": "alt+h",
                "quit": "ctrl+",
                "errors": "hyperx+e",
                "palette": 3,
                "logs-copy": "bogus_key",
            }
        )
    message = str(caught.value)
    for part in (
        "unknown binding id 'flows-nxt-flow' (did you mean 'flows-next-flow'?)",
        "'help': 'alt+h': Alt with a printable key",
        "'quit': 'ctrl+' names no key",
        "unknown modifier 'hyperx'",
        "'palette': give a key or a list of keys",
        "no key is called 'bogus_key'",
    ):
        assert part in message

    (tmp_path / "motia.toml").write_text('port = 4000\n[keys]\nquit = "ctrl+q"\n')
    assert load_keymap(tmp_path) == {"quit": "ctrl+q"}
    assert load_settings(tmp_path, environ={}).port == 4000
    (tmp_path / "motia.toml").write_text('[keys]\nquitt = "x"\n')
    with pytest.raises(KeymapError, match=r"motia.toml \[keys\]: unknown binding id 'quitt'"):
        load_keymap(tmp_path)


def test_a_bad_keys_table_stops_motia_tui_before_it_opens(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    (project / "motia.toml").write_text('[keys]\nhelp = "alt+h"\n')
    done = subprocess.run(
        [sys.executable, "-m", "motia_tui.cli", "tui", "--dir", str(project)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert done.returncode == 2
    assert "[keys]" in done.stderr and "'help': 'alt+h'" in done.stderr


async def test_remapped_keys_work_and_help_shows_them(tmp_path: Path) -> None:
    keymap = parse_keymap({"tab-logs": "ctrl+l", "help": "f12"})
    app = make_workbench(local_source(tmp_path), keymap=keymap)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        tabs = app.query_one("#tabs", PaneTabs)
        await pilot.press("4")
        assert tabs.active == "flows"
        await pilot.press("ctrl+l")
        assert tabs.active == "logs"
        await pilot.press("f12")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        by_id = {i: e for e in screen.entries for i in e.ids}
        assert by_id["tab-logs"].keys == ("ctrl+l",)
        assert by_id["help"].keys == ("f12",)
        assert by_id["tab-traces"].keys == ("3", "f3")
        await pilot.press("escape")
        assert "f12" in app.query_one(KeyBar).text()
        await app.action_quit()


def test_the_footer_drops_whole_keys_from_the_least_needed() -> None:
    keys = [
        FooterKey("⏎", "Record", "enter", LOCAL),
        FooterKey("t", "Its trace", "t", LOCAL),
        FooterKey("!", "Errors", "!", SPARE),
        FooterKey("?", "Help", "?", KEPT),
        FooterKey("q", "Quit", "q", SPARE),
    ]
    width = sum(len(k.text) for k in keys)
    assert fit_keys(keys, width) == keys
    assert fit_keys(keys, width - 1) == [keys[0], keys[1], keys[2], keys[3]]
    assert fit_keys(keys, len(keys[0].text) + len(keys[3].text)) == [keys[0], keys[3]]
    assert fit_keys(keys, len(keys[3].text)) == [keys[3]]
    assert fit_keys(keys, 3) == []


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_footer_fits_on_every_pane(tmp_path: Path, size: tuple[int, int]) -> None:
    async with workbench(local_source(tmp_path), size=size) as (app, pilot):
        bar = app.query_one(KeyBar)
        for n, (tab, _title, _cls) in enumerate(PANES, start=1):
            if tab in CLUSTER_ONLY:  # absent without a cluster (tests/redis has its own)
                continue
            await pilot.press(f"f{n}")
            await pilot.pause()
            shown = bar.text()
            assert len(shown) <= size[0], (tab, shown)
            assert "? Help" in shown, (tab, shown)
            assert shown == "".join(
                k.text for k in fit_keys(bar.footer_keys(), bar.size.width)
            ), tab
        await pilot.press("f4", "slash")
        shown = bar.text()
        assert shown.startswith(" esc Leave  F1-F7 Panes "), shown
        await pilot.press("escape")
        assert app.focused is not None and app.focused.id == "logs-view"
        await app.action_quit()


class FooterApp(App[None]):
    """The Logs pane over a fixed batch with the workbench's key bar and app keys."""

    CSS_PATH: ClassVar[list[str]] = [
        str(WORKBENCH_CSS),
        str(WORKBENCH_CSS.parent / "panes" / "panes.tcss"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = WorkbenchApp.BINDINGS
    cluster = False
    """Not a cluster, as the workbench on this project: its Workers key is off."""
    check_action = WorkbenchApp.check_action

    def __init__(self, project: Path) -> None:
        super().__init__()
        self.source = LocalSource(project, Settings(store=":memory:"), "127.0.0.1", 0,
                                  watch=False)
        self.pane = LogsPane(self.source, tz=UTC)

    def compose(self) -> ComposeResult:
        yield self.pane
        yield KeyBar(id="keys")

    async def on_mount(self) -> None:
        await self.pane.reload()
        self.pane.apply_events(LOG_EVENTS)
        self.pane.view.focus()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_footer_snapshot(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(FooterApp(copy_project(tmp_path)), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_footer_snapshot_in_an_input(
    snap_compare: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    assert snap_compare(FooterApp(copy_project(tmp_path)), terminal_size=size, press=["slash"])


async def test_a_keys_table_that_makes_two_bindings_share_a_key_warns_once(
    tmp_path: Path,
) -> None:
    keymap = parse_keymap({"logs-copy": "t"})
    app = make_workbench(local_source(tmp_path), keymap=keymap)
    async with app.run_test(size=(120, 36)):
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        clashes = await wait_for(
            lambda: [n for n in app._notifications if n.title == "Keys clash"],
            what="the warning",
        )
        assert len(clashes) == 1
        assert "t: logs-trace and logs-copy" in clashes[0].message
        await app.action_quit()
