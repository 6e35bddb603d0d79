"""The Endpoints pane's lists: routes (with their saved requests under them) and history.

Their single-letter keys act only while the list has the focus, never while typing in the
builder; each one posts what was asked and the pane does it (and the palette lists them).
"""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList


class PickList(OptionList):
    """An option list that also moves with `j` and `k`."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="list-down"),
        Binding("k", "cursor_up", "Up", show=False, id="list-up"),
        Binding("g", "first", "First", show=False, id="list-first"),
        Binding("G", "last", "Last", show=False, id="list-last"),
    ]


class Asked(Message):
    """A list key was pressed: `what` names the action for the pane."""

    def __init__(self, what: str, index: int | None) -> None:
        super().__init__()
        self.what = what
        self.index = index


class RouteList(PickList):
    """Routes, each followed by its saved requests, then "emit an event"."""

    BINDINGS = [
        Binding("s", "ask('save')", "Save", id="endpoints-save"),
        Binding("d", "ask('delete')", "Delete saved", id="endpoints-delete-saved"),
        Binding("c", "ask('curl')", "Copy curl", id="endpoints-copy-curl"),
        Binding("i", "ask('import')", "Import curl", id="endpoints-import-curl"),
        Binding("e", "ask('environment')", "Environment", id="endpoints-next-env"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.saved_ids: set[str] = set()
        """Option ids of saved requests (the only entries `d` applies to)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "ask" and parameters == ("delete",):
            option = self.highlighted_option
            return option is not None and option.id in self.saved_ids
        return True

    def action_ask(self, what: str) -> None:
        self.post_message(Asked(what, self.highlighted))


class HistoryList(PickList):
    """Sent requests, newest first; Enter reopens one, `r` sends it again."""

    BINDINGS = [
        Binding("r", "ask('resend')", "Re-send", id="endpoints-resend"),
        Binding("c", "ask('history-curl')", "Copy curl", id="endpoints-history-curl"),
    ]

    def on_focus(self) -> None:
        """Arriving on the list puts the cursor on the newest entry, so `r` always has one."""
        if self.highlighted is None and self.option_count:
            self.highlighted = 0

    def action_ask(self, what: str) -> None:
        if self.highlighted is not None:
            self.post_message(Asked(what, self.highlighted))
