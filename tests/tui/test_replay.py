"""`motia replay`: the whole workbench on a tape, the cursor moved by its keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pane_harness import copy_project, wait_for
from textual.pilot import Pilot
from textual.widgets import Label

from engine.settings import Settings
from motia_tui.app import make_workbench
from motia_tui.pane_tabs import PaneTabs
from motia_tui.panes.state import StatePane
from motia_tui.panes.traces import TracesPane
from motia_tui.replay import ReplaySource
from motia_tui.replay_app import ReplayWorkbench
from motia_tui.source import LocalSource
from motia_tui.widgets.confirm import ConfirmScreen

REPLAY_KEYS = {
    "replay-previous-event": "ctrl+left",
    "replay-next-event": "ctrl+right",
    "replay-back-second": "shift+left",
    "replay-forward-second": "shift+right",
    "replay-play": "ctrl+space",
    "replay-faster": "ctrl+up",
    "replay-slower": "ctrl+down",
    "replay-start": "ctrl+home",
    "replay-end": "ctrl+end",
}


async def record(tmp_path: Path) -> tuple[Path, list[str]]:
    """A run: theme "light", two greetings, then theme "dark"; answers the trace ids."""
    project = copy_project(tmp_path)
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    await source.start()
    await source.set_state("settings", "theme", "light")
    traces = []
    for name in ("Ada", "Bo"):
        answer = await source.request(
            "POST", "/greet", {"content-type": "application/json"}, json.dumps({"name": name})
        )
        assert answer.status == 200 and answer.trace_id is not None
        traces.append(answer.trace_id)
        await source.engine.idle()
    await source.set_state("settings", "theme", "dark")
    await source.engine.idle()
    await source.stop()
    return project, traces


async def replay_of_a_run(tmp_path: Path) -> tuple[ReplaySource, ReplayWorkbench, list[str]]:
    """`motia replay` on the run `record` makes, not yet opened; and the run's trace ids."""
    project, traces = await record(tmp_path)
    source = ReplaySource(project)
    app = make_workbench(source)
    assert isinstance(app, ReplayWorkbench)
    return source, app, traces


def state_lines(app: ReplayWorkbench) -> list[str]:
    pane = app.panes["state"]
    assert isinstance(pane, StatePane)
    tree = pane.state_tree
    nodes = [tree.get_node_at_line(y) for y in range(tree.last_line + 1)]
    return [str(node.label) for node in nodes if node is not None]


async def theme_shown(pilot: Pilot[Any], app: ReplayWorkbench, value: str) -> None:
    """Wait until the State pane shows `value`, opening the `settings` group when closed."""
    await wait_for(lambda: any(line.startswith("settings") for line in state_lines(app)),
                   what="the settings group")
    if not any(line.startswith("theme:") for line in state_lines(app)):
        tree = app.panes["state"].state_tree  # type: ignore[attr-defined]
        await pilot.press("home")
        while not str(tree.cursor_node.label).startswith("settings"):
            await pilot.press("j")
        await pilot.press("enter")
    await wait_for(lambda: f'theme: "{value}"' in state_lines(app),
                   what=f"the State pane to show theme {value!r}")


def cursor_text(app: ReplayWorkbench) -> str:
    return str(app.query_one("#header-cursor", Label).render())


def dark_position(source: ReplaySource) -> int:
    """How many events are applied once theme turned dark."""
    for index in range(source.total):
        event = source.event(index)
        if (
            event is not None
            and event["type"] == "state.change"
            and event["data"].get("value") == "dark"
        ):
            return index + 1
    raise AssertionError("no dark theme on the tape")


async def test_the_cursor_moves_back_to_the_old_value_and_forward_to_the_new(
    tmp_path: Path,
) -> None:
    source, app, _traces = await replay_of_a_run(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the replay to open")
        assert "event 0/" in cursor_text(app)
        await pilot.press("5")
        assert state_lines(app) == [], "the run began with no state"

        await pilot.press("ctrl+end")
        assert source.position == source.total
        assert f"event {source.total}/{source.total}" in cursor_text(app)
        await theme_shown(pilot, app, "dark")

        for _ in range(source.total - dark_position(source) + 1):
            await pilot.press("ctrl+left")
        assert source.position == dark_position(source) - 1
        await theme_shown(pilot, app, "light")

        await pilot.press("ctrl+right")
        assert source.position == dark_position(source)
        await theme_shown(pilot, app, "dark")

        await pilot.press("ctrl+home")
        assert source.position == 0
        await pilot.press("shift+right")
        assert source.time == min(source.start_time + 1000, source.end_time)
        assert source.tape is not None
        applied = [t for t in source.tape.times if t <= source.time]
        assert source.position == len(applied), "one second on: every event of it applied"
        await pilot.press("ctrl+end", "shift+left")
        assert source.time == max(source.end_time - 1000, source.start_time)
        assert source.position == len([t for t in source.tape.times if t <= source.time])

        await pilot.press("ctrl+up", "ctrl+up")
        assert source.speed == 4 and "4x" in cursor_text(app)
        await pilot.press("ctrl+down")
        assert source.speed == 2

        shown: list[str] = []
        show_cursor = source.on_move
        assert show_cursor is not None

        def watch() -> None:
            show_cursor()
            shown.append(cursor_text(app))

        source.on_move = watch
        await pilot.press("ctrl+home", "ctrl+space")
        await wait_for(lambda: not source.playing, timeout=30, what="playing to the end")
        assert any(text.startswith("▶") for text in shown), "the header showed it playing"
        assert shown[-1].startswith("⏸")
        assert source.position == source.total
        await theme_shown(pilot, app, "dark")

        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(
            lambda: any("read-only" in str(n.message) for n in app._notifications),
            what="the refusal to delete",
        )
        assert (await source.state())["settings"] == {"theme": "dark"}
        await pilot.press("q")
    assert app.return_code == 0


async def test_opening_a_trace_moves_the_cursor_to_it(tmp_path: Path) -> None:
    source, app, traces = await replay_of_a_run(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the replay to open")
        await pilot.press("ctrl+end", "3")
        pane = app.panes["traces"]
        assert isinstance(pane, TracesPane)
        await wait_for(lambda: len(pane.book.summaries) >= 2, what="the traces")
        first = traces[0]
        while pane.trace_list.selected != first:
            await pilot.press("j")
        await pilot.press("enter")
        needle = f'"traceId":"{first}"'.encode()
        assert source.tape is not None
        last = max(i for i, line in enumerate(source.tape.lines) if needle in line)
        await wait_for(lambda: source.position == last + 1, what="the cursor on the trace")
        assert app.query_one(PaneTabs).active == "traces"
        await wait_for(lambda: pane.open_id == first, what="the trace open")
        assert traces[1] not in pane.book.summaries or source.position > last


async def test_every_replay_key_has_an_id_and_a_palette_command(tmp_path: Path) -> None:
    _source, app, _traces = await replay_of_a_run(tmp_path)
    async with app.run_test(size=(80, 24)):
        await wait_for(lambda: app.ready.is_set(), what="the replay to open")
        keys_of: dict[str | None, set[str]] = {}
        for key, bound in app._bindings.key_to_bindings.items():
            for binding in bound:
                keys_of.setdefault(binding.id, set()).add(key)
        for binding_id, key in REPLAY_KEYS.items():
            assert key in keys_of.get(binding_id, set()), binding_id
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for description in ("Previous event", "Next event", "Back one second",
                            "Forward one second", "Play/pause", "Faster", "Slower",
                            "To the start", "To the end"):
            assert description in titles


def test_replay_without_a_tape_says_so(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "motia_tui.cli", "replay", "--dir", str(project)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "no engine tape" in result.stderr


def test_replay_of_a_file_that_is_no_engine_tape_says_so(tmp_path: Path) -> None:
    script = tmp_path / "demo.tape"
    script.write_text('Output demo.cast\nKey 3\nWait "Traces"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "motia_tui.cli", "replay", str(script)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "is not an engine tape" in result.stderr and "motia demo" in result.stderr


def log_messages(app: ReplayWorkbench) -> list[str]:
    buffer = app.logs_pane().buffer
    return [str(buffer.record_at(line).get("msg")) for line in range(len(buffer))]


async def test_the_logs_pane_goes_back_with_the_cursor(tmp_path: Path) -> None:
    """Going back, the records logged after the cursor leave the pane at once, with no gap
    line claiming they were lost; going forward again brings them back."""
    source, app, _traces = await replay_of_a_run(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the replay to open")
        await pilot.press("4", "ctrl+end")
        await wait_for(lambda: log_messages(app).count("greeting recorded") == 2,
                       what="both greetings' records at the end")
        at_end = log_messages(app)

        for _ in range(source.total - dark_position(source) + 1):
            await pilot.press("ctrl+left")
        await pilot.press("ctrl+home")
        at_start = [str(r.get("msg")) for r in await source.logs()]
        assert "greeting recorded" not in at_start
        await wait_for(lambda: log_messages(app) == at_start,
                       what="the pane to show the records at the start")
        await pilot.pause(0.3)
        assert log_messages(app) == at_start
        assert not app.logs_pane().buffer.gaps, "nothing was lost: no gap line"

        await pilot.press("ctrl+end")
        await wait_for(lambda: log_messages(app) == at_end, what="the records again at the end")
        await pilot.press("q")
