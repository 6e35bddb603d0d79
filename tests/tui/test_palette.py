"""The command palette runs every action by name, on the real engine, through the keys a
person would type: trigger a cron step, emit an event, re-queue and drop dead letters, open a
route, open a trace by the start of its id, set the Logs and Traces filters."""

from __future__ import annotations

from pathlib import Path

from pane_harness import copy_project, type_ahead, wait_for
from test_app import greet, workbench
from test_sources import FAILING_STEP
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from engine.settings import Settings
from motia_tui.app import WorkbenchApp
from motia_tui.pane_tabs import PaneTabs
from motia_tui.source import LocalSource
from motia_tui.widgets.confirm import ConfirmScreen


def source_for(tmp_path: Path) -> LocalSource:
    project = copy_project(tmp_path)
    (project / "steps" / "always_fails_step.py").write_text(FAILING_STEP, encoding="utf-8")
    return LocalSource(project, Settings(store=":memory:", retry_base_s=0.01), "127.0.0.1", 0,
                       watch=False)


async def run_command(app: WorkbenchApp, pilot: Pilot[int], query: str, title: str) -> None:
    """Open the palette, type `query`, pick the result that reads `title`."""
    await pilot.press("ctrl+p")
    await wait_for(lambda: isinstance(app.screen, CommandPalette), what="the palette")
    type_ahead(app, query)
    box = app.screen.query_one(Input)
    await wait_for(lambda: box.value == query, what=f"{query!r} typed")
    results = app.screen.query_one(CommandList)

    def index() -> int | None:
        for i in range(results.option_count):
            if str(results.get_option_at_index(i).prompt).startswith(title):
                return i
        return None

    found = await wait_for(lambda: index() is not None, what=f"{title!r} among the results")
    assert found
    target = index()
    assert target is not None
    while results.highlighted != target:
        await pilot.press("down")
    await pilot.press("enter")
    await wait_for(lambda: not isinstance(app.screen, CommandPalette), what="the palette to close")


async def test_the_palette_runs_engine_actions_by_name(tmp_path: Path) -> None:
    source = source_for(tmp_path)
    engine = source.engine
    async with workbench(source) as (app, pilot):
        tabs = app.query_one("#tabs", PaneTabs)

        def told(start: str) -> bool:
            return any(n.message.startswith(start) for n in app._notifications)

        await run_command(app, pilot, "trigger cron", "Trigger cron CountTicks")
        await wait_for(lambda: told("triggered CountTicks: trace"), what="the cron run")
        await engine.idle()
        assert (await source.state())["stats"]["ticks"] >= 1

        await run_command(app, pilot, "emit greet.req", "Emit greet.requested")
        await wait_for(lambda: told("emitted greet.requested: trace"), what="the emit")

        await run_command(app, pilot, "emit doomed", "Emit doomed")
        await wait_for(lambda: len(engine.bus.dlq) == 1, what="a dead letter")
        await run_command(app, pilot, "re-queue dead", "Re-queue dead letter AlwaysFails")
        await wait_for(lambda: told("re-queued the dead letter"), what="the re-queue")
        await wait_for(lambda: len(engine.bus.dlq) == 1, what="the retried event back in the queue")
        await run_command(app, pilot, "drop dead", "Drop dead letter AlwaysFails")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(lambda: len(engine.bus.dlq) == 0, what="the dead letter dropped")

        await run_command(app, pilot, "open route greetings", "Open route GET /greetings/:id")
        await wait_for(lambda: tabs.active == "endpoints", what="the endpoints pane")
        path = app.query_one("#endpoints-path", Input)
        await wait_for(lambda: path.value == "/greetings/:id", what="the route in the builder")

        trace_id = await greet(source.label)
        await engine.idle()
        await run_command(app, pilot, trace_id[:8], f"Open trace {trace_id}")
        await wait_for(lambda: tabs.active == "traces", what="the traces pane")
        await wait_for(lambda: app.panes["traces"].open_id == trace_id, what="the trace open")

        await run_command(app, pilot, "logs: level:error", "Filter logs: level:error")
        await wait_for(lambda: tabs.active == "logs", what="the logs pane")
        logs_filter = app.query_one("#logs-filter", Input)
        await wait_for(lambda: logs_filter.value == "level:error", what="the Logs filter")

        await run_command(app, pilot, "traces: status:error", "Filter traces: status:error")
        await wait_for(lambda: tabs.active == "traces", what="the traces pane")
        traces_filter = app.query_one("#traces-filter", Input)
        await wait_for(lambda: traces_filter.value == "status:error", what="the Traces filter")

        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles.count("Quit") == 1
        await app.action_quit()


async def test_every_endpoints_action_is_a_command_and_import_curl_takes_a_box(
    tmp_path: Path,
) -> None:
    from textual.widgets import TextArea

    from motia_tui.widgets.json_editor import JsonEditor
    from motia_tui.widgets.text_prompt import TextPrompt

    source = source_for(tmp_path)
    async with workbench(source) as (app, pilot):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for action in ("Save", "Delete saved", "Copy curl", "Import curl", "Environment",
                       "Re-send", "Filter", "Copy body", "Send"):
            assert f"Endpoints: {action}" in titles, action
        await run_command(app, pilot, "import curl", "Endpoints: Import curl")
        await wait_for(lambda: isinstance(app.screen, TextPrompt), what="the curl box")
        app.screen.query_one("#text-prompt-box", TextArea).load_text(
            "curl http://127.0.0.1:3000/greet --json '{\"name\": \"Kay\"}'"
        )
        await pilot.press("ctrl+s")
        body = app.query_one("#endpoints-body", JsonEditor)
        await wait_for(lambda: "Kay" in body.text, what="the imported body")
        assert app.query_one("#tabs", PaneTabs).active == "endpoints"
        await pilot.press("escape")  # out of the body editor, so `q` quits
