"""Attached to an engine served by uvicorn that stops and starts again: the header marks the
link, and Send while the link is down says so at once instead of hanging."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pane_harness import copy_project, wait_for
from test_app import workbench
from test_tmux import free_port
from textual.widgets import Static

from engine.settings import Settings
from motia_tui import remote_source
from motia_tui.remote_source import RemoteSource
from motia_tui.source import LocalSource


def engine_on(project: Path, port: int) -> LocalSource:
    return LocalSource(project, Settings(store=":memory:"), "127.0.0.1", port, watch=False)


async def test_the_header_marks_the_link_and_send_says_it_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_source, "DISCONNECTED_AFTER_S", 1.0)
    project = copy_project(tmp_path)
    port = free_port()
    served = engine_on(project, port)
    await served.start()
    restarted: LocalSource | None = None
    try:
        async with workbench(RemoteSource(f"http://127.0.0.1:{port}")) as (app, pilot):
            link = app.query_one("#header-link", Static)

            def mark() -> str:
                return str(link.render())

            await wait_for(lambda: mark() == "● connected", what="the connected mark")
            await pilot.press("2", "enter", "ctrl+s")
            status = app.query_one("#endpoints-status", Static)
            await wait_for(lambda: "404" in str(status.render()) or "200" in str(
                status.render()), what="an answer while connected")

            await served.stop()
            await wait_for(lambda: mark() == "◌ reconnecting", what="the reconnecting mark")
            await wait_for(lambda: mark() == "✗ disconnected", what="the disconnected mark")
            started = time.monotonic()
            await pilot.press("escape", "enter", "ctrl+s")
            await wait_for(lambda: "not sent" in str(status.render()), what="Send refused")
            assert time.monotonic() - started < 10, "Send waited for the dead engine"
            shown = str(status.render())
            assert "disconnected" in shown and "reconnects" in shown

            restarted = engine_on(project, port)
            await restarted.start()
            await wait_for(lambda: mark() == "● connected", timeout=20, what="connected again")
            await pilot.press("escape", "enter", "ctrl+s")
            await wait_for(lambda: "not sent" not in str(status.render()) and "failed"
                           not in str(status.render()), what="Send working again")
            await app.action_quit()
    finally:
        await served.stop()
        if restarted is not None:
            await restarted.stop()


async def test_a_local_workbench_shows_no_link_mark(tmp_path: Path) -> None:
    async with workbench(engine_on(copy_project(tmp_path), 0)) as (app, _pilot):
        assert not app.query_one("#header-link", Static).display
        await app.action_quit()
