"""Waterfall geometry: span order, bar cells at several widths, axis labels."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from motia_tui.widgets.waterfall import (
    GAP_MARK,
    Bar,
    SpanRow,
    axis_labels,
    bar_geometry,
    format_duration,
    gap_axis,
    mark_gaps,
    render_bar,
    span_tree,
    time_map,
    trace_window,
    waterfall_geometry,
)


def span(
    span_id: str,
    parent: str | None,
    start: float,
    duration: float | None,
    step: str = "Step",
    attempt: int = 1,
    status: str = "ok",
) -> dict[str, Any]:
    return {
        "spanId": span_id,
        "parentId": parent,
        "step": step,
        "attempt": attempt,
        "status": status,
        "start": start,
        "durationMs": duration,
    }


LABEL = re.compile(r"[\d.]+m?s|\d+m\d\ds|\d+h\d\dm")

# A 100 ms trace: a 50 ms child from 10 ms, a 0.5 ms child at 99 ms, a 33 ms child at 0 ms.
TRACE = [
    span("r", None, 1000.0, 100.0, "Api"),
    span("a", "r", 1010.0, 50.0, "Make"),
    span("b", "r", 1099.0, 0.5, "Tiny"),
    span("c", "r", 1000.0, 33.0, "Part"),
]


def test_span_tree_orders_by_cause_then_start() -> None:
    rows = span_tree(
        [
            span("late-root", None, 50, 1),
            span("child2", "root", 20, 5),
            span("grandchild", "child1", 12, 1),
            span("root", None, 0, 40),
            span("child1", "root", 10, 5),
        ]
    )
    assert [(r.span_id, r.depth) for r in rows] == [
        ("root", 0),
        ("child1", 1),
        ("grandchild", 2),
        ("child2", 1),
        ("late-root", 0),
    ]
    assert rows[1].parent_id == "root" and rows[0].parent_id is None


def test_orphans_become_roots_and_marks_are_set() -> None:
    rows = span_tree(
        [
            span("x", "gone", 5, 1, "Orphan"),
            span("r1", None, 0, 1, "Send", status="error"),
            span("r2", "r1", 2, 1, "Send", attempt=2),
            span("run", None, 3, None, "Slow", status="running"),
        ]
    )
    assert [(r.span_id, r.depth) for r in rows] == [("r1", 0), ("r2", 1), ("run", 0), ("x", 0)]
    assert [(r.retry, r.failed) for r in rows] == [
        (False, True),
        (True, False),
        (False, False),
        (False, False),
    ]
    assert rows[2].duration_ms is None and rows[2].status == "running"
    assert rows[0].span["step"] == "Send"


def test_parent_cycles_do_not_hang_or_drop_spans() -> None:
    rows = span_tree([span("a", "b", 1, 1), span("b", "a", 0, 1), span("s", "s", 2, 1)])
    assert sorted(r.span_id for r in rows) == ["a", "b", "s"]
    assert [(r.span_id, r.depth) for r in rows] == [("s", 0), ("b", 0), ("a", 1)]


def test_empty_trace() -> None:
    assert span_tree([]) == []
    assert bar_geometry([], 40, 0) == []
    assert trace_window([], 0) == (0.0, 0.0)


def test_running_spans_end_now() -> None:
    rows = span_tree([span("r", None, 1000, 10), span("run", "r", 1005, None, status="running")])
    assert trace_window(rows, now_ms=1100) == (1000, 1100)
    assert rows[1].end(1100) == 1100
    assert rows[1].end(900) == 1005  # a clock behind the span never gives it negative length
    bars = bar_geometry(rows, 10, now_ms=1100)
    assert [render_bar(b, 10) for b in bars] == ["█         ", "█████████▌"]


def bars_at(width: int) -> dict[str, tuple[int, int, str]]:
    return {
        b.row.span_id: (b.start, b.eighths, render_bar(b, width))
        for b in bar_geometry(span_tree(TRACE), width, now_ms=0)
    }


def test_bars_at_width_10() -> None:
    assert bars_at(10) == {
        "r": (0, 80, "██████████"),
        "c": (0, 26, "███▎      "),
        "a": (1, 40, " █████    "),
        "b": (9, 1, "         ▏"),
    }


def test_bars_at_width_40() -> None:
    bars = bars_at(40)
    assert bars["r"] == (0, 320, "█" * 40)
    assert bars["c"] == (0, 106, "█" * 13 + "▎" + " " * 26)
    assert bars["a"] == (4, 160, " " * 4 + "█" * 20 + " " * 16)
    assert bars["b"] == (39, 2, " " * 39 + "▎")


def test_bars_at_width_120() -> None:
    bars = bars_at(120)
    assert bars["r"] == (0, 960, "█" * 120)
    assert bars["c"] == (0, 317, "█" * 39 + "▋" + " " * 80)
    assert bars["a"] == (12, 480, " " * 12 + "█" * 60 + " " * 48)
    assert bars["b"] == (118, 5, " " * 118 + "▋ ")


def test_zero_length_trace_still_shows_ticks() -> None:
    rows = span_tree([span("r", None, 5, 0), span("c", "r", 5, 0)])
    bars = bar_geometry(rows, 12, now_ms=0)
    assert [(b.start, b.eighths, b.cells) for b in bars] == [(0, 1, 1), (0, 1, 1)]
    assert render_bar(bars[0], 12) == "▏" + " " * 11


def test_bar_cells_and_clipping() -> None:
    row = span_tree([span("r", None, 0, 1)])[0]
    assert Bar(row, 2, 17).cells == 3
    assert Bar(row, 0, 16).cells == 2
    assert render_bar(Bar(row, 2, 17), 6) == "  ██▏ "
    assert render_bar(Bar(row, 2, 40), 4) == "  ██"  # a bar for a wider area is cut, not spilled


@pytest.mark.parametrize("seed", range(30))
def test_bars_never_overflow_and_always_show(seed: int) -> None:
    rnd = random.Random(seed)
    spans = [
        span(
            f"s{i}",
            None,
            rnd.uniform(0, 5000),
            rnd.choice([None, 0.0, rnd.uniform(0.001, 1.0), rnd.uniform(1, 3000)]),
        )
        for i in range(rnd.randint(1, 40))
    ]
    rows = span_tree(spans)
    for width in (10, 11, 17, 40, 80, 120, 333):
        for bar in bar_geometry(rows, width, now_ms=rnd.uniform(0, 9000)):
            text = render_bar(bar, width)
            assert len(text) == width
            assert bar.start + bar.cells <= width
            assert bar.eighths >= 1 and text.strip()


def test_widths_are_true_to_duration() -> None:
    rows = span_tree(
        [span("r", None, 0, 1000)] + [span(f"c{i}", "r", 0, i * 10) for i in range(1, 101)]
    )
    for width in (10, 40, 120):
        for bar in bar_geometry(rows, width, now_ms=0)[1:]:
            exact = bar.row.duration_ms / 1000 * width * 8
            assert abs(bar.eighths - exact) <= 0.5


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0ms"),
        (0.25, "0.25ms"),
        (0.999, "1ms"),
        (2, "2ms"),
        (12.5, "12.5ms"),
        (99.96, "100ms"),
        (125.4, "125ms"),
        (999.6, "1s"),
        (1234, "1.2s"),
        (12_500, "12.5s"),
        (59_960, "1m00s"),
        (125_000, "2m05s"),
        (3_720_000, "1h02m"),
        (-3, "0ms"),
    ],
)
def test_format_duration(ms: float, text: str) -> None:
    assert format_duration(ms) == text


@pytest.mark.parametrize(
    ("total", "width", "text"),
    [
        (100, 40, "0ms                 50ms           100ms"),
        (100, 10, "0ms  100ms"),
        (12.5, 40, "0ms             5ms               12.5ms"),
        (0.8, 30, "0ms               0.5ms  0.8ms"),
        (0, 12, "0ms         "),
        (100, 3, "0ms"),
        (100, 2, "  "),
        (100, 0, ""),
    ],
)
def test_axis_labels(total: float, width: int, text: str) -> None:
    assert axis_labels(total, width) == text


@pytest.mark.parametrize("width", [10, 13, 40, 77, 120, 250])
@pytest.mark.parametrize("total", [0.003, 1, 7.7, 100, 999, 2345, 61_000, 4_000_000])
def test_axis_labels_fit_and_do_not_touch(width: int, total: float) -> None:
    text = axis_labels(total, width)
    assert len(text) == width
    assert text.startswith("0ms")
    assert text.rstrip().endswith(format_duration(total))
    for label in text.split():  # labels that touched would fuse into one unparseable word
        assert LABEL.fullmatch(label), label


def test_axis_ticks_line_up_with_bars() -> None:
    text = axis_labels(100, 120)
    assert text.index("50ms") == 60
    rows = span_tree([span("r", None, 0, 100), span("half", "r", 50, 50)])
    assert bar_geometry(rows, 120, now_ms=0)[1].start == 60


def test_span_row_fields() -> None:
    row = span_tree([span("s", None, 3, 4, "Step", attempt=3, status="error")])[0]
    assert row == SpanRow(
        span_id="s",
        parent_id=None,
        step="Step",
        depth=0,
        attempt=3,
        status="error",
        start=3.0,
        duration_ms=4.0,
        retry=True,
        failed=True,
        span=row.span,
    )


RETRIED = [
    span("api", None, 0, 4, step="Api"),
    span("w1", "api", 5, 20, step="Work", status="error"),
    span("w2", "api", 1025, 3, step="Work", attempt=2, status="error"),
    span("w3", "api", 3028, 2, step="Work", attempt=3),
]


def test_backoff_gaps_are_squeezed_and_marked() -> None:
    rows = span_tree(RETRIED)
    width = 60
    bars, axis = waterfall_geometry(rows, width, now_ms=0)
    assert len(axis.gaps) == 2
    assert [(round(a), round(b)) for _cell, a, b in axis.gaps] == [(25, 1025), (1028, 3028)]
    by_id = {b.row.span_id: b for b in bars}
    assert by_id["w1"].cells > 10  # drawn to scale, 20 ms of 3030 would be a third of a cell
    assert by_id["w1"].start + by_id["w1"].cells <= min(c for c, _a, _b in axis.gaps)
    assert by_id["w2"].start > by_id["w1"].start + by_id["w1"].cells
    assert by_id["w3"].start > by_id["w2"].start
    for bar in bars:
        assert bar.start + bar.cells <= width
    text = gap_axis(axis, width)
    assert len(text) == width and text.startswith("0ms") and text.count(GAP_MARK) == 2
    assert "3.03s" in text or "3s" in text
    row = mark_gaps(render_bar(by_id["api"], width), axis.gap_cells)
    assert row.count(GAP_MARK) == 2


def test_a_trace_without_long_idle_stretches_stays_linear() -> None:
    rows = span_tree(TRACE)
    assert time_map(rows, 40, now_ms=0).gaps == ()
    assert time_map(span_tree(RETRIED), 4, now_ms=0).gaps == ()  # no room: linear
