"""Flow layout and box-drawing render: exact pictures for small flows, invariants for big ones."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from motia_tui.widgets.graph_layout import TEXT_MAX, layout_flow, node_detail, node_label
from motia_tui.widgets.graph_render import (
    COUNT_MARK,
    HEIGHTS,
    Box,
    FlowRender,
    Height,
    NodeCounters,
    render_flow,
)


def node(node_id: str, kind: str = "event", **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "name": node_id, "type": kind, "emits": [], "subscribes": [], **extra}


def edge(source: str, target: str, topic: str, **extra: Any) -> dict[str, Any]:
    return {"from": source, "to": target, "topic": topic, "virtual": False, **extra}


def draw(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **kwargs: Any) -> FlowRender:
    return render_flow(layout_flow({"name": "f", "nodes": nodes, "edges": edges}), **kwargs)


THREE = {
    "name": "greetings",
    "nodes": [
        node("GreetApi", "api", path="/greet", method="POST", emits=["greet"]),
        node("MakeGreeting", subscribes=["greet"]),
        node("Announce", "noop"),
    ],
    "edges": [
        edge("GreetApi", "MakeGreeting", "greet"),
        edge("MakeGreeting", "Announce", "greeted", virtual=True),
    ],
}


def test_labels_carry_a_type_mark_and_the_trigger() -> None:
    assert node_label(node("GreetApi", "api")) == "[API] GreetApi"
    assert node_label(node("MakeGreeting")) == "(EVT) MakeGreeting"
    assert node_label(node("CountTicks", "cron")) == "<CRON> CountTicks"
    assert node_label(node("Announce", "noop")) == "{NOOP} Announce"
    assert node_label({"id": "x", "type": "stream"}) == "<STREAM> x"
    assert node_detail(node("A", "api", method="post", path="/greet")) == "POST /greet"
    assert node_detail(node("C", "cron", cron="* * * * *")) == "* * * * *"
    assert node_detail(node("E", subscribes=["a", {"topic": "b"}])) == "a, b"
    assert node_detail(node("N", "noop")) == ""


def test_three_node_flow_layout() -> None:
    layout = layout_flow(THREE)
    assert layout.name == "greetings"
    assert layout.columns == (("GreetApi",), ("MakeGreeting",), ("Announce",))
    assert layout.order == ["GreetApi", "MakeGreeting", "Announce"]
    greet = layout.nodes["GreetApi"]
    assert (greet.column, greet.row, greet.label, greet.detail) == (
        0,
        0,
        "[API] GreetApi",
        "POST /greet",
    )
    assert greet.width == 18  # TEXT_MIN of 14 plus border and padding
    assert layout.nodes["MakeGreeting"].width == len("(EVT) MakeGreeting") + 4
    assert [(e.source, e.target, e.virtual, e.back) for e in layout.edges] == [
        ("GreetApi", "MakeGreeting", False, False),
        ("MakeGreeting", "Announce", True, False),
    ]


def test_three_node_flow_render_exact() -> None:
    result = render_flow(layout_flow(THREE))
    assert result.lines == [
        "┌────────────────┐           ┌────────────────────┐             ┌─────────────────┐",
        "│ [API] GreetApi ├─greet────▶│ (EVT) MakeGreeting ├╌greeted╌╌╌╌▶│ {NOOP} Announce │",
        "│ POST /greet    │           │ greet              │             │                 │",
        "└────────────────┘           └────────────────────┘             └─────────────────┘",
    ]
    assert result.boxes == {
        "GreetApi": Box(0, 0, 18, 4),
        "MakeGreeting": Box(29, 0, 22, 4),
        "Announce": Box(64, 0, 19, 4),
    }
    assert result.order == ["GreetApi", "MakeGreeting", "Announce"]


def test_counters_and_edge_counts() -> None:
    flow = {
        "nodes": [node("A", "api", path="/a", method="POST"), node("B")],
        "edges": [edge("A", "B", "greet")],
    }
    counters = {"A": NodeCounters(runs=12, errors=1, retries=2)}
    result = render_flow(layout_flow(flow), counters, {("A", "B", "greet"): 12})
    assert result.lines == [
        "┌────────────────┐                 ┌────────────────┐",
        f"│ [API] A        ├─greet {COUNT_MARK}12──────▶│ (EVT) B        │",
        "│ POST /a        │                 │                │",
        "│ runs 12 ✗1 ⟳2  │                 │ runs 0         │",
        "└────────────────┘                 └────────────────┘",
    ]
    assert result.boxes == {"A": Box(0, 0, 18, 5), "B": Box(35, 0, 18, 5)}


def test_live_counts_never_move_boxes() -> None:
    layout = layout_flow(THREE)
    key = ("GreetApi", "MakeGreeting", "greet")
    small = render_flow(layout, {"GreetApi": NodeCounters(1)}, {key: 1})
    huge = render_flow(layout, {"GreetApi": NodeCounters(123_456_789, 10_000, 5)}, {key: 9_999_999})
    assert small.boxes == huge.boxes
    assert len(small.lines[0]) == len(huge.lines[0])
    assert "│ runs 123M ✗10… │" in huge.lines[3]  # cut to the box, never widening it
    assert f"greet {COUNT_MARK}9.9M" in huge.lines[1]


def test_smaller_heights_drop_the_trigger_line_then_the_counters_and_the_gaps() -> None:
    flow = {"name": "f", "nodes": [node("A", "api", path="/a", method="post"), node("B"),
                                   node("C")],
            "edges": [edge("A", "B", "x"), edge("A", "C", "y")]}
    layout = layout_flow(flow)
    counters = {"A": NodeCounters(3)}
    drawn = [render_flow(layout, counters, {}, height) for height in HEIGHTS]
    assert [len(d.lines) for d in drawn] == [6, 8, 10, 11]  # B and C stacked, one column
    assert [d.boxes["B"].h for d in drawn] == [3, 4, 5, 5]
    assert [(d.detail_row, d.counter_row) for d in drawn] == [
        (None, None), (None, 2), (2, 3), (2, 3)
    ]
    assert [d.boxes["C"].y - d.boxes["B"].y for d in drawn] == [3, 4, 5, 6]
    smallest, small = drawn[0], drawn[1]
    assert smallest.lines[smallest.boxes["A"].y + 1].startswith("│ [API] A")
    assert "POST /a" not in "\n".join(smallest.lines + small.lines)
    assert "runs 3" not in "\n".join(smallest.lines)
    assert "runs 3" in small.lines[small.boxes["A"].y + 2]
    assert {len({len(line) for line in d.lines}) for d in drawn} == {1}  # equal-length lines
    widths = {len(d.lines[0]) for d in drawn}
    assert len(widths) == 1  # height never changes the width, so fitting one keeps the other


def test_a_height_without_counters_ignores_them() -> None:
    layout = layout_flow(THREE)
    plain = render_flow(layout, None, None, Height(detail=False, counters=False, gap=0))
    counted = render_flow(layout, {"GreetApi": NodeCounters(5)}, None,
                          Height(detail=False, counters=False, gap=0))
    assert plain.lines == counted.lines


def test_empty_flow() -> None:
    layout = layout_flow({"name": "empty", "nodes": [], "edges": []})
    assert layout.columns == ()
    assert render_flow(layout) == FlowRender(lines=[], boxes={}, order=[])
    assert render_flow(layout_flow({})).lines == []


def test_single_node() -> None:
    result = draw([node("Solo", "cron", cron="*/5 * * * *")], [])
    assert result.lines == [
        "┌────────────────┐",
        "│ <CRON> Solo    │",
        "│ */5 * * * *    │",
        "└────────────────┘",
    ]
    assert result.boxes == {"Solo": Box(0, 0, 18, 4)}


def test_disconnected_nodes_stack_in_one_column() -> None:
    result = draw([node("A", "noop"), node("B", "noop")], [])
    assert result.lines[4] == " " * 18
    assert result.boxes == {"A": Box(0, 0, 18, 4), "B": Box(0, 5, 18, 4)}
    assert result.order == ["A", "B"]


def test_fan_out_centres_the_source() -> None:
    result = draw(
        [node("A", "api", path="/a", method="get"), node("B"), node("C"), node("D")],
        [edge("A", "B", "x"), edge("A", "C", "y"), edge("A", "D", "z")],
    )
    assert result.lines == [
        "                         ┌────────────────┐",
        "                    ┌─x─▶│ (EVT) B        │",
        "                    │    │                │",
        "                    │    └────────────────┘",
        "                    │                      ",
        "┌────────────────┐  │    ┌────────────────┐",
        "│ [API] A        ├──┼─y─▶│ (EVT) C        │",
        "│ GET /a         │  │    │                │",
        "└────────────────┘  │    └────────────────┘",
        "                    │                      ",
        "                    │    ┌────────────────┐",
        "                    └─z─▶│ (EVT) D        │",
        "                         │                │",
        "                         └────────────────┘",
    ]
    assert result.order == ["A", "B", "C", "D"]


def test_fan_in_merges_into_the_target() -> None:
    result = draw(
        [node("A", "cron"), node("B", "cron"), node("C", "cron"), node("D")],
        [edge("A", "D", "t"), edge("B", "D", "t"), edge("C", "D", "t")],
    )
    assert result.lines[1] == "│ <CRON> A       ├─t───┐                       "
    assert result.lines[6] == "│ <CRON> B       ├─t───┴─┬──▶│ (EVT) D        │"
    assert result.lines[11] == "│ <CRON> C       ├─t─────┘                     "
    assert result.boxes["D"] == Box(29, 5, 18, 4)
    assert result.lines[6].count("▶") == 1


def test_diamond() -> None:
    result = draw(
        [node("A", "api", path="/", method="POST"), node("B"), node("C"), node("D")],
        [
            edge("A", "B", "ab"),
            edge("A", "C", "ac"),
            edge("B", "D", "done"),
            edge("C", "D", "done"),
        ],
    )
    assert result.lines == [
        "┌────────────────┐        ┌────────────────┐            ┌────────────────┐",
        "│ [API] A        ├──┬─ab─▶│ (EVT) B        ├─done───┬──▶│ (EVT) D        │",
        "│ POST /         │  │     │                │        │   │                │",
        "└────────────────┘  │     └────────────────┘        │   └────────────────┘",
        "                    │                               │                     ",
        "                    │     ┌────────────────┐        │                     ",
        "                    └─ac─▶│ (EVT) C        ├─done───┘                     ",
        "                          │                │                              ",
        "                          └────────────────┘                              ",
    ]
    assert result.order == ["A", "B", "C", "D"]


def test_long_edge_passes_through_columns() -> None:
    layout = layout_flow(
        {
            "nodes": [node("A"), node("B"), node("C"), node("D")],
            "edges": [
                edge("A", "B", "ab"),
                edge("B", "C", "bc"),
                edge("C", "D", "cd"),
                edge("A", "D", "shortcut", label="skip"),
            ],
        }
    )
    assert [layout.nodes[n].column for n in "ABCD"] == [0, 1, 2, 3]
    assert layout.columns[1] == ("B", 3) and layout.columns[2] == ("C", 3)  # edge 3 passes
    result = render_flow(layout)
    assert result.lines[5] == (
        "                    └─skip────────────────────────────────────────────────────┘"
        "                     "
    )
    assert result.lines[1].endswith("├─cd───┬──▶│ (EVT) D        │")


def test_cycle_and_self_loop_route_under_the_graph() -> None:
    flow = {
        "nodes": [node("A"), node("B"), node("C")],
        "edges": [
            edge("A", "B", "ab"),
            edge("B", "C", "bc"),
            edge("C", "A", "retry"),
            edge("B", "B", "self"),
        ],
    }
    layout = layout_flow(flow)
    assert [(e.source, e.target, e.back) for e in layout.edges] == [
        ("A", "B", False),
        ("B", "C", False),
        ("C", "A", True),
        ("B", "B", True),
    ]
    assert render_flow(layout).lines == [
        "    ┌────────────────┐          ┌────────────────┐          ┌────────────────┐   ",
        "┌──▶│ (EVT) A        ├─ab───┬──▶│ (EVT) B        ├──┬─bc───▶│ (EVT) C        ├──┐",
        "│   │                │      │   │                │  │       │                │  │",
        "│   └────────────────┘      │   └────────────────┘  │       └────────────────┘  │",
        "│                           │                       │                           │",
        "│                           └─self──────────────────┘                           │",
        "└─retry─────────────────────────────────────────────────────────────────────────┘",
    ]


def test_lone_self_loop() -> None:
    result = draw([node("A", subscribes=["tick"])], [edge("A", "A", "tick")])
    assert result.lines == [
        "    ┌────────────────┐   ",
        "┌──▶│ (EVT) A        ├──┐",
        "│   │ tick           │  │",
        "│   └────────────────┘  │",
        "│                       │",
        "└─tick──────────────────┘",
    ]
    assert result.boxes == {"A": Box(4, 0, 18, 4)}


def test_cycle_without_a_source_is_broken_deterministically() -> None:
    flow = {"nodes": [node("A"), node("B")], "edges": [edge("A", "B", "x"), edge("B", "A", "y")]}
    layout = layout_flow(flow)
    assert [e.back for e in layout.edges] == [False, True]
    assert layout.columns == (("A",), ("B",))


def test_parallel_edges_share_one_line_and_label() -> None:
    result = draw(
        [node("A", "api", path="/a", method="post"), node("B", subscribes=["x", "y"])],
        [edge("A", "B", "x"), edge("A", "B", "y", label="why")],
    )
    assert result.lines[1] == "│ [API] A        ├─x, why────▶│ (EVT) B        │"


def test_unknown_endpoints_and_duplicate_ids_are_ignored() -> None:
    layout = layout_flow(
        {
            "nodes": [node("A"), node("A", "api"), {"name": "no id"}],
            "edges": [edge("A", "ghost", "x"), edge("ghost", "A", "y")],
        }
    )
    assert list(layout.nodes) == ["A"] and layout.nodes["A"].type == "event"
    assert layout.edges == ()


def test_long_names_are_cut() -> None:
    layout = layout_flow({"nodes": [node("N" * 60)], "edges": []})
    label = layout.nodes["N" * 60].label
    assert len(label) == TEXT_MAX and label.endswith("…")
    assert layout.nodes["N" * 60].width == TEXT_MAX + 4


def test_hit_testing() -> None:
    result = render_flow(layout_flow(THREE))
    assert result.node_at(0, 0) == "GreetApi"
    assert result.node_at(17, 3) == "GreetApi"
    assert result.node_at(18, 1) is None  # the edge, not a box
    assert result.node_at(30, 2) == "MakeGreeting"
    assert Box(2, 3, 4, 5).contains(5, 7) and not Box(2, 3, 4, 5).contains(6, 7)


def test_rows_reduce_crossings() -> None:
    # Source order A, B but A feeds the lower target: barycentre swaps the targets.
    layout = layout_flow(
        {
            "nodes": [node("A"), node("B"), node("Y"), node("X")],
            "edges": [edge("A", "X", "ax"), edge("B", "Y", "by")],
        }
    )
    assert layout.columns == (("A", "B"), ("X", "Y"))
    assert (layout.nodes["X"].row, layout.nodes["Y"].row) == (0, 1)


def random_flow(seed: int, size: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    kinds = ["api", "event", "cron", "noop"]
    nodes = [node(f"S{i}", rnd.choice(kinds)) for i in range(size)]
    edges = [
        edge(f"S{a}", f"S{b}", f"t{a}_{b}", virtual=rnd.random() < 0.2)
        for a, b in ((rnd.randrange(size), rnd.randrange(size)) for _ in range(size * 3 // 2))
    ]
    return {"name": "big", "nodes": nodes, "edges": edges}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("size", [2, 5, 25])
def test_random_flows_render_sanely(seed: int, size: int) -> None:
    flow = random_flow(seed, size)
    counters = {n["id"]: NodeCounters(3, 1, 1) for n in flow["nodes"]}
    result = render_flow(layout_flow(flow), counters, {})
    assert render_flow(layout_flow(flow), counters, {}) == result  # deterministic
    assert len({len(line) for line in result.lines}) == 1
    assert sorted(result.order) == sorted(n["id"] for n in flow["nodes"])
    boxes = list(result.boxes.values())
    for k, a in enumerate(boxes):
        for b in boxes[k + 1 :]:
            overlap_x = a.x < b.x + b.w and b.x < a.x + a.w
            assert not (overlap_x and a.y < b.y + b.h and b.y < a.y + a.h)
    for y, line in enumerate(result.lines):
        for x, char in enumerate(line):
            if char == "▶":  # every arrow points into the left border of a box
                assert any(b.x == x + 1 and b.y < y < b.y + b.h for b in boxes)
    for node_id, box in result.boxes.items():
        assert result.lines[box.y][box.x] == "┌"
        assert result.lines[box.y + box.h - 1][box.x + box.w - 1] == "┘"
        assert result.node_at(box.x, box.y) == node_id


def test_order_is_column_major() -> None:
    layout = layout_flow(random_flow(3, 25))
    keys = [(layout.nodes[n].column, layout.nodes[n].row) for n in layout.order]
    assert keys == sorted(keys)
    assert len(layout.columns) > 2


def test_long_chain() -> None:
    ids = [f"N{i}" for i in range(30)]
    flow = {
        "nodes": [node(i) for i in reversed(ids)],
        "edges": [edge(a, b, "next") for a, b in itertools.pairwise(ids)],
    }
    layout = layout_flow(flow)
    assert layout.order == ids
    result = render_flow(layout)
    assert len(result.lines) == 4
    assert result.lines[1].count("▶") == 29
