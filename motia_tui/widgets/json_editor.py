"""A JSON editor: a highlighted text area that says, as you type, whether its text is JSON.

Every place that sends JSON to the engine (request bodies, emitted events, state values) uses
it, so a typo is visible before anything is sent and the error names the line and column.
"""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from motia_tui.request_env import placeholders_as_json
from motia_tui.widgets.highlight import HighlightedTextArea


class JsonInvalid(ValueError):
    """The editor's text is not JSON; the message says where."""


def describe_error(text: str) -> str | None:
    """None when `text` is JSON, else a short reason with its line and column."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    return None


def pretty(value: Any) -> str:
    """How values are shown for editing: two-space indent, non-ASCII kept readable."""
    return json.dumps(value, indent=2, ensure_ascii=False)


class JsonEditor(Vertical):
    """`HighlightedTextArea` plus a one-line verdict under it."""

    DEFAULT_CSS = """
    JsonEditor {
        height: auto;
    }
    JsonEditor > HighlightedTextArea {
        height: auto;
        min-height: 3;
        max-height: 16;
    }
    JsonEditor > .json-editor--verdict {
        height: 1;
        color: $text-muted;
    }
    JsonEditor > .json-editor--verdict.-invalid {
        color: $text-error;
    }
    """

    class Changed(Message):
        """The text changed; `error` is None when it is valid."""

        def __init__(self, editor: JsonEditor, error: str | None) -> None:
            super().__init__()
            self.editor = editor
            self.error = error

        @property
        def control(self) -> JsonEditor:
            return self.editor

    def __init__(
        self,
        text: str = "",
        *,
        allow_empty: bool = False,
        placeholders: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.allow_empty = allow_empty
        self.placeholders = placeholders
        """Whether a `{{name}}` variable reads as a value (the request body, which an
        environment fills before it is sent)."""
        self.text_area = HighlightedTextArea(
            text,
            highlight_language="json",
            soft_wrap=False,
            tab_behavior="focus",  # Tab leaves the editor: every field stays keyboard-reachable
            show_line_numbers=False,
        )
        self.text_area.indent_width = 2
        self._verdict = Static("", markup=False, classes="json-editor--verdict")

    def compose(self) -> ComposeResult:
        yield self.text_area
        yield self._verdict

    def on_mount(self) -> None:
        self._show_verdict()

    @property
    def text(self) -> str:
        return self.text_area.text

    @text.setter
    def text(self, text: str) -> None:
        self.text_area.load_text(text)
        self._show_verdict()

    @property
    def error(self) -> str | None:
        """Why the text is not acceptable, or None."""
        if not self.text.strip():
            return None if self.allow_empty else "empty: type a JSON value (null, {}, 1, ...)"
        return describe_error(placeholders_as_json(self.text) if self.placeholders else self.text)

    def value(self) -> Any:
        """The parsed text (None when empty and allowed); JsonInvalid otherwise."""
        error = self.error
        if error is not None:
            raise JsonInvalid(error)
        return json.loads(self.text) if self.text.strip() else None

    def focus(self, scroll_visible: bool = True) -> JsonEditor:
        self.text_area.focus(scroll_visible)
        return self

    def on_text_area_changed(self, event: HighlightedTextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, self._show_verdict()))

    def _show_verdict(self) -> str | None:
        error = self.error
        if error is None:
            self._verdict.update("✓ JSON" if self.text.strip() else "(empty)")
        else:
            self._verdict.update(f"✗ {error}")
        self._verdict.set_class(error is not None, "-invalid")
        return error
