"""Events held for a pane whose tab is not shown.

Each request brings about three engine events, and a pane files every one of them away
(trace summaries, flow counters, log records) on the loop the server shares. A pane nobody
is looking at would do that work for nothing, so the app holds its events here and hands
them over the moment its tab is shown. Past a bound it holds none and the pane reloads from
the engine's stores instead, as after a feed overflow: one query costs less than replaying a
flood, and memory stays bounded however long the tab stays hidden.
"""

from __future__ import annotations

from engine.events import WireEvent

BACKLOG_LIMIT = 30_000
"""Events held per hidden pane: ten seconds at a thousand requests a second."""


class Backlog:
    """One hidden pane's missed events, or the fact that it missed too many."""

    __slots__ = ("events", "limit", "overflowed")

    def __init__(self, limit: int = BACKLOG_LIMIT) -> None:
        self.limit = limit
        self.events: list[WireEvent] = []
        self.overflowed = False

    def hold(self, events: list[WireEvent]) -> None:
        if self.overflowed:
            return
        if len(self.events) + len(events) > self.limit:
            self.overflow()
            return
        self.events.extend(events)

    def overflow(self) -> None:
        """Hold nothing more: the pane reloads when it is shown."""
        self.events = []
        self.overflowed = True

    def release(self) -> list[WireEvent] | None:
        """The held events, oldest first; None when the pane must reload instead."""
        events, overflowed = self.events, self.overflowed
        self.clear()
        return None if overflowed else events

    def clear(self) -> None:
        """Forget everything (a reload of the pane supersedes it)."""
        self.events = []
        self.overflowed = False
