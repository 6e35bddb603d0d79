"""A one-pane app for the pane tests: a real engine, a real source, the real event pump.

`PaneApp` does what the workbench does for a pane and nothing more: it starts a
`LocalSource` over a copy of a fixture project, builds the pane as `Pane(source)`, calls
`reload()`, then feeds it coalesced engine events 15 times a second. Messages a pane posts
for the workbench (open an endpoint, open a trace) are recorded for the tests to check.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import time
import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer

from engine.settings import Settings
from motia_tui.messages import OpenEndpoint, OpenTrace
from motia_tui.source import EventFeed, LocalSource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PANES_CSS = Path(__file__).resolve().parents[2] / "motia_tui" / "panes" / "panes.tcss"
TICK_S = 1 / 15
QUIET_CRON = "0 0 1 1 *"
"""Once a year: a minute tick must never land inside a test and change what it sees."""


def copy_project(tmp_path: Path, name: str = "basic") -> Path:
    """A private copy of a fixture project with its cron made quiet.

    The folder name is unique because step modules are imported as packages named after it,
    and several tests share one interpreter.
    """
    project = tmp_path / f"{name}_{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURES / name, project)
    for step in project.rglob("*_step.py"):
        text = step.read_text(encoding="utf-8")
        step.write_text(text.replace('"* * * * *"', f'"{QUIET_CRON}"'), encoding="utf-8")
    return project


class PaneApp(App[None]):
    """Hosts one pane the way the workbench does."""

    CSS_PATH = str(PANES_CSS)

    def __init__(
        self,
        project: Path,
        pane_class: Callable[[LocalSource], Widget],
        before_reload: Callable[[LocalSource], Any] | None = None,
    ) -> None:
        super().__init__()
        self.source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
        self.pane_class = pane_class
        self.before_reload = before_reload
        self.pane: Any = None
        self.feed: EventFeed | None = None
        self.posted: list[Message] = []
        self.ready = False

    def compose(self) -> ComposeResult:
        yield Footer()

    async def on_mount(self) -> None:
        await self.source.start()
        self.feed = self.source.subscribe()
        if self.before_reload is not None:
            result = self.before_reload(self.source)
            if inspect.isawaitable(result):
                await result
            await self.source.engine.idle()
            self.feed.drain()
        self.pane = self.pane_class(self.source)
        await self.mount(self.pane, before=self.query_one(Footer))
        await self.pane.reload()
        focusable = [w for w in self.screen.focus_chain if self.pane in w.ancestors_with_self]
        if focusable:
            focusable[0].focus()
        self.set_interval(TICK_S, self._pump)
        self.ready = True

    def _pump(self) -> None:
        assert self.feed is not None
        if self.feed.take_dropped():
            self.run_worker(self.pane.reload(), group="harness-reload")
        events = self.feed.drain()
        if events:
            self.pane.apply_events(events)

    @on(OpenEndpoint)
    @on(OpenTrace)
    def _record(self, message: Message) -> None:
        self.posted.append(message)

    async def on_unmount(self) -> None:
        if self.feed is not None:
            self.feed.close()
        await self.source.stop()


def type_ahead(app: App[Any], text: str) -> None:
    """Every character of `text` queued on the app at once, as a terminal delivers a paste
    or keys typed ahead: the app must take them in order without a pause between them (and
    a busy engine cannot make Pilot's idle wait after each key add seconds a key)."""
    for character in text:
        key = character
        if not character.isalnum():
            key = unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
            key = {"hyphen_minus": "minus"}.get(key, key)
        event = events.Key(key, character)
        event.set_sender(app)
        app.post_message(event)


async def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll until `predicate()` is truthy (letting the app run), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def ready(app: PaneApp) -> None:
    """Wait for the engine and the pane's first load."""
    await wait_for(lambda: app.ready, what="the pane to mount")
