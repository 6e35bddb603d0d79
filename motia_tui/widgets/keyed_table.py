"""A row-cursor table whose rows are keyed by the id of what they show, so a pane asks for the
selected item by id instead of by position (rows move as the data refreshes)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


def row_keys(prefix: str) -> list[Binding]:
    """`j`/`k`/`g`/`G` with ids under `prefix`, so each table's keys remap on their own."""
    return [
        Binding("j", "cursor_down", "Down", show=False, id=f"{prefix}-down"),
        Binding("k", "cursor_up", "Up", show=False, id=f"{prefix}-up"),
        Binding("g", "scroll_top", "First", show=False, id=f"{prefix}-first"),
        Binding("G", "scroll_bottom", "Last", show=False, id=f"{prefix}-last"),
    ]


class KeyedTable(DataTable[str]):
    """`g`/`G` go to the first and last row; `selected_key` is the row under the cursor."""

    def action_scroll_top(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value
