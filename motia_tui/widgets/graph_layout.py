"""Lay a flow out left to right and draw it with box-drawing characters.

Kept free of Textual so the geometry is testable as plain strings: the flow widget paints
`FlowRender.lines` and uses `boxes` and `order` for selection and hit-testing. Layering follows
the usual Sugiyama recipe: break cycles, put each node in the column of its longest path from a
source, thread long edges through pass-through slots, then order each column by barycentre.
Edges run from a node's right side through lanes in the gap between columns to the target's
left side; edges that point backwards (cycles, self-loops) are routed under the whole graph.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Json = Mapping[str, Any]
Item = str | int  # a node id, or the index of a LayoutEdge passing through a column

TYPE_MARKS: dict[str, str] = {"api": "[API]", "event": "(EVT)", "cron": "<CRON>", "noop": "{NOOP}"}
LANGUAGE_MARKS: dict[str, str] = {"python": "py", "typescript": "ts", "javascript": "js"}
TEXT_MIN = 14  # room for "runs 12 ✗1 ⟳2" inside every box
TEXT_MAX = 32  # longer names and details are cut with an ellipsis
LABEL_MAX = 24  # longest edge label written on the canvas
EMPTY_GAP = 4  # width of a gap between columns that no edge crosses
ORDER_SWEEPS = 4  # barycentre down+up sweeps; the best ordering seen is kept
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
class Scale:
    """How much room a drawing gives its text: the zoom levels of the flow view."""

    text_min: int  # narrowest text inside a box
    text_max: int  # names and details longer than this are cut with an ellipsis
    label_max: int  # longest edge label written on the canvas (0: none)
    marks: bool = True  # the type mark before the name ("[API] "), when there is room
    pad: int = 2  # line cells between a box and the lanes of a gap


SCALES = (
    Scale(8, 12, 0, marks=False, pad=1),
    Scale(10, 16, 8, marks=False),
    Scale(12, 22, 14),
    Scale(TEXT_MIN, TEXT_MAX, LABEL_MAX),
)
"""Zoom levels, smallest first; the last is the full drawing. A four-column flow fits 80
columns at the smallest: the detail line (route, schedule, topics) still tells the kinds
apart, and edge labels give way to the side panel."""
FULL = SCALES[-1]


@dataclass(frozen=True)
class LayoutNode:
    """A node placed in the grid; `width` is the box width shared by its whole column."""

    id: str
    name: str
    type: str
    column: int
    row: int
    label: str
    detail: str
    width: int


@dataclass(frozen=True)
class LayoutEdge:
    """All flow edges between one ordered pair of nodes, drawn as a single line."""

    source: str
    target: str
    topics: tuple[str, ...]
    labels: tuple[str, ...]
    virtual: bool
    back: bool


@dataclass(frozen=True)
class FlowLayout:
    """Topology only: columns top to bottom; screen geometry comes from `render_flow`."""

    name: str
    nodes: dict[str, LayoutNode]
    edges: tuple[LayoutEdge, ...]
    columns: tuple[tuple[Item, ...], ...]
    label_max: int = LABEL_MAX
    pad: int = 2

    @property
    def order(self) -> list[str]:
        """Node ids column by column, top to bottom: the keyboard navigation order."""
        return [item for column in self.columns for item in column if isinstance(item, str)]


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
class FlowRender:
    """Equal-length lines plus what a widget needs to select and hit-test nodes."""

    lines: list[str]
    boxes: dict[str, Box]
    order: list[str]

    def node_at(self, x: int, y: int) -> str | None:
        return next((node for node, box in self.boxes.items() if box.contains(x, y)), None)


def node_label(node: Json) -> str:
    """Type mark then name, so the kind of step reads before its name."""
    kind = str(node.get("type") or "")
    mark = TYPE_MARKS.get(kind, f"<{kind.upper() or '?'}>")
    return f"{mark} {node.get('name') or node.get('id')}"


def _name(node: Json) -> str:
    return str(node.get("name") or node.get("id"))


def node_detail(node: Json, language: bool = False) -> str:
    """The trigger of a step: route for api, schedule for cron, topics for event; after its
    language (`ts`, `js`, `py`) when `language`, as in a flow that is not all Python."""
    trigger = _trigger(node)
    if not language:
        return trigger
    name = str(node.get("language") or "python")
    return f"{LANGUAGE_MARKS.get(name, name)} {trigger}".rstrip()


def speaks_other_languages(nodes: Iterable[Json]) -> bool:
    """Whether a flow has a step that is not Python: then every node says its language."""
    return any(str(node.get("language") or "python") != "python" for node in nodes)


def _trigger(node: Json) -> str:
    kind = node.get("type")
    if kind == "api":
        return f"{str(node.get('method') or '').upper()} {node.get('path') or ''}".strip()
    if kind == "cron":
        return str(node.get("cron") or "")
    if kind == "event":
        return ", ".join(_topic(item) for item in node.get("subscribes") or [])
    return ""


def layout_flow(flow: Json, scale: Scale = FULL) -> FlowLayout:
    """Assign columns and rows; edges naming unknown nodes are dropped rather than fatal."""
    raw: dict[str, Json] = {}
    for node in flow.get("nodes") or []:
        if node.get("id") is not None:
            raw.setdefault(str(node["id"]), node)
    ids = list(raw)
    grouped: dict[tuple[str, str], list[Json]] = {}
    for edge in flow.get("edges") or []:
        pair = (str(edge.get("from")), str(edge.get("to")))
        if pair[0] in raw and pair[1] in raw:
            grouped.setdefault(pair, []).append(edge)
    back = _back_pairs(ids, list(grouped))
    column = _columns(ids, [pair for pair in grouped if pair not in back])
    edges = tuple(
        LayoutEdge(
            source=source,
            target=target,
            topics=tuple(str(e.get("topic") or "") for e in group),
            labels=tuple(str(e.get("label") or e.get("topic") or "") for e in group),
            virtual=all(bool(e.get("virtual")) for e in group),
            back=(source, target) in back,
        )
        for (source, target), group in grouped.items()
    )
    count = max(column.values(), default=-1) + 1
    columns: list[list[Item]] = [[] for _ in range(count)]
    for node_id in ids:
        columns[column[node_id]].append(node_id)
    for index, edge in enumerate(edges):
        if not edge.back:
            for c in range(column[edge.source] + 1, column[edge.target]):
                columns[c].append(index)
    ordered = _order_columns(columns, _hops(edges, column, count))

    text_width = [scale.text_min] * count
    language = speaks_other_languages(raw.values())
    for node_id, node in raw.items():
        c = column[node_id]
        label = node_label(node) if scale.marks else _name(node)
        text_width[c] = max(text_width[c], len(label), len(node_detail(node, language)))
    nodes: dict[str, LayoutNode] = {}
    for c, items in enumerate(ordered):
        width = min(text_width[c], scale.text_max)
        for row, node_id in enumerate(item for item in items if isinstance(item, str)):
            node = raw[node_id]
            nodes[node_id] = LayoutNode(
                id=node_id,
                name=str(node.get("name") or node_id),
                type=str(node.get("type") or ""),
                column=c,
                row=row,
                label=_fit(node_label(node) if scale.marks else _name(node), width),
                detail=_fit(node_detail(node, language), width),
                width=width + 4,
            )
    return FlowLayout(
        name=str(flow.get("name") or ""),
        nodes=nodes,
        edges=edges,
        columns=tuple(tuple(items) for items in ordered),
        label_max=scale.label_max,
        pad=scale.pad,
    )


def render_flow(
    layout: FlowLayout,
    counters: Mapping[str, NodeCounters] | None = None,
    edge_counts: Mapping[tuple[str, str, str], int] | None = None,
) -> FlowRender:
    """Draw the layout; passing counters adds a counter line to every box.

    Geometry depends only on the layout and on whether counters/counts are given (room for
    the widest compact count is reserved), so live updates never move the boxes.
    """
    if not layout.nodes:
        return FlowRender(lines=[], boxes={}, order=[])
    box_h = 5 if counters is not None else 4
    count = len(layout.columns)
    column = {node.id: node.column for node in layout.nodes.values()}
    hops = _hops(layout.edges, column, count)
    col_w = [
        next(layout.nodes[i].width for i in items if isinstance(i, str)) for items in layout.columns
    ]
    tops = _place_rows(layout.columns, hops, box_h)
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
            canvas.put(lx + 1, y, _fit(text, room))
    for ax, ay in arrows:
        canvas.put(ax, ay, ARROW)

    boxes: dict[str, Box] = {}
    for node_id in layout.order:
        node = layout.nodes[node_id]
        box = Box(col_x[node.column], tops[(node.column, node_id)], node.width, box_h)
        boxes[node_id] = box
        lines = [node.label, node.detail]
        if counters is not None:
            lines.append(_counter_text(counters.get(node_id, NodeCounters()), node.width - 4))
        _draw_box(canvas, box, lines, (box.x + box.w - 1, box.y + 1) in leaving)
    return FlowRender(lines=canvas.lines(), boxes=boxes, order=layout.order)


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


def _topic(item: Any) -> str:
    return str(item.get("topic") if isinstance(item, Mapping) else item)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


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
    return _fit(text, width)


def _edge_text(edge: LayoutEdge, counts: Mapping[tuple[str, str, str], int] | None) -> str:
    parts = []
    for topic, label in zip(edge.topics, edge.labels, strict=True):
        n = counts.get((edge.source, edge.target, topic), 0) if counts is not None else 0
        parts.append(f"{label} {COUNT_MARK}{_compact(n)}" if n else label)
    return ", ".join(parts)


def _back_pairs(ids: Sequence[str], pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Edges closing a cycle in a DFS that starts from sources in node order (deterministic)."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for source, target in pairs:
        succ[source].append(target)
    fed = {target for source, target in pairs if source != target}
    starts = [i for i in ids if i not in fed] + [i for i in ids if i in fed]
    state: dict[str, int] = {}  # 1 while on the DFS stack, 2 once finished
    back: set[tuple[str, str]] = set()
    for root in starts:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, targets = stack[-1]
            nxt = next(targets, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return back


def _columns(ids: Sequence[str], pairs: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest path from a source, over the acyclic edges (Kahn order)."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    indegree = dict.fromkeys(ids, 0)
    for source, target in pairs:
        succ[source].append(target)
        indegree[target] += 1
    depth = dict.fromkeys(ids, 0)
    ready = [i for i in ids if indegree[i] == 0]
    for node in ready:  # the list grows while iterating: a FIFO queue
        for target in succ[node]:
            depth[target] = max(depth[target], depth[node] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return depth


def _hops(
    edges: Sequence[LayoutEdge], column: Mapping[str, int], count: int
) -> list[list[tuple[Item, Item, int]]]:
    """For each gap, the (left item, right item, edge index) steps of the forward edges."""
    hops: list[list[tuple[Item, Item, int]]] = [[] for _ in range(max(count - 1, 0))]
    for index, edge in enumerate(edges):
        if edge.back:
            continue
        start = column[edge.source]
        span = column[edge.target] - start
        chain: list[Item] = [edge.source, *([index] * (span - 1)), edge.target]
        for k in range(span):
            hops[start + k].append((chain[k], chain[k + 1], index))
    return hops


def _order_columns(
    columns: list[list[Item]], hops: list[list[tuple[Item, Item, int]]]
) -> list[list[Item]]:
    """Barycentre sweeps down and up, keeping the ordering with the fewest crossings."""
    current = [list(items) for items in columns]
    best = [list(items) for items in current]
    best_crossings = _crossings(best, hops)
    for _ in range(ORDER_SWEEPS):
        if best_crossings == 0:
            break
        for c in range(1, len(current)):
            _reorder(current, c, c - 1, [(b, a) for a, b, _ in hops[c - 1]])
        for c in range(len(current) - 2, -1, -1):
            _reorder(current, c, c + 1, [(a, b) for a, b, _ in hops[c]])
        crossings = _crossings(current, hops)
        if crossings < best_crossings:
            best, best_crossings = [list(items) for items in current], crossings
    return best


def _reorder(columns: list[list[Item]], c: int, ref: int, pairs: list[tuple[Item, Item]]) -> None:
    ref_pos = {item: i for i, item in enumerate(columns[ref])}
    neighbours: dict[Item, list[int]] = {}
    for item, other in pairs:
        neighbours.setdefault(item, []).append(ref_pos[other])
    current = columns[c]

    def key(i: int) -> tuple[float, int]:
        around = neighbours.get(current[i])
        return (sum(around) / len(around) if around else float(i), i)

    columns[c] = [current[i] for i in sorted(range(len(current)), key=key)]


def _crossings(columns: list[list[Item]], hops: list[list[tuple[Item, Item, int]]]) -> int:
    total = 0
    for c, pairs in enumerate(hops):
        left = {item: i for i, item in enumerate(columns[c])}
        right = {item: i for i, item in enumerate(columns[c + 1])}
        spots = [(left[a], right[b]) for a, b, _ in pairs]
        for k, (a1, b1) in enumerate(spots):
            total += sum(1 for a2, b2 in spots[k + 1 :] if (a1 - a2) * (b1 - b2) < 0)
    return total


def _place_rows(
    columns: tuple[tuple[Item, ...], ...], hops: list[list[tuple[Item, Item, int]]], box_h: int
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
            y = tops[(c, item)] + (box_h if offset else 1) + 1

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
