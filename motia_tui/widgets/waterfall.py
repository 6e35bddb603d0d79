"""Geometry of a trace waterfall: row order, bar cells and the time axis.

Plain functions over span dicts so the waterfall widget only styles strings. Bars are drawn
with left-aligned eighth blocks: a bar's start snaps down to a cell boundary while its length
stays true to the duration to an eighth of a cell.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PARTIALS = " ▏▎▍▌▋▊▉"  # indexed by the filled eighths of the bar's last cell
FULL = "█"
TICK_SPACING = 10  # cells per axis tick at most, so labels like "12.5ms" never touch
GAP_MIN_SHARE = 0.25
"""An idle stretch longer than this share of the trace (a retry's backoff, a delayed
delivery) is compressed: drawn to scale, it would leave every bar one cell wide."""
GAP_CELLS = 3
GAP_MARK = "┊"


@dataclass(frozen=True)
class SpanRow:
    """One span in display order; `depth` is its indentation under the span that caused it."""

    span_id: str
    parent_id: str | None
    step: str
    depth: int
    attempt: int
    status: str
    start: float
    duration_ms: float | None
    retry: bool  # attempt > 1 of the same step
    failed: bool
    span: Mapping[str, Any]

    def end(self, now_ms: float) -> float:
        """Running spans (no duration yet) end now, never before they started."""
        if self.duration_ms is None:
            return max(self.start, now_ms)
        return self.start + self.duration_ms


@dataclass(frozen=True)
class Bar:
    """A span's bar: first cell and length in eighths of a cell."""

    row: SpanRow
    start: int
    eighths: int

    @property
    def cells(self) -> int:
        """Cells the bar touches, a partial last cell included."""
        return -(-self.eighths // 8)


def span_tree(spans: Iterable[Mapping[str, Any]]) -> list[SpanRow]:
    """Depth-first by cause, siblings by start; orphans and parent cycles become roots."""
    items = list(spans)
    index_of: dict[Any, int] = {}
    for i, span in enumerate(items):
        index_of.setdefault(span.get("spanId"), i)
    children: dict[int, list[int]] = {i: [] for i in range(len(items))}
    roots: list[int] = []
    for i, span in enumerate(items):
        parent = span.get("parentId")
        p = index_of.get(parent) if parent is not None else None
        if p is None or p == i:
            roots.append(i)
        else:
            children[p].append(i)

    def by_start(i: int) -> tuple[float, int]:
        return (float(items[i].get("start") or 0), i)

    rows: list[SpanRow] = []
    seen: set[int] = set()
    # Spans in a parent cycle are unreachable from any root: each gets its own walk.
    for root in sorted(roots, key=by_start) + sorted(range(len(items)), key=by_start):
        stack = [(root, 0)]
        while stack:
            i, depth = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            rows.append(_row(items[i], depth))
            stack.extend((k, depth + 1) for k in sorted(children[i], key=by_start, reverse=True))
    return rows


def trace_window(rows: Sequence[SpanRow], now_ms: float) -> tuple[float, float]:
    """Shared time axis: earliest start to latest end, running spans ending at `now_ms`."""
    if not rows:
        return (0.0, 0.0)
    return (min(r.start for r in rows), max(r.end(now_ms) for r in rows))


@dataclass(frozen=True)
class TimeMap:
    """Trace time to bar position in eighths of a cell, with long idle stretches (a retry's
    backoff) squeezed to `GAP_CELLS` cells each, so the work around them keeps its width."""

    pieces: tuple[tuple[float, float, float, float], ...]
    """(from ms, to ms, from eighth, to eighth), in order; a gap is a piece of its own."""
    gaps: tuple[tuple[int, float, float], ...] = ()
    """Each compressed gap: its marked cell, and the times it skips from and to."""

    def eighths(self, t: float) -> float:
        piece = next((p for p in self.pieces if t <= p[1]), self.pieces[-1])
        t_from, t_to, e_from, e_to = piece
        if t_to <= t_from:
            return e_from
        return e_from + min(1.0, max(0.0, (t - t_from) / (t_to - t_from))) * (e_to - e_from)

    @property
    def gap_cells(self) -> frozenset[int]:
        return frozenset(cell for cell, _from, _to in self.gaps)


def time_map(rows: Sequence[SpanRow], width: int, now_ms: float) -> TimeMap:
    """The axis for `width` cells: linear, except that every stretch where no span runs and
    that is longer than `GAP_MIN_SHARE` of the trace takes `GAP_CELLS` cells."""
    t0, t1 = trace_window(rows, now_ms)
    total = t1 - t0
    linear = TimeMap(((t0, t1, 0.0, float(width * 8)),))
    if total <= 0 or width <= 0:
        return linear
    gaps: list[tuple[float, float]] = []
    busy_until = t0
    for start, end in sorted((r.start, r.end(now_ms)) for r in rows):
        if start - busy_until > GAP_MIN_SHARE * total:
            gaps.append((busy_until, start))
        busy_until = max(busy_until, end)
    room = width - len(gaps) * (GAP_CELLS + 1)  # +1: a gap starts on a whole cell
    kept = total - sum(end - start for start, end in gaps)
    if not gaps or room < 2 * (len(gaps) + 1) or kept <= 0:
        return linear
    scale = room * 8 / kept
    pieces: list[tuple[float, float, float, float]] = []
    marks: list[tuple[int, float, float]] = []
    t, e = t0, 0.0
    for start, end in gaps:
        pieces.append((t, start, e, e + (start - t) * scale))
        e = math.ceil((e + (start - t) * scale) / 8) * 8.0
        pieces.append((start, end, e, e + GAP_CELLS * 8))
        marks.append((int(e // 8) + GAP_CELLS // 2, start, end))
        t, e = end, e + GAP_CELLS * 8
    pieces.append((t, t1, e, float(width * 8)))
    return TimeMap(tuple(pieces), tuple(marks))


def bar_geometry(rows: Sequence[SpanRow], width: int, now_ms: float) -> list[Bar]:
    """Bars for a `width`-cell area; every span gets at least one eighth, none overflows."""
    return waterfall_geometry(rows, width, now_ms)[0]


def waterfall_geometry(
    rows: Sequence[SpanRow], width: int, now_ms: float
) -> tuple[list[Bar], TimeMap]:
    """The bars and the time axis they are drawn on."""
    if not rows or width <= 0:
        return [], TimeMap(((0.0, 0.0, 0.0, 0.0),))
    axis = time_map(rows, width, now_ms)
    bars: list[Bar] = []
    for row in rows:
        first = axis.eighths(row.start)
        start = min(width - 1, int(first) // 8)
        eighths = max(1, round(axis.eighths(row.end(now_ms)) - first))
        bars.append(Bar(row=row, start=start, eighths=min(eighths, (width - start) * 8)))
    return bars, axis


def mark_gaps(text: str, cells: frozenset[int]) -> str:
    """A bar's text with the compressed gaps marked where the bar leaves them empty."""
    chars = list(text)
    for cell in cells:
        if 0 <= cell < len(chars) and chars[cell] == " ":
            chars[cell] = GAP_MARK
    return "".join(chars)


def gap_axis(axis: TimeMap, width: int) -> str:
    """Exactly `width` characters for an axis with compressed gaps: each gap's mark, and the
    time (from the trace's start) where each stretch of work begins, where it fits."""
    cells = [" "] * width
    placed: list[tuple[int, int]] = []

    def put(pos: int, text: str) -> None:
        stop = pos + len(text)
        if pos < 0 or stop > width or any(pos <= e and s <= stop for s, e in placed):
            return
        placed.append((pos, stop))
        cells[pos:stop] = text

    t0 = axis.pieces[0][0]
    for cell, _from, _to in axis.gaps:
        put(cell, GAP_MARK)
    put(0, format_duration(0))
    for cell, _from, to in axis.gaps:
        put(cell + GAP_CELLS // 2 + 1, format_duration(to - t0))
    end = format_duration(axis.pieces[-1][1] - t0)
    put(width - len(end), end)
    return "".join(cells)


def render_bar(bar: Bar, width: int) -> str:
    """Exactly `width` characters: padding, full blocks, then the partial last cell."""
    full, part = divmod(bar.eighths, 8)
    text = " " * bar.start + FULL * full + (PARTIALS[part] if part else "")
    return text[:width].ljust(width)


def format_duration(ms: float) -> str:
    """Short human duration: "0ms", "0.25ms", "12.5ms", "125ms", "1.2s", "2m05s", "1h02m"."""
    ms = max(ms, 0.0)
    if ms < 0.995:
        return _trim(f"{ms:.2f}") + "ms"
    if ms < 99.95:
        return _trim(f"{ms:.1f}") + "ms"
    if ms < 999.5:
        return f"{ms:.0f}ms"
    if ms < 59_950:
        return _trim(f"{ms / 1000:.1f}") + "s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def axis_labels(total_ms: float, width: int) -> str:
    """Exactly `width` characters: "0ms" at the left, the total at the right, nice ticks
    between, each tick label starting at the cell its time falls in (matching the bars)."""
    if width <= 0:
        return ""
    labels = [(0, format_duration(0))]
    if total_ms > 0:
        end = format_duration(total_ms)
        labels.append((width - len(end), end))
        step = _nice_step(total_ms / max(1, width // TICK_SPACING))
        k = 1
        while k * step < total_ms:
            labels.append((int(k * step / total_ms * width), format_duration(k * step)))
            k += 1
    cells = [" "] * width
    placed: list[tuple[int, int]] = []
    for pos, text in labels:
        stop = pos + len(text)
        if pos < 0 or stop > width or any(pos <= e and s <= stop for s, e in placed):
            continue  # off the edge, or not one blank away from a placed label
        placed.append((pos, stop))
        cells[pos:stop] = text
    return "".join(cells)


def _row(span: Mapping[str, Any], depth: int) -> SpanRow:
    attempt = int(span.get("attempt") or 1)
    status = str(span.get("status") or "running")
    duration = span.get("durationMs")
    parent = span.get("parentId")
    return SpanRow(
        span_id=str(span.get("spanId")),
        parent_id=None if parent is None else str(parent),
        step=str(span.get("step") or ""),
        depth=depth,
        attempt=attempt,
        status=status,
        start=float(span.get("start") or 0),
        duration_ms=None if duration is None else float(duration),
        retry=attempt > 1,
        failed=status == "error",
        span=span,
    )


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number


def _nice_step(raw: float) -> float:
    """Smallest 1, 2 or 5 times a power of ten that is at least `raw`."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
