"""A modal for editing one state value (or adding a key): JSON validated before it leaves.

Saving text that is not JSON keeps the modal open with the reason, so nothing half-typed
ever reaches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from motia_tui.widgets.json_editor import JsonEditor, JsonInvalid, pretty


@dataclass(frozen=True)
class ValueEdit:
    group: str
    key: str
    value: Any


class ValueEditorScreen(ModalScreen[ValueEdit | None]):
    """Edit `value`; with `new_key=True` the group and key are typed in too."""

    DEFAULT_CSS = """
    ValueEditorScreen {
        align: center middle;
    }
    ValueEditorScreen > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    ValueEditorScreen .value-editor--title {
        text-style: bold;
        margin-bottom: 1;
    }
    ValueEditorScreen Horizontal {
        height: 1;
        margin-bottom: 1;
    }
    ValueEditorScreen Horizontal Label {
        width: 7;
    }
    ValueEditorScreen .value-editor--problem {
        color: $text-error;
    }
    ValueEditorScreen .value-editor--hint {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("ctrl+s,ctrl+j", "save", "Save", id="value-editor-save"),
        Binding("escape", "cancel", "Cancel", id="value-editor-cancel"),
    ]

    def __init__(
        self, title: str, group: str = "", key: str = "", value: Any = None, *, new_key: bool
    ) -> None:
        super().__init__()
        self.title_text = title
        self.group = group
        self.key = key
        self.value = value
        self.new_key = new_key

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, markup=False, classes="value-editor--title")
            if self.new_key:
                with Horizontal():
                    yield Label("group")
                    yield Input(self.group, compact=True, id="value-editor-group")
                with Horizontal():
                    yield Label("key")
                    yield Input(self.key, compact=True, id="value-editor-key")
            yield JsonEditor(pretty(self.value), id="value-editor-json")
            yield Static("", markup=False, classes="value-editor--problem")
            yield Static("ctrl+s save · esc cancel", classes="value-editor--hint")

    def on_mount(self) -> None:
        if self.new_key and not self.group:
            self.query_one("#value-editor-group", Input).focus()
        elif self.new_key:
            self.query_one("#value-editor-key", Input).focus()
        else:
            self.query_one(JsonEditor).focus()

    def action_save(self) -> None:
        problem = self.query_one(".value-editor--problem", Static)
        group, key = self.group, self.key
        if self.new_key:
            group = self.query_one("#value-editor-group", Input).value.strip()
            key = self.query_one("#value-editor-key", Input).value.strip()
            if not group or not key:
                problem.update("group and key are both needed")
                return
        try:
            value = self.query_one(JsonEditor).value()
        except JsonInvalid as exc:
            problem.update(f"not saved: {exc}")
            return
        self.dismiss(ValueEdit(group, key, value))

    def action_cancel(self) -> None:
        self.dismiss(None)
