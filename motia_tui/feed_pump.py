"""The app's one subscription to the engine's event feed, drained on a coalescing tick.

On a tick (15 a second, fewer when the engine is very busy) the shown pane gets the batch
that arrived since the last one, so no pane ever redraws per event however busy the server
is. Hidden panes get their batches when their tab is shown (`backlog`); after the feed
overflows, panes reload from the engine's stores instead.

A key goes first: while one is on its way (delivered, handled, its frame not yet drawn) the
tick waits, so the key's redraw is not queued behind a batch and the repaint it causes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual.timer import Timer

from engine.events import WireEvent
from motia_tui.backlog import Backlog
from motia_tui.source import EventFeed

if TYPE_CHECKING:
    from motia_tui.app import WorkbenchApp

FPS = 15
SLOW_LINK_FPS = 4
MIN_FPS = 2
BUSY_EVENTS_PER_S = 1_500
"""Above this event rate (some 600 requests a second) the frame rate drops in proportion, to
MIN_FPS from 11,250 events a second: nobody reads a log scrolling at thousands of lines a
second, and the server sharing the loop needs the time (a frame of the Logs pane costs a few
milliseconds). Keys are not held to this rate: they go first (`KEY_FIRST_S`)."""
ALWAYS_FED = frozenset({"logs", "workers"})
"""Panes that take every batch even while hidden: the Logs pane keeps every record, and a
reload could bring back only the newest of a burst; the Workers pane counts the spans each
worker ran, which no reload brings back."""
START_READERS = frozenset({"flows", "traces"})
"""Panes that read `span.start`s (the Flows pane's running counts, the Traces pane's
waterfall); every other pane, and the header, skip them. While neither is shown nor holds a
backlog it can still use (after an overflow it reloads when shown), nobody reads a start,
and the feed need not make any."""
CHUNK = 2_048
"""Events handed out at a time within a tick: each is a dict the collector tracks (it holds
its record), and a busy server's tick brings tens of thousands; a chunk's are freed before
the next is made, so no collection finds a whole tick's of them alive."""
KEY_FIRST_S = 0.005
"""How soon a tick that let a key go first looks again."""
KEY_FIRST_LIMIT_S = 0.25
"""The longest a tick waits for keys: keys typed without end (a held-down `j`) still let
the panes be fed four times a second."""


class FeedPump:
    """Drains the feed on a tick into the shown pane, and holds the rest for later."""

    def __init__(self, app: WorkbenchApp, tabs: list[str], fps: int) -> None:
        self.app = app
        self.fps = fps
        self.backlogs = {tab: Backlog() for tab in tabs}
        self.feed: EventFeed | None = None
        self._timer: Timer | None = None
        self._last_tick = 0.0
        self._waiting_since: float | None = None
        self.unfed: frozenset[str] = frozenset()
        """Panes whose tab this source never shows (the Workers pane off a cluster): they
        are handed nothing."""

    def subscribe(self) -> None:
        self.feed = self.app.source.subscribe()

    def startup(self) -> list[WireEvent]:
        """What arrived while the source started (the panes' reload covers it)."""
        assert self.feed is not None
        events = self.feed.drain()
        self.feed.take_dropped()
        return events

    def start(self) -> None:
        self._last_tick = asyncio.get_running_loop().time()
        self._timer = self.app.set_timer(1 / self.fps, self._tick, name="coalesce")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self.feed is not None:
            self.feed.close()

    def _tick(self) -> None:
        app = self.app
        feed = self.feed
        if feed is None or app.quitting:
            return
        now = asyncio.get_running_loop().time()
        if app.key_waiting():
            if self._waiting_since is None:
                self._waiting_since = now
            if now - self._waiting_since < KEY_FIRST_LIMIT_S:
                self._timer = app.set_timer(KEY_FIRST_S, self._tick, name="coalesce")
                return
        self._waiting_since = None
        dropped = feed.take_dropped()
        rewound = feed.take_rewound()
        starts = self.starts_read(app.shown_tab())
        events = feed.drain(CHUNK, starts)
        arrived = len(events)
        try:
            app.notices.show_header()
            if rewound or dropped:
                # After a rewind what is buffered came before the pane's reload, whose
                # answer holds it; after a loss it follows the gap line.
                logs = app.logs_pane()
                if rewound:
                    logs.restart()
                else:
                    logs.refill(events)
                while len(events) == CHUNK:
                    events = feed.drain(CHUNK, starts)
                    arrived += len(events)
                    if not rewound:
                        logs.apply_events(events)
                app.run_worker(self._reload_after_drop(), exclusive=True, group="reload")
                return
            if not events:
                return
            shown = app.shown_tab()
            self.catch_up(shown)
            while events:
                self._hand_out(events, shown)
                if len(events) < CHUNK:
                    break
                events = feed.drain(CHUNK, starts)
                arrived += len(events)
        finally:
            rate = arrived / max(now - self._last_tick, 1 / self.fps)
            self._last_tick = now
            spent = asyncio.get_running_loop().time() - now
            self._timer = app.set_timer(max(KEY_FIRST_S, self.next_frame(rate) - spent),
                                        self._tick, name="coalesce")

    def _hand_out(self, events: list[WireEvent], shown: str) -> None:
        app = self.app
        unfed = self.unfed
        for tab in app.panes:
            if tab in unfed:
                continue
            if tab == shown or tab in ALWAYS_FED:
                app.pane(tab).apply_events(events)
            else:
                self.backlogs[tab].hold(events)
        app.notices.account(events)

    def starts_read(self, shown: str) -> bool:
        """Whether a pane will read the `span.start`s of a batch handed out with `shown`
        shown (see `START_READERS`)."""
        backlogs = self.backlogs
        return any(tab == shown or (tab in backlogs and not backlogs[tab].overflowed)
                   for tab in START_READERS)

    def next_frame(self, rate: float) -> float:
        """Seconds to the next tick: 1/fps, longer while events arrive very fast."""
        if rate <= BUSY_EVENTS_PER_S:
            return 1 / self.fps
        return 1 / max(MIN_FPS, self.fps * BUSY_EVENTS_PER_S / rate)

    async def _reload_after_drop(self) -> None:
        """The feed lost events: the shown pane reloads now, the others when shown (the
        Logs pane had the events after the loss, and reads the loss back itself)."""
        app = self.app
        shown = app.shown_tab()
        for tab, backlog in self.backlogs.items():
            if tab == shown or tab in ALWAYS_FED:
                backlog.clear()
            else:
                backlog.overflow()
        if shown not in ALWAYS_FED:
            await app.pane(shown).reload()
        await app.notices.count_steps()

    def catch_up(self, tab: str) -> None:
        """Hand a pane what it missed while hidden: at once when its tab is shown, and at
        the next tick at the latest (before that tick's batch, so order holds)."""
        held = self.backlogs[tab].release()
        if held is None:
            self.app.run_worker(self.app.pane(tab).reload(), group="reload")
        elif held:
            self.app.pane(tab).apply_events(held)
