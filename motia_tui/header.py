"""The workbench's header line: where the server listens, the link to it when attached, the
step count, errors since start, and a mark while the store fails."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from motia_tui.remote_source import CONNECTED, CONNECTING, DISCONNECTED, RECONNECTING

LINK_MARKS = {
    CONNECTING: "◌ connecting",
    CONNECTED: "● connected",
    RECONNECTING: "◌ reconnecting",
    DISCONNECTED: "✗ disconnected",
}
"""The header's mark of an attached workbench's link to its engine."""


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
