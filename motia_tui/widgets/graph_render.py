"""Draw a laid-out flow with box-drawing characters.

The flow widget paints `FlowRender.lines` and uses `boxes` and `order` for selection and
hit-testing. Edges run from a node's right side through lanes in the gap between columns to
the target's left side; edges that point backwards (cycles, self-loops) are routed under
the whole graph.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from motia_tui.widgets.graph_layout import (
    FlowLayout,
    Item,
    LayoutEdge,
    column_hops,
    fit_text,
)

EMPTY_GAP = 4  # width of a gap between columns that no edge crosses
SAME_ROW_COST = 100  # two lanes meeting on one row would merge into a misleading line
ARROW = "▶"
EXIT = "├"
ERROR_MARK = "✗"
RETRY_MARK = "⟳"
COUNT_MARK = "\u00d7"  # the multiplication sign, as in "greet x12"
COUNT_RESERVE = len(f" {COUNT_MARK}9999")  # widest compact count, so counts never reflow
_N, _E, _S, _W = 1, 2, 4, 8
_SHARED = -1  # a canvas cell drawn by more than one edge
_GLYPHS: dict[int, str] = {
    _E: "─",
    _W: "─",
    _E | _W: "─",
    _N: "│",
    _S: "│",
    _N | _S: "│",
    _S | _E: "┌",
    _S | _W: "┐",
    _N | _E: "└",
    _N | _W: "┘",
    _N | _S | _E: "├",
    _N | _S | _W: "┤",
    _E | _W | _S: "┬",
    _E | _W | _N: "┴",
    _N | _E | _S | _W: "┼",
}
_DASHED: dict[str, str] = {"─": "╌", "│": "┆"}


@dataclass(frozen=True)
class NodeCounters:
    """Live run statistics shown inside a node's box."""

    runs: int = 0
    errors: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Box:
    """A node's bounding box on the canvas, border included."""

    x: int
    y: int
    w: int
    h: int

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


@dataclass(frozen=True)
class Height:
    """How much room a drawing gives each box in height: the zoom levels of the flow view
    across, as `graph_layout.Scale` is along."""

    detail: bool = True  # the trigger line (route, schedule, topics) under the name
    counters: bool = True  # the counter line, when the drawing has counters
    gap: int = 1  # blank rows between two boxes stacked in one column


HEIGHTS = (
    Height(detail=False, counters=False, gap=0),
    Height(detail=False, gap=0),
    Height(gap=0),
    Height(),
)
"""Heights, smallest first; the last is the full drawing. The smallest gives a box three
rows (its name between two borders), so eight steps stacked in one column fit 24 rows; the
side panel still has every detail of the selected one."""
TALL = HEIGHTS[-1]


@dataclass(frozen=True)
class FlowRender:
    """Equal-length lines plus what a widget needs to select and hit-test nodes, and where
    in each box its detail and counter lines are (rows below the box's top; None: none)."""

    lines: list[str]
    boxes: dict[str, Box]
    order: list[str]
    detail_row: int | None = 2
    counter_row: int | None = 3

    def node_at(self, x: int, y: int) -> str | None:
        return next((node for node, box in self.boxes.items() if box.contains(x, y)), None)


def render_flow(
    layout: FlowLayout,
    counters: Mapping[str, NodeCounters] | None = None,
    edge_counts: Mapping[tuple[str, str, str], int] | None = None,
    height: Height = TALL,
) -> FlowRender:
    """Draw the layout; passing counters adds a counter line to every box (at a `height`
    that has one).

    Geometry depends only on the layout and on whether counters/counts are given (room for
    the widest compact count is reserved), so live updates never move the boxes.
    """
    if not layout.nodes:
        return FlowRender(lines=[], boxes={}, order=[])
    counted = counters is not None and height.counters
    detail_row = 2 if height.detail else None
    counter_row = (3 if height.detail else 2) if counted else None
    box_h = 3 + height.detail + counted
    count = len(layout.columns)
    column = {node.id: node.column for node in layout.nodes.values()}
    hops = column_hops(layout.edges, column, count)
    col_w = [
        next(layout.nodes[i].width for i in items if isinstance(i, str)) for items in layout.columns
    ]
    tops = _place_rows(layout.columns, hops, box_h, height.gap)
    ports = {key: top + (1 if isinstance(key[1], str) else 0) for key, top in tops.items()}
    content_h = max(
        top + (box_h if isinstance(item, str) else 1) for (_, item), top in tops.items()
    )
    gaps, channel = _route(layout, hops, column, ports, content_h)
    left_room, right_room = _label_rooms(layout, gaps, column, col_w, edge_counts)
    lanes = [_order_lanes(wires) for wires in gaps]
    gap_w, lane_pad = _gap_widths(lanes, left_room, right_room, layout.pad)
    gap_x: list[int] = []
    col_x: list[int] = []
    x = 0
    for g in range(count + 1):
        gap_x.append(x)
        x += gap_w[g]
        if g < count:
            col_x.append(x)
            x += col_w[g]

    canvas = _Canvas(x, content_h + (1 + len(channel) if channel else 0))
    solid = {i: not e.virtual for i, e in enumerate(layout.edges)}
    arrows: set[tuple[int, int]] = set()
    leaving: set[tuple[int, int]] = set()  # right-border cells where an edge leaves a box
    lane_x: dict[tuple[int, int], int] = {}
    for g, ordered in enumerate(lanes):
        end = gap_x[g] + gap_w[g] - 1
        for k, lane in enumerate(ordered):
            lx = gap_x[g] + lane_pad[g] + 2 * k
            for wire in lane:
                lane_x[(g, wire.edge)] = lx
                on = solid[wire.edge]
                if wire.left is not None:
                    canvas.hline(gap_x[g], lx, wire.left, wire.edge, on, True, False)
                    leaving.add((gap_x[g] - 1, wire.left))
                rows = [r for r in (wire.left, wire.right, wire.channel) if r is not None]
                canvas.vline(lx, min(rows), max(rows), wire.edge, on)
                if wire.right is not None:
                    canvas.hline(lx, end, wire.right, wire.edge, on, False, not wire.arrow)
                    if wire.arrow:
                        arrows.add((end, wire.right))
    for index, row in channel.items():
        edge = layout.edges[index]
        start = lane_x[(column[edge.target], index)]
        stop = lane_x[(column[edge.source] + 1, index)]
        canvas.hline(start, stop, row, index, solid[index], False, False)
    for (c, item), row in ports.items():
        if isinstance(item, int):
            canvas.hline(col_x[c], col_x[c] + col_w[c] - 1, row, item, solid[item], True, True)

    texts = {i: _edge_text(e, edge_counts) for i, e in enumerate(layout.edges)}
    for index, (lx, y, length) in _label_runs(canvas, arrows).items():
        room = min(layout.label_max, length - 2)
        text = texts[index]
        if text and room >= min(3, len(text)):
            canvas.put(lx + 1, y, fit_text(text, room))
    for ax, ay in arrows:
        canvas.put(ax, ay, ARROW)

    boxes: dict[str, Box] = {}
    for node_id in layout.order:
        node = layout.nodes[node_id]
        box = Box(col_x[node.column], tops[(node.column, node_id)], node.width, box_h)
        boxes[node_id] = box
        lines = [node.label, node.detail] if height.detail else [node.label]
        if counters is not None and counted:
            lines.append(_counter_text(counters.get(node_id, NodeCounters()), node.width - 4))
        _draw_box(canvas, box, lines, (box.x + box.w - 1, box.y + 1) in leaving)
    return FlowRender(canvas.lines(), boxes, layout.order, detail_row, counter_row)


@dataclass(frozen=True)
class _Wire:
    """One edge's passage through one gap: rows it joins on either side, or its channel."""

    edge: int
    left: int | None
    right: int | None
    channel: int | None
    arrow: bool


def _route(
    layout: FlowLayout,
    hops: list[list[tuple[Item, Item, int]]],
    column: Mapping[str, int],
    ports: Mapping[tuple[int, Item], int],
    content_h: int,
) -> tuple[list[dict[tuple[str, Item], list[_Wire]]], dict[int, int]]:
    """Wires per gap, grouped by lane, and the channel row of each back edge.

    Gap g lies left of column g (gap 0 is the left margin, the last one the right margin).
    Forward hops share one lane per source slot (a fan-out trunk); a back edge gets its own
    lane after its source and before its target, joined by a channel under the graph, the
    shortest spans nearest the boxes so nested loops do not cross.
    """
    gaps: list[dict[tuple[str, Item], list[_Wire]]] = [{} for _ in range(len(layout.columns) + 1)]
    for c, pairs in enumerate(hops):
        for a, b, index in pairs:
            wire = _Wire(index, ports[(c, a)], ports[(c + 1, b)], None, isinstance(b, str))
            gaps[c + 1].setdefault(("f", a), []).append(wire)
    backs = sorted(
        (i for i, e in enumerate(layout.edges) if e.back),
        key=lambda i: (column[layout.edges[i].source] - column[layout.edges[i].target], i),
    )
    channel: dict[int, int] = {}
    for k, index in enumerate(backs):
        edge = layout.edges[index]
        row = channel[index] = content_h + 1 + k
        source, target = column[edge.source], column[edge.target]
        out_wire = _Wire(index, ports[(source, edge.source)], None, row, False)
        in_wire = _Wire(index, None, ports[(target, edge.target)], row, True)
        gaps[source + 1][("o", index)] = [out_wire]
        gaps[target][("i", index)] = [in_wire]
    return gaps, channel


def _gap_widths(
    lanes: list[list[list[_Wire]]], left_room: list[int], right_room: list[int], pad: int
) -> tuple[list[int], list[int]]:
    """Width of each gap and the offset of its first lane.

    Layout of a gap: line cells (with room for a label) | lanes two cells apart |
    line cells (with room for a label) | the arrow. The margins drop the outer parts.
    """
    last = len(lanes) - 1
    widths: list[int] = []
    pads: list[int] = []
    for g, ordered in enumerate(lanes):
        lpad = 0 if g == 0 else max(pad, left_room[g] + 2 if left_room[g] else 0)
        rpad = 0 if g == last else max(pad, right_room[g] + 2 if right_room[g] else 0) + 1
        pads.append(lpad)
        if ordered:
            widths.append(lpad + 2 * len(ordered) - 1 + rpad)
        else:
            widths.append(EMPTY_GAP if 0 < g < last else 0)
    return widths, pads


class _Canvas:
    """Line cells as direction bitmasks so crossings and joins pick the right glyph."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.mask: dict[tuple[int, int], int] = {}
        self.owner: dict[tuple[int, int], int] = {}  # edge index, or _SHARED
        self.solid: set[tuple[int, int]] = set()
        self.text: dict[tuple[int, int], str] = {}

    def link(self, x: int, y: int, bits: int, edge: int, solid: bool) -> None:
        cell = (x, y)
        self.mask[cell] = self.mask.get(cell, 0) | bits
        self.owner[cell] = edge if self.owner.get(cell, edge) == edge else _SHARED
        if solid:
            self.solid.add(cell)

    def hline(
        self, x1: int, x2: int, y: int, edge: int, solid: bool, open_start: bool, open_end: bool
    ) -> None:
        """Cells x1..x2; open ends join whatever lies beyond (a border or a pass-through)."""
        for x in range(x1, x2 + 1):
            bits = (_E if x < x2 or open_end else 0) | (_W if x > x1 or open_start else 0)
            self.link(x, y, bits, edge, solid)

    def vline(self, x: int, y1: int, y2: int, edge: int, solid: bool) -> None:
        for y in range(y1, y2 + 1):
            self.link(x, y, (_S if y < y2 else 0) | (_N if y > y1 else 0), edge, solid)

    def put(self, x: int, y: int, text: str) -> None:
        for k, char in enumerate(text):
            self.text[(x + k, y)] = char

    def lines(self) -> list[str]:
        grid = [[" "] * self.width for _ in range(self.height)]
        for (x, y), bits in self.mask.items():
            glyph = _GLYPHS.get(bits, " ")
            grid[y][x] = glyph if (x, y) in self.solid else _DASHED.get(glyph, glyph)
        for (x, y), char in self.text.items():
            grid[y][x] = char
        return ["".join(row) for row in grid]


def _compact(n: int) -> str:
    """At most four characters, so reserved label room always suffices."""
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n // 1000}k"
    if n < 10_000_000:
        return f"{n // 1_000_000}.{n // 100_000 % 10}M"
    return f"{min(n // 1_000_000, 999)}M"


def _counter_text(counters: NodeCounters, width: int) -> str:
    text = f"runs {_compact(counters.runs)}"
    if counters.errors:
        text += f" {ERROR_MARK}{_compact(counters.errors)}"
    if counters.retries:
        text += f" {RETRY_MARK}{_compact(counters.retries)}"
    return fit_text(text, width)


def _edge_text(edge: LayoutEdge, counts: Mapping[tuple[str, str, str], int] | None) -> str:
    parts = []
    for topic, label in zip(edge.topics, edge.labels, strict=True):
        n = counts.get((edge.source, edge.target, topic), 0) if counts is not None else 0
        parts.append(f"{label} {COUNT_MARK}{_compact(n)}" if n else label)
    return ", ".join(parts)


def _place_rows(
    columns: tuple[tuple[Item, ...], ...],
    hops: list[list[tuple[Item, Item, int]]],
    box_h: int,
    gap: int,
) -> dict[tuple[int, Item], int]:
    """Top row of every slot, aligned with its median predecessor where the column allows."""
    preds: dict[tuple[int, Item], list[tuple[int, Item]]] = {}
    succs: dict[tuple[int, Item], list[tuple[int, Item]]] = {}
    for c, pairs in enumerate(hops):
        for a, b, _ in pairs:
            preds.setdefault((c + 1, b), []).append((c, a))
            succs.setdefault((c, a), []).append((c + 1, b))
    tops: dict[tuple[int, Item], int] = {}

    def stack(c: int, neighbours: dict[tuple[int, Item], list[tuple[int, Item]]]) -> None:
        y = 0
        for item in columns[c]:
            offset = 1 if isinstance(item, str) else 0
            around = sorted(
                tops[k] + (1 if isinstance(k[1], str) else 0) for k in neighbours.get((c, item), [])
            )
            wanted = around[(len(around) - 1) // 2] - offset if around else tops.get((c, item), 0)
            tops[(c, item)] = max(y, wanted)
            y = tops[(c, item)] + (box_h if offset else 1) + gap

    for c in range(len(columns)):
        stack(c, preds)
    # A source fanning out to nodes only it feeds centres on them; moving a source whose
    # successors also hang off other nodes would just pull those out of line.
    stack(0, {k: v for k, v in succs.items() if all(len(preds[s]) == 1 for s in v)})
    shift = min(tops.values())
    return {key: top - shift for key, top in tops.items()}


def _label_rooms(
    layout: FlowLayout,
    gaps: list[dict[tuple[str, Item], list[_Wire]]],
    column: Mapping[str, int],
    col_w: list[int],
    counts: Mapping[tuple[str, str, str], int] | None,
) -> tuple[list[int], list[int]]:
    """Widen each gap's left or right side for labels that have nowhere better to go."""
    left = [0] * len(gaps)
    right = [0] * len(gaps)
    for index, edge in enumerate(layout.edges):
        if edge.back:
            continue  # written on its channel under the graph
        reserve = COUNT_RESERVE if counts is not None else 0
        size = sum(len(label) + reserve + 2 for label in edge.labels) - 2
        size = min(layout.label_max, size)
        first, last = column[edge.source] + 1, column[edge.target]
        if last > first and col_w[first] - 2 >= size:
            continue  # fits on the first pass-through
        entering = Counter(w.right for wires in gaps[last].values() for w in wires)
        if entering[_right_row(gaps[last], index)] == 1:
            right[last] = max(right[last], size)
            continue
        wires = gaps[first][("f", edge.source)]  # the trunk leaving the source
        row = wires[0].left
        if (
            len(wires) == 1
            and sum(any(w.left == row for w in ws) for ws in gaps[first].values()) == 1
        ):
            left[first] = max(left[first], size)
    return left, right


def _right_row(wires_by_lane: dict[tuple[str, Item], list[_Wire]], index: int) -> int | None:
    """Row where edge `index` leaves this gap on its right side."""
    return next(
        (w.right for wires in wires_by_lane.values() for w in wires if w.edge == index), None
    )


def _order_lanes(wires_by_lane: dict[tuple[str, Item], list[_Wire]]) -> list[list[_Wire]]:
    """Left-to-right lane order with fewest crossings (adjacent swaps; pair costs are local)."""
    lanes = sorted(
        wires_by_lane.values(),
        key=lambda ws: min(r for w in ws for r in (w.left, w.right, w.channel) if r is not None),
    )
    for _ in range(len(lanes)):
        swapped = False
        for k in range(len(lanes) - 1):
            a, b = lanes[k], lanes[k + 1]
            if _pair_cost(b, a) < _pair_cost(a, b):
                lanes[k], lanes[k + 1] = b, a
                swapped = True
        if not swapped:
            break
    return lanes


def _pair_cost(a: list[_Wire], b: list[_Wire]) -> int:
    """Crossings when lane `a` sits left of lane `b` in one gap."""
    a_left = {w.left for w in a if w.left is not None}
    a_right = {w.right for w in a if w.right is not None}
    b_left = {w.left for w in b if w.left is not None}
    b_right = {w.right for w in b if w.right is not None}
    a_rows = [r for w in a for r in (w.left, w.right, w.channel) if r is not None]
    b_rows = [r for w in b for r in (w.left, w.right, w.channel) if r is not None]
    cost = 0
    for row in a_right:  # runs right from a, across b
        if row in b_left:
            cost += SAME_ROW_COST
        elif row not in b_right and min(b_rows) <= row <= max(b_rows):
            cost += 1
    for row in b_left:  # comes in from the left to b, across a
        if row not in a_left and row not in a_right and min(a_rows) <= row <= max(a_rows):
            cost += 1
    return cost


def _label_runs(canvas: _Canvas, arrows: set[tuple[int, int]]) -> dict[int, tuple[int, int, int]]:
    """Longest straight horizontal stretch owned by one edge alone: (x, y, length) per edge."""
    cells: dict[int, list[tuple[int, int]]] = {}
    for cell, owner in canvas.owner.items():
        if owner != _SHARED and canvas.mask[cell] == _E | _W and cell not in arrows:
            cells.setdefault(owner, []).append((cell[1], cell[0]))
    runs: dict[int, tuple[int, int, int]] = {}
    for index, spots in cells.items():
        spots.sort()
        best = (0, 0, 0, 0)  # length, x, y, start x
        start = 0
        for k, (y, x) in enumerate(spots):
            if k == 0 or spots[k - 1] != (y, x - 1):
                start = x
            best = max(best, (x - start + 1, x, y, start))
        runs[index] = (best[3], best[2], best[0])
    return runs


def _draw_box(canvas: _Canvas, box: Box, lines: list[str], exits: bool) -> None:
    inner = box.w - 2
    canvas.put(box.x, box.y, "┌" + "─" * inner + "┐")
    for k, text in enumerate(lines, start=1):
        canvas.put(box.x, box.y + k, "│ " + text.ljust(inner - 2) + " │")
    canvas.put(box.x, box.y + box.h - 1, "└" + "─" * inner + "┘")
    if exits:
        canvas.put(box.x + box.w - 1, box.y + 1, EXIT)
