"""`WorkbenchApp`: the engine, its HTTP server and seven live panes in one event loop.

The app is thin: it starts the source, lets `feed_pump` hand the panes the engine's events
in batches and `notices` keep the header and the toasts, switches panes with the focus on
each one's main widget, reads keys in order (`key_order`) and routes `messages` between
panes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any, ClassVar, Literal, Protocol, TypeVar, cast

from rich.console import Console
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher

from engine.events import WireEvent
from motia_tui import messages
from motia_tui.feed_pump import FPS, SLOW_LINK_FPS, FeedPump
from motia_tui.header import WorkbenchHeader
from motia_tui.help import HelpScreen, KeyBar, KeyEntry, collect, types_text
from motia_tui.key_order import KeyOrder
from motia_tui.keymap import collisions
from motia_tui.notices import Notices
from motia_tui.palette import EngineCommands
from motia_tui.pane_tabs import PaneTabs
from motia_tui.panes.dead_letters import DeadLettersPane
from motia_tui.panes.endpoints import EndpointsPane
from motia_tui.panes.flows import FlowsPane
from motia_tui.panes.logs import LogsPane
from motia_tui.panes.state import StatePane
from motia_tui.panes.streams import StreamsPane
from motia_tui.panes.traces import TracesPane
from motia_tui.panes.workers import WorkersPane
from motia_tui.recording import CastRecorder
from motia_tui.source import EngineSource
from motia_tui.textual_hooks import (
    EagerScreen,
    FrameMarkingApp,
    draw_only_what_shows,
    driver_of,
    keep_containers_painted,
    toast_racks,
)
from motia_tui.writer import TerminalPorts, WorkbenchDriver

PaneT = TypeVar("PaneT", bound=Widget)
COLOR_SYSTEMS: dict[str, Literal["truecolor", "256", "standard"]] = {
    "truecolor": "truecolor",
    "256": "256",
    "16": "standard",
}


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
    ("workers", "Workers", WorkersPane),
)
TAB_LABELS = {"dead_letters": "DLQ"}
"""Shorter tab labels than the panes' titles, so that all eight tabs fit in 80 columns."""
CLUSTER_ONLY = frozenset({"workers"})
"""Panes shown only when the source is a worker of a cluster (`source.cluster()`)."""


MAIN_WIDGETS: dict[str, tuple[str, ...]] = {
    "flows": ("#flows-canvas",),
    "endpoints": ("#endpoints-routes",),
    "traces": ("#waterfall", "#traces-list"),
    "logs": ("#logs-view",),
    "state": ("#state-tree", "Tree"),
    "streams": ("#streams-tree", "Tree"),
    "dead_letters": ("#dead-letters-table",),
    "workers": ("#workers-table",),
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
        keep_containers_painted()
        draw_only_what_shows()
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
        self.ready = asyncio.Event()
        """Set once the source runs and every pane has loaded (tests and benchmarks wait on
        it)."""
        self.quitting = False
        self.key_order = KeyOrder(self, super().on_event)
        self._header = WorkbenchHeader(id="header")
        self._tabs = PaneTabs(
            [(tab, f"{n} {TAB_LABELS.get(tab, title)}")
             for n, (tab, title, _cls) in enumerate(PANES, start=1)],
            PANES[0][0], id="tabs",
        )
        self.notices = Notices(self, self._header)
        self.pump = FeedPump(self, [tab for tab, _title, _cls in PANES], self.fps)
        self.keymap: dict[str, str] = {}
        """The `[keys]` table in effect (binding id to keys)."""
        self.cluster = False
        """Whether the source is a worker of a cluster: then the Workers pane is shown."""

    # -- layout ----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        """A key's frame is drawn once its handling is done, not at the next timer tick."""
        return EagerScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._tabs
        with ContentSwitcher(id="panes", initial=PANES[0][0]):
            for tab, _title, cls in PANES:
                pane = cls(self.source)
                pane.id = tab
                self.panes[tab] = pane
                yield pane
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        if self._color == "16":
            self.theme = "ansi-dark"
        self.pump.subscribe()
        for tab in CLUSTER_ONLY:
            self._tabs.hide(tab)
        self._tab_shown(PANES[0][0])
        self._focus_pane(PANES[0][0])
        self._start()

    @work(exclusive=True, group="source")
    async def _start(self) -> None:
        try:
            await self.source.start()
        except Exception as exc:
            self.exit(return_code=1, message=f"motia: could not start: {exc}")
            return
        startup = self.pump.startup()
        self.cluster = await self.source.cluster() is not None
        if self.cluster:
            for tab in CLUSTER_ONLY:
                self._tabs.show(tab)
        else:
            self.pump.unfed = CLUSTER_ONLY
        await self._reload_panes()
        self.notices.account(startup, starting=True)
        self.pump.start()
        if self.keymap:
            # After a refresh: every pane's widgets are mounted by then.
            self.call_after_refresh(self._warn_of_clashes)
        self.call_after_refresh(self._opened)

    def _opened(self) -> None:
        """Loaded and drawn: the shown pane's main widget takes the focus (a pane that
        hides a widget while it loads moves Textual's focus elsewhere), unless keys typed
        meanwhile put it in a text input."""
        tab = self.shown_tab()
        if self.focused is None or not types_text(self.focused):
            self._focus_pane(tab)
        self.ready.set()

    async def _reload_panes(self) -> None:
        await asyncio.gather(*(self.pane(tab).reload() for tab in self.panes))
        await self.notices.count_steps()

    def shown_tab(self) -> str:
        return self._tabs.active

    def pane(self, tab: str) -> Pane:
        return cast(Pane, self.panes[tab])

    def logs_pane(self) -> LogsPane:
        return self._pane_as("logs", LogsPane)

    def _pane_as(self, tab: str, kind: type[PaneT]) -> PaneT:
        """The pane of `tab`, for a call only that kind of pane offers."""
        pane = self.panes[tab]
        if not isinstance(pane, kind):
            raise TypeError(f"the {tab} tab holds a {type(pane).__name__}, not a {kind.__name__}")
        return pane

    def _show(self, tab: str) -> None:
        """Switch tabs with the pane already caught up, for callers that use it at once."""
        if tab != self._tabs.active:
            self._tabs.active = tab
            self.query_one("#panes", ContentSwitcher).current = tab
            self._tab_shown(tab)
        self.pump.catch_up(tab)

    @on(PaneTabs.Clicked)
    def _tab_clicked(self, message: PaneTabs.Clicked) -> None:
        self.action_show_tab(message.tab)

    def _tab_shown(self, tab: str) -> None:
        """What follows a newly shown tab: the recording's marker, the toasts' side."""
        if self.recorder is not None:
            self.recorder.marker(next(title for t, title, _cls in PANES if t == tab))
        self._place_toasts(tab, hidden_too=False)

    def _place_toasts(self, tab: str, *, hidden_too: bool) -> None:
        """Toasts go off the log's tail on Logs. The class goes on the rack, not the screen
        (a class on the screen restyles every widget in the workbench), and only on a rack
        that shows toasts, or is about to (`notify`): restyling a hidden rack on every tab
        switch cost a millisecond of each key press."""
        for rack in toast_racks(self.screen):
            if hidden_too or rack.display:
                rack.set_class(tab == "logs", "-logs-shown")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        self._place_toasts(self.shown_tab(), hidden_too=True)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_resize(self, event: events.Resize) -> None:
        if self.recorder is not None:
            self.recorder.resize(event.size.width, event.size.height)

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A cluster-only pane's key does nothing without a cluster."""
        if action == "show_tab" and parameters and parameters[0] in CLUSTER_ONLY:
            return self.cluster
        return True

    def action_show_tab(self, tab: str) -> None:
        if tab in CLUSTER_ONLY and not self.cluster:
            return
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

    def key_waiting(self) -> bool:
        """A key from the terminal is unread, being handled, or not yet drawn."""
        driver = driver_of(self)
        delivered = driver.keys_delivered if isinstance(driver, WorkbenchDriver) else 0
        return self.key_order.waiting(delivered)

    def action_leave_input(self) -> None:
        """Esc that nothing nearer took: back to the shown pane's main widget."""
        tab = self.shown_tab()
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
        hidden = set() if self.cluster else CLUSTER_ONLY
        entries = [e for e in collect("Everywhere", [self], self.keymap)
                   if not any(e.action == f"show_tab('{tab}')" for tab in hidden)]
        for tab, title, _cls in PANES:
            if tab in hidden:
                continue
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
        if self.quitting:
            return
        self.quitting = True
        self.pump.stop()
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

    @contextlib.contextmanager
    def frame(self) -> Iterator[None]:
        """Mark screen updates so the writer may drop them when the terminal falls behind;
        a frame drawn shows what the keys handled before it did (`key_order`)."""
        driver = driver_of(self)
        with driver.frame() if isinstance(driver, WorkbenchDriver) else contextlib.nullcontext():
            yield
        self.key_order.frame_drawn()


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
