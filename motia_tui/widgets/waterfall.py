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


def bar_geometry(rows: Sequence[SpanRow], width: int, now_ms: float) -> list[Bar]:
    """Bars for a `width`-cell area; every span gets at least one eighth, none overflows."""
    if not rows or width <= 0:
        return []
    t0, t1 = trace_window(rows, now_ms)
    total = t1 - t0
    scale = width * 8 / total if total > 0 else 0.0  # eighths per millisecond
    bars: list[Bar] = []
    for row in rows:
        start = min(width - 1, int((row.start - t0) * scale) // 8)
        eighths = max(1, round((row.end(now_ms) - row.start) * scale))
        bars.append(Bar(row=row, start=start, eighths=min(eighths, (width - start) * 8)))
    return bars


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
