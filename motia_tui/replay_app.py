"""The workbench on a tape: every pane as it is, plus a time cursor in the header.

The replay keys use modifiers no pane uses (the key plan), with priority, so they move the
cursor whichever pane or field has the focus; each has an id (for `[keys]` remapping) and a
description (for `?` and the command palette). The panes need no change: a move forward feeds
them the events passed, any other move makes them reload from the `ReplaySource`, which
answers as the project was at the cursor.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import Label

from motia_tui import messages
from motia_tui.app import WorkbenchApp
from motia_tui.header import WorkbenchHeader
from motia_tui.panes.traces import TraceList
from motia_tui.replay import ReplaySource, describe


class ReplayWorkbench(WorkbenchApp):
    """`motia replay`: read-only, with the cursor's keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+left", "replay_step(-1)", "Previous event", show=False, priority=True,
                id="replay-previous-event"),
        Binding("ctrl+right", "replay_step(1)", "Next event", show=False, priority=True,
                id="replay-next-event"),
        Binding("shift+left", "replay_skip(-1)", "Back one second", show=False, priority=True,
                id="replay-back-second"),
        Binding("shift+right", "replay_skip(1)", "Forward one second", show=False,
                priority=True, id="replay-forward-second"),
        Binding("ctrl+space,ctrl+@", "replay_play", "Play/pause", priority=True,
                id="replay-play"),
        Binding("ctrl+up", "replay_faster", "Faster", show=False, priority=True,
                id="replay-faster"),
        Binding("ctrl+down", "replay_slower", "Slower", show=False, priority=True,
                id="replay-slower"),
        Binding("ctrl+home", "replay_start", "To the start", show=False, priority=True,
                id="replay-start"),
        Binding("ctrl+end", "replay_end", "To the end", show=False, priority=True,
                id="replay-end"),
    ]

    def __init__(self, source: ReplaySource, **options: Any) -> None:
        super().__init__(source, **options)
        self.replay = source

    def on_mount(self) -> None:
        header = self.query_one(WorkbenchHeader)
        header.mount(Label(describe(self.replay), id="header-cursor"), before="#header-steps")
        self.replay.on_move = self._show_cursor

    def _show_cursor(self) -> None:
        self.query_one("#header-cursor", Label).update(describe(self.replay))

    def action_replay_step(self, events: int) -> None:
        self.replay.step(events)

    def action_replay_skip(self, seconds: int) -> None:
        self.replay.skip(seconds)

    def action_replay_play(self) -> None:
        self.replay.toggle_play()

    def action_replay_faster(self) -> None:
        self.replay.faster()

    def action_replay_slower(self) -> None:
        self.replay.slower()

    def action_replay_start(self) -> None:
        self.replay.to_start()

    def action_replay_end(self) -> None:
        self.replay.to_end()

    @on(TraceList.Opened)
    @on(messages.OpenTrace)
    def _cursor_to_trace(self, message: TraceList.Opened | messages.OpenTrace) -> None:
        """Opening a trace moves the cursor to where that trace is complete."""
        if self.replay.tape is not None and not self.replay.seek_trace(message.trace_id):
            self.notify(f"trace {message.trace_id[:8]} is not on this tape", severity="warning")
