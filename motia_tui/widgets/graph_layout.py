"""Lay a flow out left to right: columns, the order within each, and the text of each box.

Kept free of Textual so the geometry is testable as plain strings (`graph_render` draws
what is laid out here). Layering follows the usual Sugiyama recipe: break cycles, put each
node in the column of its longest path from a source, thread long edges through
pass-through slots, then order each column by barycentre.
"""

from __future__ import annotations

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
ORDER_SWEEPS = 4  # barycentre down+up sweeps; the best ordering seen is kept


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
        return ", ".join(topic_of(item) for item in node.get("subscribes") or [])
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
    ordered = _order_columns(columns, column_hops(edges, column, count))

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
                label=fit_text(node_label(node) if scale.marks else _name(node), width),
                detail=fit_text(node_detail(node, language), width),
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


def topic_of(item: Any) -> str:
    return str(item.get("topic") if isinstance(item, Mapping) else item)


def fit_text(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


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


def column_hops(
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
