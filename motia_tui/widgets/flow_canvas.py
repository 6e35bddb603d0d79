"""The flow graph widget: paints `graph_render`'s box drawing and moves a selection over it.

The picture is plain text from `render_flow`; this widget only colours it (node kinds, the
selection, broken steps, dashed virtual edges) through component classes, so the styling
lives in the stylesheet, and only the lines on screen are drawn (line API).
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from motia_tui.widgets.graph_render import ARROW, ERROR_MARK, Box, FlowRender

RUNNING_MARK = "▸"
EDGE_GLYPHS = frozenset("─│┌┐└┘├┤┬┴┼")
DASHED_GLYPHS = frozenset("╌┆")


def counter_text(runs: int, failures: int, running: int, width: int) -> str:
    """Runs, failures and runs in flight, fitted to a box's inner width."""
    text = f"runs {runs}"
    if failures:
        text += f" {ERROR_MARK}{failures}"
    if running:
        text += f" {RUNNING_MARK}{running}"
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def with_counters(render: FlowRender, counters: Mapping[str, tuple[int, int, int]]) -> list[str]:
    """The rendered lines with each box's counter line rewritten to include runs in flight.

    `render_flow` draws runs, errors and retries; the workbench shows runs in flight instead
    of retries (retries are visible in the trace waterfall), on the same reserved line.
    """
    lines = list(render.lines)
    if render.counter_row is None:
        return lines
    for node_id, box in render.boxes.items():
        runs, failures, running = counters.get(node_id, (0, 0, 0))
        inner = box.w - 4
        y = box.y + render.counter_row
        line = lines[y]
        text = counter_text(runs, failures, running, inner).ljust(inner)
        lines[y] = line[: box.x + 2] + text + line[box.x + 2 + inner :]
    return lines


def with_next_fires(render: FlowRender, lines: list[str], fires: Mapping[str, str]) -> list[str]:
    """The lines with each cron box's schedule followed by its next fire time (`→ 03:05:00`),
    or the time alone where the box is too narrow for both."""
    lines = list(lines)
    if render.detail_row is None:
        return lines
    for node_id, fire in fires.items():
        box = render.boxes.get(node_id)
        if box is None:
            continue
        inner = box.w - 4
        y = box.y + render.detail_row
        line = lines[y]
        schedule = line[box.x + 2 : box.x + 2 + inner].rstrip()
        text = f"{schedule} → {fire}" if schedule and "…" not in schedule else f"→ {fire}"
        if len(text) > inner:
            text = f"→ {fire}"
        text = (text if len(text) <= inner else text[: max(inner - 1, 0)] + "…").ljust(inner)
        lines[y] = line[: box.x + 2] + text + line[box.x + 2 + inner :]
    return lines


class FlowCanvas(ScrollView, can_focus=True):
    """A scrollable, selectable flow picture."""

    COMPONENT_CLASSES = {
        "flow-canvas--edge",
        "flow-canvas--virtual",
        "flow-canvas--arrow",
        "flow-canvas--label",
        "flow-canvas--api",
        "flow-canvas--event",
        "flow-canvas--cron",
        "flow-canvas--noop",
        "flow-canvas--broken",
        "flow-canvas--selected",
    }

    DEFAULT_CSS = """
    FlowCanvas {
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("down,j", "move(1)", "Next node", id="flows-next-node"),
        Binding("up,k", "move(-1)", "Previous node", id="flows-previous-node"),
        Binding("right,l", "column(1)", "Right", show=False, id="flows-right"),
        Binding("left,h", "column(-1)", "Left", show=False, id="flows-left"),
        Binding("enter", "activate", "Open", id="flows-open-node"),
    ]

    selected: reactive[str | None] = reactive(None)

    class NodeSelected(Message):
        def __init__(self, node_id: str | None) -> None:
            super().__init__()
            self.node_id = node_id

    class NodeActivated(Message):
        def __init__(self, node_id: str) -> None:
            super().__init__()
            self.node_id = node_id

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._render_data: FlowRender = FlowRender(lines=[], boxes={}, order=[])
        self._lines: list[str] = []
        self._kinds: dict[str, str] = {}
        self._broken: frozenset[str] = frozenset()
        self._strips: dict[int, Strip] = {}

    @property
    def boxes(self) -> Mapping[str, Box]:
        return self._render_data.boxes

    def show(
        self,
        render: FlowRender,
        lines: list[str],
        kinds: Mapping[str, str],
        broken: frozenset[str],
    ) -> None:
        """Replace the picture; keeps the selection when its node still exists."""
        self._render_data = render
        self._lines = lines
        self._kinds = dict(kinds)
        self._broken = broken
        self._strips.clear()
        width = max((len(line) for line in lines), default=0)
        self.virtual_size = Size(width, len(lines))
        if self.selected not in render.boxes:
            self.selected = render.order[0] if render.order else None
        else:
            self.call_after_refresh(self._follow_selection)
        self.refresh()

    def _follow_selection(self) -> None:
        """Keep the selected box in view after the picture changed size (zoom, fit)."""
        box = self._render_data.boxes.get(self.selected or "")
        if box is not None:
            self.scroll_to_region(Region(box.x, box.y, box.w, box.h), animate=False)

    def watch_selected(self, old: str | None, new: str | None) -> None:
        self._strips.clear()
        self.refresh()
        self._follow_selection()
        self.post_message(self.NodeSelected(new))

    def notify_style_update(self) -> None:
        self._strips.clear()
        super().notify_style_update()

    # -- navigation -------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        order = self._render_data.order
        if not order:
            return
        if self.selected not in order:
            self.selected = order[0]
            return
        index = order.index(self.selected) + delta
        self.selected = order[max(0, min(index, len(order) - 1))]

    def action_column(self, delta: int) -> None:
        """The nearest node in the next column to the left or right."""
        boxes = self._render_data.boxes
        current = boxes.get(self.selected or "")
        if current is None:
            self.action_move(0)
            return
        xs = sorted({box.x for box in boxes.values()})
        index = xs.index(current.x) + delta
        if not 0 <= index < len(xs):
            return
        column = [(node, box) for node, box in boxes.items() if box.x == xs[index]]
        self.selected = min(column, key=lambda item: abs(item[1].y - current.y))[0]

    def action_activate(self) -> None:
        if self.selected is not None:
            self.post_message(self.NodeActivated(self.selected))

    def on_click(self, event: Click) -> None:
        x = event.x + int(self.scroll_x)
        y = event.y + int(self.scroll_y)
        node = self._render_data.node_at(x, y)
        if node is not None:
            if node == self.selected and event.chain > 1:
                self.post_message(self.NodeActivated(node))
            self.selected = node

    # -- drawing --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line_y = scroll_y + y
        base = self.rich_style
        width = self.size.width
        if line_y >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._strips.get(line_y)
        if strip is None:
            strip = self._strips[line_y] = self._line_strip(line_y, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, line_y)

    def _line_strip(self, y: int, base: Style) -> Strip:
        line = self._lines[y]
        known: dict[tuple[str, ...], Style] = {}
        styles = []
        for names in self._cell_classes(y, line):
            style = known.get(names)
            if style is None:
                style = known[names] = self._style_for(names, base)
            styles.append(style)
        segments: list[Segment] = []
        start = 0
        for x in range(1, len(line) + 1):
            if x == len(line) or styles[x] != styles[start]:
                segments.append(Segment(line[start:x], styles[start]))
                start = x
        return Strip(segments, len(line))

    def _cell_classes(self, y: int, line: str) -> list[tuple[str, ...]]:
        """The component classes of every cell of line `y` (later ones win)."""
        classes: list[tuple[str, ...]] = []
        for char in line:
            if char in DASHED_GLYPHS:
                classes.append(("flow-canvas--virtual",))
            elif char in EDGE_GLYPHS:
                classes.append(("flow-canvas--edge",))
            elif char == ARROW:
                classes.append(("flow-canvas--arrow",))
            elif char == " ":
                classes.append(())
            else:
                classes.append(("flow-canvas--label",))
        for node_id, box in self._render_data.boxes.items():
            if not box.y <= y < box.y + box.h:
                continue
            kind = f"flow-canvas--{self._kinds.get(node_id, 'noop')}"
            known = kind in self.COMPONENT_CLASSES
            names: tuple[str, ...] = (kind if known else "flow-canvas--noop",)
            if node_id in self._broken:
                names += ("flow-canvas--broken",)
            if node_id == self.selected:
                names += ("flow-canvas--selected",)
            classes[box.x : box.x + box.w] = [names] * box.w
        return classes

    def _style_for(self, names: tuple[str, ...], base: Style) -> Style:
        style = base
        for name in names:
            style += self.get_component_rich_style(name, partial=True)
        return style
