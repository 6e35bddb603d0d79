"""The workbench's row of pane tabs: one widget that draws the labels and the bar under the
shown one, as Textual's `Tabs` draws them.

`Tabs` is a dozen widgets (a `Tab` each, three containers, the underline): on every switch
it moved the `-active` class by a CSS query, which restyled both tabs, and laid the row
out again, a few milliseconds of each key press. Here a switch repaints two lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

BAR, HALF_LEFT, HALF_RIGHT = "━", "╺", "╸"
"""The bar under the tabs, as `textual.renderables.bar.Bar` draws it."""


class PaneTabs(Widget):
    """Tab labels on the first line, a bar on the second with the shown tab's part lit.

    A hidden tab (`hide`) takes no room; a click on a tab or under it posts `Clicked`.
    """

    DEFAULT_CSS = """
    PaneTabs {
        width: 1fr;
        height: 2;
        pointer: pointer;
        & > .pane-tabs--tab { color: $foreground 50%; }
        & > .pane-tabs--hover { color: $foreground; }
        & > .pane-tabs--active { color: $foreground; }
        & > .pane-tabs--bar {
            color: $block-cursor-background;
            background: $foreground 10%;
        }
        &:ansi {
            & > .pane-tabs--tab { text-style: dim; }
            & > .pane-tabs--hover { text-style: dim; }
            & > .pane-tabs--active { text-style: bold; }
            & > .pane-tabs--bar { background: $border-blurred; }
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "pane-tabs--tab", "pane-tabs--hover", "pane-tabs--active", "pane-tabs--bar",
    }

    active: reactive[str] = reactive("")
    """The shown tab's id."""

    class Clicked(Message):
        """A tab's label, or the bar under it, was clicked."""

        def __init__(self, tab: str) -> None:
            super().__init__()
            self.tab = tab

    def __init__(self, tabs: Sequence[tuple[str, str]], active: str, *,
                 id: str | None = None) -> None:
        """`tabs`: each tab's id and label, in order."""
        super().__init__(id=id)
        self._labels = dict(tabs)
        self._hidden: set[str] = set()
        self._hover: str | None = None
        self._styles: dict[str, Style] = {}
        self.set_reactive(PaneTabs.active, active)

    def hide(self, tab: str) -> None:
        self._hidden.add(tab)
        self.refresh()

    def show(self, tab: str) -> None:
        self._hidden.discard(tab)
        self.refresh()

    def shown(self) -> list[str]:
        """The tabs on the row, in order."""
        return [tab for tab in self._labels if tab not in self._hidden]

    def spans(self) -> list[tuple[str, int, int]]:
        """Each shown tab and the columns of its label (a cell of padding either side)."""
        found = []
        x = 0
        for tab in self.shown():
            width = len(self._labels[tab])
            found.append((tab, x + 1, x + 1 + width))
            x += width + 2
        return found

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            segments = []
            for tab in self.shown():
                name = ("pane-tabs--active" if tab == self.active else
                        "pane-tabs--hover" if tab == self._hover else "pane-tabs--tab")
                segments.append(Segment(f" {self._labels[tab]} ", self._style(name)))
            return Strip(segments).crop_extend(0, width, base)
        if y == 1:
            return self._bar(width, base)
        return Strip.blank(width, base)

    def _bar(self, width: int, base: Style) -> Strip:
        """The bar as `Bar` draws it with the shown tab's label columns lit."""
        bar = self._style("pane-tabs--bar")
        lit = base + Style.from_color(bar.color)
        unlit = base + Style.from_color(bar.bgcolor)
        span = next(((s, e) for tab, s, e in self.spans() if tab == self.active), None)
        if span is None:
            return Strip([Segment(BAR * width, unlit)], width)
        start, end = min(span[0], width), min(span[1], width)
        segments = [Segment(BAR * max(0, start - 1), unlit)]
        if start > 0:
            segments.append(Segment(HALF_RIGHT, unlit))
        segments.append(Segment(BAR * (end - start), lit))
        if end < width:
            segments.append(Segment(HALF_LEFT + BAR * (width - end - 1), unlit))
        return Strip(segments).crop_extend(0, width, base)

    def _tab_at(self, x: int) -> str | None:
        return next((tab for tab, start, end in self.spans() if start - 1 <= x <= end), None)

    def on_click(self, event: events.Click) -> None:
        tab = self._tab_at(event.x)
        if tab is not None:
            event.stop()
            self.post_message(self.Clicked(tab))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._hover_over(self._tab_at(event.x) if event.y == 0 else None)

    def on_leave(self, _event: events.Leave) -> None:
        self._hover_over(None)

    def _hover_over(self, tab: str | None) -> None:
        if tab != self._hover:
            self._hover = tab
            self.refresh()
