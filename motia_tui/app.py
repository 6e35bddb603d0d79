"""`WorkbenchApp`: the engine, its HTTP server and seven live panes in one event loop.

The app is thin: it starts the source, owns the one subscription to the engine's event
feed, and on a tick (15 a second, fewer when the engine is very busy) hands the shown pane
the batch that arrived since the last one, so no pane ever redraws per event however busy
the server is. Hidden panes get their batches when their tab is shown (`backlog`). It also
turns failures into notifications, keeps the header current, and routes `messages` between
panes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar, cast

from rich.console import Console
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Label, TabbedContent, TabPane

from engine import events as ev
from engine import tuning
from engine.events import QueueWarningData, StepLoadedEvent, StepRemovedEvent, WireEvent
from motia_tui import messages
from motia_tui.backlog import Backlog
from motia_tui.help import HelpScreen, KeyBar, KeyEntry, collect, types_text
from motia_tui.key_order import KeyOrder
from motia_tui.keymap import KeymapError, collisions, load_keymap
from motia_tui.palette import EngineCommands
from motia_tui.panes.dead_letters import DeadLettersPane
from motia_tui.panes.endpoints import EndpointsPane
from motia_tui.panes.flows import FlowsPane
from motia_tui.panes.logs import LogsPane
from motia_tui.panes.state import StatePane
from motia_tui.panes.streams import StreamsPane
from motia_tui.panes.traces import TracesPane
from motia_tui.recording import CastRecorder, RecordingError
from motia_tui.source import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    RECONNECTING,
    EngineSource,
    EventFeed,
)
from motia_tui.textual_hooks import FrameMarkingApp, driver_of, toast_racks
from motia_tui.toasts import FailureDigest
from motia_tui.writer import TerminalPorts, WorkbenchDriver

FPS = 15
SLOW_LINK_FPS = 4
MIN_FPS = 2
BUSY_EVENTS_PER_S = 3_000
"""Above this event rate the frame rate drops in proportion (to MIN_FPS): nobody reads a log
scrolling at thousands of lines a second, and the server sharing the loop needs the time."""
TOAST_INTERVAL_S = 3.0
"""Handler failures at 500 requests/s must not bury the screen: one toast per interval."""
PaneT = TypeVar("PaneT", bound=Widget)
COLOR_SYSTEMS: dict[str, Literal["truecolor", "256", "standard"]] = {
    "truecolor": "truecolor",
    "256": "256",
    "16": "standard",
}
NO_TTY = """motia tui needs a terminal, and this standard input or output is not one.
Over SSH, ask for a terminal:   ssh -t HOST motia tui
Without a terminal, run the server headless:   motia dev --no-tui"""


ALWAYS_FED = frozenset({"logs"})
"""Panes that take every batch even while hidden: the Logs pane keeps every record, and a
reload could bring back only the newest of a burst."""


class Pane(Protocol):
    """What every tab offers the app."""

    def apply_events(self, events: list[WireEvent]) -> None: ...

    async def reload(self) -> None: ...


PANES: tuple[tuple[str, str, Callable[[EngineSource], Widget]], ...] = (
    ("flows", "Flows", FlowsPane),
    ("endpoints", "Endpoints", EndpointsPane),
    ("traces", "Traces", TracesPane),
    ("logs", "Logs", LogsPane),
    ("state", "State", StatePane),
    ("streams", "Streams", StreamsPane),
    ("dead_letters", "Dead letters", DeadLettersPane),
)


LINK_MARKS = {
    CONNECTING: "◌ connecting",
    CONNECTED: "● connected",
    RECONNECTING: "◌ reconnecting",
    DISCONNECTED: "✗ disconnected",
}
"""The header's mark of an attached workbench's link to its engine."""


def queue_warning_text(warning: QueueWarningData) -> str:
    """What a runaway topic's toast says, and how to throw its backlog away."""
    topic, queued = warning["topic"], warning["queued"]
    if warning["full"]:
        what = (f"{topic}: {queued:,} events queued, at its bound of {warning['bound']:,}; "
                "runs that emit to it fail and retry.")
    else:
        what = f"{topic}: {queued:,} events queued, growing by {warning['perSecond'] or 0:,.0f}/s."
    return f'{what}\nPress : and choose "Purge queue {topic}" to throw them away.'


class WorkbenchHeader(Horizontal):
    """Server address, the link to it when attached, step count, errors since start, and a
    mark while the store fails."""

    _shown: tuple[str, str | None, int, int, int, str | None] | None = None

    def compose(self) -> ComposeResult:
        yield Label("motia", id="header-brand")
        yield Label("starting…", id="header-address")
        yield Label("", id="header-link")
        yield Label("", id="header-steps")
        yield Label("no errors", id="header-errors")
        yield Label("", id="header-store")

    def show(
        self,
        address: str,
        link: str | None,
        steps: int,
        broken: int,
        errors: int,
        store_problem: str | None = None,
    ) -> None:
        """Only what changed is redrawn: this runs on every tick."""
        shown = (address, link, steps, broken, errors, store_problem)
        if shown == self._shown:
            return
        self._shown = shown
        self.query_one("#header-address", Label).update(address)
        link_label = self.query_one("#header-link", Label)
        link_label.display = link is not None
        link_label.update(LINK_MARKS.get(link or "", link or ""))
        for state in LINK_MARKS:
            link_label.set_class(link == state, f"-{state}")
        text = f"{steps} step{'s' if steps != 1 else ''}"
        if broken:
            text += f" · {broken} broken"
        steps_label = self.query_one("#header-steps", Label)
        steps_label.update(text)
        steps_label.set_class(bool(broken), "-broken")
        errors_label = self.query_one("#header-errors", Label)
        errors_text = f"{errors} error{'s' if errors != 1 else ''}" if errors else "no errors"
        errors_label.update(errors_text)
        errors_label.set_class(bool(errors), "-errors")
        store_label = self.query_one("#header-store", Label)
        store_label.update(f"store failing: {store_problem}" if store_problem else "")
        store_label.display = store_problem is not None


MAIN_WIDGETS: dict[str, tuple[str, ...]] = {
    "flows": ("#flows-canvas",),
    "endpoints": ("#endpoints-routes",),
    "traces": ("#waterfall", "#traces-list"),
    "logs": ("#logs-view",),
    "state": ("#state-tree", "Tree"),
    "streams": ("#streams-tree", "Tree"),
    "dead_letters": ("#dead-letters-table",),
}
"""Where the focus goes when a pane is shown: the first of these on screen (Traces: the
waterfall while a trace is open). A pane not listed gets its first focusable widget."""


class WorkbenchApp(FrameMarkingApp[int]):
    """The terminal workbench over one `EngineSource`."""

    CSS_PATH = ["workbench.tcss", "panes/panes.tcss"]
    TITLE = "motia"
    COMMANDS = App.COMMANDS | {EngineCommands}
    AUTO_FOCUS = None
    """The workbench focuses each pane's main widget itself (`main_widget`); Textual's own
    choice, the first focusable widget, is the Flows side panel."""
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(f"{n},f{n}", f"show_tab('{tab}')", title, show=False, id=f"tab-{tab}")
            for n, (tab, title, _cls) in enumerate(PANES, start=1)
        ),
        Binding("exclamation_mark", "errors", "Errors", id="errors"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("colon,ctrl+p", "command_palette", "Commands", show=False, id="palette"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("escape", "leave_input", "Leave", show=False, id="leave-input"),
    ]

    def __init__(
        self,
        source: EngineSource,
        *,
        color: str = "auto",
        mouse: bool = True,
        slow_link: bool = False,
        terminal: TerminalPorts | None = None,
        recorder: CastRecorder | None = None,
    ) -> None:
        super().__init__(driver_class=WorkbenchDriver)
        self.source = source
        self.terminal = terminal
        """Where the driver reads and draws; `None` is this process's own terminal."""
        self.recorder = recorder
        """Gets every byte the terminal is sent, a marker at each pane switch, each resize."""
        self.use_mouse = mouse
        self.slow_link = slow_link
        self.fps = SLOW_LINK_FPS if slow_link else FPS
        self.animation_level = "none"
        """No sliding tab underline or smooth scrolling: each animation is a burst of frames
        drawn on the loop the server shares (a tab switch cost 70 ms of them)."""
        if color != "auto":
            self.console = Console(
                color_system=COLOR_SYSTEMS[color],
                file=self.console.file,
                markup=True,
                highlight=False,
                emoji=False,
                legacy_windows=False,
                force_terminal=True,
                safe_box=False,
                soft_wrap=False,
            )
        self._color = color
        self.panes: dict[str, Widget] = {}
        self._backlogs = {tab: Backlog() for tab, _title, _cls in PANES}
        self.ready = asyncio.Event()
        """Set once the source runs and every pane has loaded (tests and benchmarks wait on
        it)."""
        self._feed: EventFeed | None = None
        self._timer: Timer | None = None
        self._last_tick = 0.0
        self._steps = 0
        self._broken = 0
        self._errors = 0
        self._store_problem: str | None = None
        self._failures = FailureDigest()
        self._toast_timer: Timer | None = None
        self._last_toast = 0.0
        self._quitting = False
        self.key_order = KeyOrder(self, super().on_event)
        self._header = WorkbenchHeader(id="header")
        self.keymap: dict[str, str] = {}
        """The `[keys]` table in effect (binding id to keys)."""

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self._header
        with TabbedContent(id="tabs", initial=PANES[0][0]):
            for n, (tab, title, cls) in enumerate(PANES, start=1):
                with TabPane(f"{n} {title}", id=tab):
                    pane = cls(self.source)
                    self.panes[tab] = pane
                    yield pane
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        if self._color == "16":
            self.theme = "ansi-dark"
        self._feed = self.source.subscribe()
        self._focus_pane(PANES[0][0])
        self._start()

    @work(exclusive=True, group="source")
    async def _start(self) -> None:
        try:
            await self.source.start()
        except Exception as exc:
            self.exit(return_code=1, message=f"motia: could not start: {exc}")
            return
        assert self._feed is not None
        startup = self._feed.drain()
        self._feed.take_dropped()
        await self._reload_panes()
        self._account(startup, starting=True)
        self._last_tick = asyncio.get_running_loop().time()
        self._timer = self.set_timer(1 / self.fps, self._tick, name="coalesce")
        if self.keymap:
            # After a refresh: every pane's widgets are mounted by then.
            self.call_after_refresh(self._warn_of_clashes)
        self.call_after_refresh(self._opened)

    def _opened(self) -> None:
        """Loaded and drawn: the shown pane's main widget takes the focus (a pane that
        hides a widget while it loads moves Textual's focus elsewhere), unless keys typed
        meanwhile put it in a text input."""
        tab = self.query_one("#tabs", TabbedContent).active
        if self.focused is None or not types_text(self.focused):
            self._focus_pane(tab)
        self.ready.set()

    async def _reload_panes(self) -> None:
        await asyncio.gather(*(self._pane(tab).reload() for tab in self.panes))
        await self._count_steps()

    def _pane(self, tab: str) -> Pane:
        return cast(Pane, self.panes[tab])

    def _pane_as(self, tab: str, kind: type[PaneT]) -> PaneT:
        """The pane of `tab`, for a call only that kind of pane offers."""
        pane = self.panes[tab]
        if not isinstance(pane, kind):
            raise TypeError(f"the {tab} tab holds a {type(pane).__name__}, not a {kind.__name__}")
        return pane

    # -- the coalescing tick ---------------------------------------------------------------

    def _tick(self) -> None:
        feed = self._feed
        if feed is None or self._quitting:
            return
        dropped = feed.take_dropped()
        events = feed.drain()
        now = asyncio.get_running_loop().time()
        rate = len(events) / max(now - self._last_tick, 1 / self.fps)
        self._last_tick = now
        self._timer = self.set_timer(self._next_frame(rate), self._tick, name="coalesce")
        self._show_header()
        if dropped:
            self._pane_as("logs", LogsPane).refill(events)
            self._reload_after_drop()
            return
        if not events:
            return
        shown = self.query_one("#tabs", TabbedContent).active
        self._catch_up(shown)
        for tab in self.panes:
            if tab == shown or tab in ALWAYS_FED:
                self._pane(tab).apply_events(events)
            else:
                self._backlogs[tab].hold(events)
        self._account(events)

    def _next_frame(self, rate: float) -> float:
        """Seconds to the next tick: 1/fps, longer while events arrive very fast."""
        if rate <= BUSY_EVENTS_PER_S:
            return 1 / self.fps
        return 1 / max(MIN_FPS, self.fps * BUSY_EVENTS_PER_S / rate)

    @work(exclusive=True, group="reload")
    async def _reload_after_drop(self) -> None:
        """The feed lost events: the shown pane reloads now, the others when shown."""
        assert self._feed is not None
        self._pane("logs").apply_events(self._feed.drain())  # after what it refills
        shown = self.query_one("#tabs", TabbedContent).active
        for tab, backlog in self._backlogs.items():
            if tab == shown or tab in ALWAYS_FED:
                backlog.clear()
            else:
                backlog.overflow()
        if shown not in ALWAYS_FED:
            await self._pane(shown).reload()
        await self._count_steps()

    def _show(self, tab: str) -> None:
        """Switch tabs with the pane already caught up, for callers that use it at once."""
        self.query_one("#tabs", TabbedContent).active = tab
        self._catch_up(tab)

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_shown(self, message: TabbedContent.TabActivated) -> None:
        tab = message.pane.id
        if tab is None:
            return
        if self.recorder is not None:
            self.recorder.marker(next(title for t, title, _cls in PANES if t == tab))
        # Toasts move off the log's tail. The class goes on the rack, not the screen: a class
        # on the screen restyles every widget in the workbench, a third of a tab switch.
        for rack in toast_racks(self.screen):
            rack.set_class(tab == "logs", "-logs-shown")
        self._catch_up(tab)

    def on_resize(self, event: events.Resize) -> None:
        if self.recorder is not None:
            self.recorder.resize(event.size.width, event.size.height)

    def _catch_up(self, tab: str) -> None:
        """Hand a pane what it missed while hidden: at once when its tab is shown, and at
        the next tick at the latest (before that tick's batch, so order holds)."""
        held = self._backlogs[tab].release()
        if held is None:
            self._reload_pane(tab)
        elif held:
            self._pane(tab).apply_events(held)

    @work(group="reload")
    async def _reload_pane(self, tab: str) -> None:
        await self._pane(tab).reload()

    def _account(self, events: list[WireEvent], *, starting: bool = False) -> None:
        """Header counters and notifications for a batch."""
        steps_changed = False
        for event in events:
            if event["type"] == ev.LOG:
                if event["data"].get("level") == "error":
                    self._errors += 1
            elif event["type"] == ev.STEP_FAILED:
                failed = event["data"]
                steps_changed = True
                self.notify(
                    f"{failed.get('file')}:{failed.get('line')}: {failed.get('message')}\n"
                    "Press ! to see the errors.",
                    title="A step failed to load",
                    severity="error",
                    timeout=8,
                )
            elif event["type"] == ev.SPAN_END:
                span = event["data"]
                if span.get("status") != "error":
                    continue
                error = span.get("error") or {}
                message = error.get("message") if isinstance(error, dict) else str(error)
                self._failures.add(str(span.get("step")), str(message))
            elif event["type"] == ev.STEP_LOADED or event["type"] == ev.STEP_REMOVED:
                steps_changed = True
                if not starting:
                    self._notify_reload(event)
            elif event["type"] == ev.SERVER_STARTED:
                self._show_header()
            elif event["type"] == ev.QUEUE_WARNING:
                self.notify(
                    queue_warning_text(event["data"]),
                    title="A queue is running away",
                    severity="warning",
                    timeout=10,
                )
            elif event["type"] == ev.STORE_HEALTH:
                health = event["data"]
                failing = health["status"] != "ok"
                self._store_problem = (health["error"] or "commit failed") if failing else None
        self._toast_failures()
        if steps_changed:
            self._recount()
        else:
            self._show_header()

    def _notify_reload(self, event: StepLoadedEvent | StepRemovedEvent) -> None:
        if event["type"] == ev.STEP_LOADED:
            loaded = event["data"]
            stream = loaded.get("stream")
            what = loaded.get("name") or (stream.get("name") if stream else None)
            self.notify(f"reloaded {what}", timeout=2)
        else:
            removed = event["data"]
            self.notify(f"removed {removed.get('name') or removed.get('stream')}", timeout=2)

    def _toast_failures(self) -> None:
        """At most one failure toast an interval; what comes between waits for the next one
        (a timer, so a burst that then stops is still reported)."""
        now = asyncio.get_running_loop().time()
        if not self._failures:
            return
        wait = self._last_toast + TOAST_INTERVAL_S - now
        if wait > 0:
            if self._toast_timer is None:
                self._toast_timer = self.set_timer(wait, self._toast_due, name="toast")
            return
        self._last_toast = now
        self.notify(
            f"{self._failures.take()}\nPress ! to see the errors.",
            title="A handler failed",
            severity="error",
            timeout=TOAST_INTERVAL_S,
        )

    def _toast_due(self) -> None:
        self._toast_timer = None
        self._toast_failures()

    @work(exclusive=True, group="steps")
    async def _recount(self) -> None:
        await self._count_steps()

    async def _count_steps(self) -> None:
        answer = await self.source.steps()
        self._steps = len(answer.get("steps", []))
        self._broken = len(answer.get("errors", []))
        self._show_header()

    def _show_header(self) -> None:
        link: str | None = getattr(self.source, "link", None)
        self._header.show(
            self.source.label, link, self._steps, self._broken, self._errors,
            self._store_problem,
        )

    # -- actions ---------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self._show(tab)
        self._focus_pane(tab)

    def _focus_pane(self, tab: str) -> None:
        """Focus the pane's main widget now, not at a later turn of the queue: the next key
        read must find it focused."""
        target = self.main_widget(tab)
        if target is not None:
            self.screen.set_focus(target)

    def main_widget(self, tab: str) -> Widget | None:
        pane = self.panes[tab]
        for selector in MAIN_WIDGETS.get(tab, ()):
            for widget in pane.query(selector):
                if widget.focusable and _displayed_within(widget, pane):
                    return widget
        if tab in MAIN_WIDGETS:
            return None
        return next(
            (w for w in pane.query("*") if w.focusable and _displayed_within(w, pane)), None
        )

    # -- keys ------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """Keys from the terminal go through `key_order`, one at a time."""
        if not isinstance(event, events.Key):
            await super().on_event(event)
        elif not event.is_forwarded:
            await self.key_order.key_read(event)
        else:
            try:
                await super().on_event(event)
            finally:
                self.key_order.key_done_at_app(event)

    def action_leave_input(self) -> None:
        """Esc that nothing nearer took: back to the shown pane's main widget."""
        tab = self.query_one("#tabs", TabbedContent).active
        if tab in self.panes and self.focused is not self.main_widget(tab):
            self._focus_pane(tab)

    def _warn_of_clashes(self) -> None:
        """A `[keys]` table that gives one key to two bindings where both apply: say which,
        once, at start (the one nearer the focus runs)."""
        clashes = collisions(self, list(self.panes.values()), self.keymap)
        if clashes:
            self.notify(
                "[keys] in motia.toml gives one key to two bindings: " + "; ".join(clashes),
                title="Keys clash",
                severity="warning",
                timeout=15,
            )

    def filter_traces(self, text: str) -> None:
        self._show("traces")
        self._pane_as("traces", TracesPane).set_filter(text)
        self._focus_pane("traces")

    def action_errors(self) -> None:
        self.action_show_tab("logs")
        self._pane_as("logs", LogsPane).set_filter("level:error")
        self._focus_pane("logs")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_entries()))

    def key_entries(self) -> list[KeyEntry]:
        """Every binding: the app's, then each pane's in tab order (a widget used twice in a
        pane lists its keys once)."""
        entries = list(collect("Everywhere", [self], self.keymap))
        for tab, title, _cls in PANES:
            pane = self.panes[tab]
            entries.extend(collect(title, [pane, *pane.walk_children()], self.keymap))
        unique: dict[tuple[str, tuple[str, ...], str], KeyEntry] = {}
        for entry in entries:
            unique.setdefault((entry.section, entry.keys, entry.description), entry)
        return list(unique.values())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands but its Quit (the workbench's stops the server first and
        is listed with the keys), then every key's action."""
        yield from (c for c in super().get_system_commands(screen) if c.title != "Quit")
        titles = {tab: title for tab, title, _cls in PANES}
        for entry in self.key_entries():
            if entry.action == "command_palette":
                continue
            if entry.node is self:
                title = entry.description
            else:
                tab = next(t for t, pane in self.panes.items() if _within(entry.node, pane))
                title = f"{titles[tab]}: {entry.description}"
            yield SystemCommand(
                title, f"key {', '.join(entry.keys)}", partial(self._run_entry, entry)
            )

    async def _run_entry(self, entry: KeyEntry) -> None:
        node = entry.node
        if node is not self:
            tab = next(t for t, pane in self.panes.items() if _within(node, pane))
            self._show(tab)
            if isinstance(node, Widget) and node.focusable:
                node.focus()
        await self.run_action(entry.action, node)

    async def action_quit(self) -> None:
        """Stop the server cleanly, then leave with status 0."""
        if self._quitting:
            return
        self._quitting = True
        if self._timer is not None:
            self._timer.stop()
        if self._feed is not None:
            self._feed.close()
        await self.source.stop()
        self.exit(return_code=0)

    # -- routing between panes -------------------------------------------------------------

    @on(messages.OpenTrace)
    def _open_trace(self, message: messages.OpenTrace) -> None:
        self._show("traces")
        self._pane_as("traces", TracesPane).open_trace(message.trace_id, message.span_id)

    @on(messages.OpenLogs)
    def _open_logs(self, message: messages.OpenLogs) -> None:
        self._show("logs")
        self._pane_as("logs", LogsPane).set_filter(message.filter_text)
        self._focus_pane("logs")

    @on(messages.OpenEndpoint)
    def _open_endpoint(self, message: messages.OpenEndpoint) -> None:
        self._show("endpoints")
        self._pane_as("endpoints", EndpointsPane).open_endpoint(message.step)

    # -- output ----------------------------------------------------------------------------

    def frame(self) -> contextlib.AbstractContextManager[None]:
        """Mark screen updates so the writer may drop them when the terminal falls behind."""
        driver = driver_of(self)
        if isinstance(driver, WorkbenchDriver):
            return driver.frame()
        return contextlib.nullcontext()


def _displayed_within(widget: Widget, pane: Widget) -> bool:
    """Shown unless the pane itself is hidden: no container between them has display off."""
    node: DOMNode | None = widget
    while node is not None and node is not pane:
        if isinstance(node, Widget) and not node.display:
            return False
        node = node.parent
    return True


def _within(node: DOMNode, ancestor: DOMNode) -> bool:
    current: DOMNode | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False


def make_workbench(
    source: EngineSource,
    *,
    color: str = "auto",
    mouse: bool = True,
    slow_link: bool = False,
    terminal: TerminalPorts | None = None,
    recorder: CastRecorder | None = None,
    keymap: Mapping[str, str] | None = None,
) -> WorkbenchApp:
    """The one way the workbench is built, by the command line, demos and tests alike.
    `keymap` is a checked `[keys]` table (`motia_tui.keymap`)."""
    if color not in ("auto", *COLOR_SYSTEMS):
        raise ValueError(f"--color must be auto, truecolor, 256 or 16, not {color!r}")
    from motia_tui.replay import ReplaySource

    app: WorkbenchApp
    if isinstance(source, ReplaySource):
        from motia_tui.replay_app import ReplayWorkbench

        app = ReplayWorkbench(source, color=color, mouse=mouse, slow_link=slow_link,
                              terminal=terminal, recorder=recorder)
    else:
        app = WorkbenchApp(source, color=color, mouse=mouse, slow_link=slow_link,
                           terminal=terminal, recorder=recorder)
    if keymap:
        app.keymap = dict(keymap)
        app.set_keymap(app.keymap)
    return app


def run_tui(
    source: EngineSource,
    *,
    color: str = "auto",
    mouse: bool = True,
    slow_link: bool = False,
    record: str | None = None,
    title: str = "motia tui",
    keys_from: Path | None = None,
) -> int:
    """Run the workbench in this terminal, recording it to `record` (an asciicast titled
    `title`) if given; the process exit status. The `[keys]` table comes from
    `keys_from/motia.toml` (the project folder; the current one when attaching)."""
    try:
        keymap = load_keymap(keys_from or Path.cwd())
    except KeymapError as exc:
        print(f"motia: {exc}", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(NO_TTY, file=sys.stderr)
        return 2
    recorder = None
    if record is not None:
        try:
            recorder = CastRecorder(record, title=title)
        except RecordingError as exc:
            print(f"motia: {exc}", file=sys.stderr)
            return 2
    app = make_workbench(source, color=color, mouse=mouse, slow_link=slow_link,
                         recorder=recorder, keymap=keymap)
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(_run(app))
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_run(app))
    finally:
        if recorder is not None:
            recorder.close()
            if recorder.error is not None:
                print(f"motia: the recording {record} stopped early: {recorder.error.strerror}",
                      file=sys.stderr)


async def _run(app: WorkbenchApp) -> int:
    tune = asyncio.ensure_future(_tune_process(app))
    try:
        await app.run_async(mouse=app.use_mouse)
    finally:
        tune.cancel()
        await app.source.stop()
    return app.return_code or 0


async def _tune_process(app: WorkbenchApp) -> None:
    """Once everything is loaded, keep the collector off the startup objects (Textual, the
    engine and the steps: a few hundred thousand, whose every walk cost the server sharing
    the loop a fifth of its time under load) and shorten the GIL's switch interval (see
    `engine.tuning`)."""
    await app.ready.wait()
    tuning.tune_process()
