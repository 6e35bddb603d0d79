"""The answer's body with its tools: `/` filters the JSON by a JSONPath and marks every match
in place (the body stays whole, so each match is read in its context), `y` copies the body.

The marks are one more highlight name, `match`, in a text-area theme made from the built-in
`css` one, so the colours of the JSON stay the app theme's.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from rich.style import Style
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.widgets.text_area import Selection, TextAreaTheme

from motia_tui.json_filter import FilterError, find, line_ranges, pretty_with_places
from motia_tui.widgets.highlight import Highlight, HighlightedTextArea

MATCH = "match"
THEME = "motia-response"
MAX_LISTED = 3
"""Matched values written out in the caption; the rest are counted."""


def _theme() -> TextAreaTheme:
    base = TextAreaTheme.get_builtin_theme("css")
    assert base is not None
    styles = {**base.syntax_styles, MATCH: Style(reverse=True, bold=True)}
    return replace(base, name=THEME, syntax_styles=styles)


class ResponseBody(HighlightedTextArea):
    """The body, read-only; its keys act only while it has the focus (never while typing)."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="endpoints-filter"),
        Binding("y", "copy_body", "Copy body", id="endpoints-copy-body"),
    ]

    class FilterAsked(Message):
        pass

    class CopyAsked(Message):
        pass

    def __init__(self, **kwargs: Any) -> None:
        self.marks: dict[int, list[Highlight]] = {}
        super().__init__(read_only=True, soft_wrap=True, **kwargs)

    def on_mount(self) -> None:
        self.register_theme(_theme())
        self.theme = THEME

    def highlights(self) -> dict[int, list[Highlight]]:
        found = super().highlights()
        for row, marks in self.marks.items():
            found[row] = [*found.get(row, []), *marks]
        return found

    def action_filter(self) -> None:
        self.post_message(self.FilterAsked())

    def action_copy_body(self) -> None:
        self.post_message(self.CopyAsked())


class ResponseView(Vertical):
    """Filter line, caption and body; `show` takes a new answer's body text."""

    DEFAULT_CSS = """
    ResponseView {
        height: 1fr;
    }
    ResponseView > #endpoints-filter {
        display: none;
    }
    ResponseView.-filtering > #endpoints-filter {
        display: block;
    }
    ResponseView > #endpoints-filter-result {
        height: auto;
        color: $text-muted;
        display: none;
    }
    ResponseView.-filtering > #endpoints-filter-result {
        display: block;
    }
    ResponseView > ResponseBody {
        height: 1fr;
    }
    """

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", id="endpoints-clear-filter")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.body_text = ""
        self.document: Any = None
        self.matches: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Input(compact=True, placeholder="$.items[0].id", id="endpoints-filter")
        yield Static("", markup=False, id="endpoints-filter-result")
        yield ResponseBody(id="endpoints-response-body")

    @property
    def body(self) -> ResponseBody:
        return self.query_one(ResponseBody)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#endpoints-filter", Input)

    def show(self, text: str) -> None:
        """A new answer: JSON is pretty-printed and the filter, if any, applied to it."""
        self.body_text = text
        try:
            self.document = json.loads(text)
        except ValueError:
            self.document = None
        body = self.body
        if self.document is not None:
            pretty, _places = pretty_with_places(self.document)
            body.highlight_language = "json"
            body.load_text(pretty)
        else:
            body.highlight_language = None
            body.load_text(text)
        self._apply(self.filter_input.value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.has_class("-filtering")
        return True

    @on(ResponseBody.FilterAsked)
    def _open_filter(self) -> None:
        self.add_class("-filtering")
        self.filter_input.focus()

    @on(Input.Changed, "#endpoints-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply(event.value)

    @on(Input.Submitted, "#endpoints-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.body.focus()

    def action_clear_filter(self) -> None:
        self.filter_input.value = ""
        self.remove_class("-filtering")
        self._apply("")
        self.body.focus()

    def _apply(self, expression: str) -> None:
        result = self.query_one("#endpoints-filter-result", Static)
        body = self.body
        self.matches = []
        body.marks = {}
        first: tuple[int, int] | None = None
        expression = expression.strip()
        if expression and self.document is None:
            result.update("the body is not JSON: nothing to filter")
        elif expression:
            try:
                self.matches = find(self.document, expression)
            except FilterError as exc:
                result.update(str(exc))
            else:
                result.update(_caption(self.matches))
                first = self._mark()
        else:
            result.update("")
        body.load_text(body.text)  # rebuilds the highlight map with the marks
        if first is not None:
            body.selection = Selection.cursor(first)
            body.scroll_cursor_visible(center=True)

    def _mark(self) -> tuple[int, int] | None:
        """Marks every match; answers where the first one starts."""
        body = self.body
        text, places = pretty_with_places(self.document)
        marks: dict[int, list[Highlight]] = {}
        first: tuple[int, int] | None = None
        for match in self.matches:
            place = places.get(match.key) if match.key is not None else None
            if place is None:
                continue
            for row, start, end in line_ranges(text, *place):
                marks.setdefault(row, []).append((start, end, MATCH))
                if first is None:
                    first = (row, 0)
        body.marks = marks
        return first


def _caption(matches: list[Any]) -> str:
    if not matches:
        return "no match"
    shown = ", ".join(
        f"{m.path} = {json.dumps(m.value, ensure_ascii=False)[:40]}" for m in matches[:MAX_LISTED]
    )
    more = f" and {len(matches) - MAX_LISTED} more" if len(matches) > MAX_LISTED else ""
    count = "1 match" if len(matches) == 1 else f"{len(matches)} matches"
    return f"{count}: {shown}{more}"

