"""A row-cursor table whose rows are keyed by the id of what they show, so a pane asks for the
selected item by id instead of by position (rows move as the data refreshes)."""

from __future__ import annotations

from textual.widgets import DataTable


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
