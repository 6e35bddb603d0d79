"""The workbench on a runaway topic: a toast says the queue is full and how to purge it, and
the palette's "Purge queue TOPIC" (asking first) throws the backlog away."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tui"))

from pane_harness import wait_for
from test_app import workbench
from test_palette import run_command
from test_runaway_queues import FAN

from engine.settings import Settings
from motia_tui.source import LocalSource
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.flow_canvas import FlowCanvas


async def test_a_full_queue_is_toasted_and_purged_from_the_palette(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/fan_step.py": FAN})
    settings = Settings(store=":memory:", max_queued=50, retry_base_s=0.05, retry_max_s=0.1)
    source = LocalSource(project_dir, settings, "127.0.0.1", 0, watch=False)
    engine = source.engine
    async with workbench(source) as (app, pilot):

        def toasted() -> list[str]:
            return [n.message for n in app._notifications if n.title == "A queue is running away"]

        await source.emit("fan", {})
        await wait_for(toasted, timeout=20, what="the runaway toast")
        (message,) = toasted()
        assert message.startswith("fan: ") and "at its bound of 50" in message
        assert 'choose "Purge queue fan"' in message
        await run_command(app, pilot, "purge queue fan", "Purge queue fan")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        (project_dir / "stop").touch()
        await pilot.press("y")

        def purged() -> list[str]:
            return [n.message for n in app._notifications if n.message.startswith("purged ")]

        await wait_for(purged, what="the purge to be told")
        assert purged()[0].endswith("queued event(s) of fan")
        await wait_for(lambda: engine.bus.depth("fan", "Fan") == 0, what="an empty queue")


async def test_x_on_a_step_in_flows_purges_the_queues_of_its_topics(
    project: Callable[[dict[str, str]], Path],
) -> None:
    project_dir = project({"steps/fan_step.py": FAN})
    settings = Settings(store=":memory:", max_queued=50, retry_base_s=0.05, retry_max_s=0.1)
    source = LocalSource(project_dir, settings, "127.0.0.1", 0, watch=False)
    engine = source.engine
    async with workbench(source) as (app, pilot):
        app.action_show_tab("flows")
        graph = app.panes["flows"].query_one(FlowCanvas)
        await wait_for(lambda: graph.selected == "Fan", what="the Fan step selected")
        graph.focus()
        await source.emit("fan", {})
        await wait_for(lambda: engine.bus.depth("fan", "Fan") >= 40, what="a backlog")
        await pilot.press("x")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")

        def purged() -> list[str]:
            return [n.message for n in app._notifications if n.message.startswith("purged ")]

        await wait_for(purged, what="the purge to be told")
        (project_dir / "stop").touch()
        assert purged()[0].endswith("queued event(s) of fan")
        assert int(purged()[0].split()[1]) >= 30
        await wait_for(lambda: engine.bus.depth("fan", "Fan") == 0, what="an empty queue")
