"""A line-API view for lists that grow on every tick: the Logs and Traces panes build on it.

A subclass says how many lines it has and how to draw one; the view draws only the lines on
screen and lays the cursor's style over the cursor's line while it has focus.

Three costs dominate a live list redrawn 15 times a second while the server is busy, and
all are avoided here. Setting `virtual_size` asks Textual for a layout pass over the whole
screen; when only the number of lines changed, the scrollbars are updated in place instead
(the vertical scrollbar is always shown, so its width never changes the layout), and the bar
repaints only when its thumb moves (`ThumbScrollBar`). And styles are resolved once per
theme change rather than once per line.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip

from motia_tui.textual_hooks import ThumbScrollView, styled_by_focus, update_scrollbars


class LineView(ThumbScrollView):
    """A `ScrollView` with cached styles and a layout-free line count."""

    DEFAULT_CSS = """
    LineView {
        overflow-x: hidden;
        overflow-y: scroll;
    }
    """
    CURSOR_COMPONENT: ClassVar[str] = ""
    """The component class laid over the cursor's line."""

    cursor: reactive[int] = reactive(0, always_update=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._base: Style | None = None
        self._combined: dict[str, Style] = {}
        self._components: dict[str, Style] = {}

    @property
    def base_style(self) -> Style:
        """The widget's own style (colour and background), resolved once per theme."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def component(self, name: str) -> Style:
        """A component class's style on its own (to lay over a finished strip)."""
        style = self._components.get(name)
        if style is None:
            style = self._components[name] = self.get_component_rich_style(name)
        return style

    def style_of(self, name: str) -> Style:
        """A component class's style over the widget's own; `""` is the widget's own."""
        style = self._combined.get(name)
        if style is None:
            style = self.base_style + self.component(name) if name else self.base_style
            self._combined[name] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._combined.clear()
        self._components.clear()

    def watch_has_focus(self, has_focus: bool) -> None:
        """Restyle only if a rule depends on focus: the view shows focus through its cursor
        line (`render_line`), and restyling its component classes on each pane switch cost
        the switch a few milliseconds for nothing."""
        if styled_by_focus(self):
            super().watch_has_focus(has_focus)

    def line_count(self) -> int:
        raise NotImplementedError

    def line_strip(self, line: int, width: int) -> Strip:
        """One list line, drawn (and cached) by the subclass."""
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line = int(self.scroll_y) + y
        if line >= self.line_count():
            return Strip.blank(width, self.base_style)
        strip = self.line_strip(line, width)
        if line == self.cursor and self.has_focus:
            strip = strip.apply_style(self.component(self.CURSOR_COMPONENT))
        return strip

    def set_line_count(self, count: int) -> None:
        """Change the scrollable height without a layout pass over the screen."""
        size = Size(self.size.width, count)
        if size == self.virtual_size:
            return
        self.set_reactive(ThumbScrollView.virtual_size, size)
        if self.is_mounted and self.size:
            update_scrollbars(self, size)
            self.refresh()
