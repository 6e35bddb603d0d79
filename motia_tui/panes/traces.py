"""The Traces pane: a live list of traces, and a waterfall of the one you open.

The list is kept from span events (a trace's summary is recomputed only when one of its
spans changes) and drawn through the line API, newest first. Opening a trace shows one bar
per span on a shared time axis, nested by cause, with the geometry from
`widgets/waterfall.py`; the selected span's input, output or error, emits, state operations
and logs are shown beneath it. The trace tools (`R`, `E`, `m`, `=`, `T`, `x`) act on the open
trace, or in the list on the selected one (`motia_tui.panes.trace_tools`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from rich.segment import Segment
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.widgets import ContentSwitcher, Input, Label, Static

from engine.events import WireEvent
from engine.trace_view import trace_summary
from motia_tui import messages
from motia_tui.log_buffer import clean
from motia_tui.panes import trace_tools
from motia_tui.source import EngineSource
from motia_tui.textual_hooks import StripCache
from motia_tui.widgets.line_view import LineView
from motia_tui.widgets.log_filter import format_record
from motia_tui.widgets.trace_book import TraceBook, TraceFilter
from motia_tui.widgets.waterfall import (
    Bar,
    SpanRow,
    TimeMap,
    axis_labels,
    format_duration,
    gap_axis,
    mark_gaps,
    render_bar,
    span_tree,
    waterfall_geometry,
)

RELOAD_LIMIT = 10_000
MARKS = {"ok": "✓", "error": "✗", "running": "●"}


def clock(time_ms: Any, tz: tzinfo | None) -> str:
    if not isinstance(time_ms, int | float):
        return "--:--:--.---"
    stamp = datetime.fromtimestamp(time_ms / 1000, tz)
    return f"{stamp:%H:%M:%S}.{int(time_ms) % 1000:03d}"


class _LineList(LineView, can_focus=True):
    """A cursor over cached lines: the part the trace list and the waterfall share."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, id="list-up"),
        Binding("down,j", "move(1)", "Down", show=False, id="list-down"),
        Binding("pageup", "move(-10)", "Page up", show=False, id="list-page-up"),
        Binding("pagedown", "move(10)", "Page down", show=False, id="list-page-down"),
        Binding("home,g", "move(-1000000000)", "First", show=False, id="list-first"),
        Binding("end,G", "move(1000000000)", "Last", show=False, id="list-last"),
    ]
    HEADER_LINES = 0

    def sync_size(self) -> None:
        self.set_line_count(self.line_count() + self.HEADER_LINES)

    def on_resize(self, event: events.Resize) -> None:
        self.sync_size()
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def move_to(self, line: int) -> None:
        count = self.line_count()
        if count == 0:
            return
        self.cursor = min(max(0, line), count - 1)
        self.scroll_cursor_visible()
        self.refresh()

    def scroll_cursor_visible(self) -> None:
        top = int(self.scroll_y)
        height = max(1, self.size.height - self.HEADER_LINES)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def on_click(self, event: events.Click) -> None:
        line = int(self.scroll_y) + event.y - self.HEADER_LINES
        if 0 <= line < self.line_count():
            self.move_to(line)


class TraceList(_LineList):
    """Traces newest first: status, start time, entry step, duration, spans, id."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "traces--ok",
        "traces--error",
        "traces--running",
        "traces--time",
        "traces--dim",
        "traces--cursor",
    }
    CURSOR_COMPONENT = "traces--cursor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open trace", id="traces-open"),
        Binding("y", "copy", "Copy id", id="traces-copy"),
    ]

    class Opened(Message):
        def __init__(self, trace_id: str) -> None:
            super().__init__()
            self.trace_id = trace_id

    def __init__(self, book: TraceBook, *, tz: tzinfo | None = None, id: str | None = None):
        super().__init__(id=id)
        self.book = book
        self.tz = tz
        self.filter = TraceFilter()
        self.order: list[str] = []
        self._strips: StripCache[str, Strip] = StripCache(512)
        self._selected: str | None = None
        self.marked: str | None = None

    def mark(self, trace_id: str | None) -> None:
        """Show `trace_id` (and no other) as the marked trace."""
        for changed in {self.marked, trace_id} - {None}:
            assert changed is not None
            self._strips.discard(changed)
        self.marked = trace_id
        self.refresh()

    def line_count(self) -> int:
        return len(self.order)

    def rebuild(self, touched: set[str], reordered: bool) -> None:
        """Recompute the visible order when traces came, went or may match differently."""
        for trace_id in touched:
            self._strips.discard(trace_id)
        if reordered or (touched and not self.filter.is_empty):
            book, flt = self.book, self.filter
            ids = reversed(book.summaries)
            if flt.is_empty:
                self.order = list(ids)
            else:
                self.order = [t for t in ids
                              if flt.matches(book.summary(t), book.steps_of(t),
                                             book.workers_of(t) if flt.worker else ())]
            if self._selected is not None and self.cursor > 0:
                try:
                    self.cursor = self.order.index(self._selected)
                except ValueError:
                    self.cursor = min(self.cursor, max(0, len(self.order) - 1))
            self.sync_size()
            self.scroll_cursor_visible()
        self._remember()
        self.refresh()

    def set_filter(self, text: str) -> None:
        self.filter = TraceFilter.parse(text)
        self.cursor = 0
        self.rebuild(set(), True)

    def watch_cursor(self, cursor: int) -> None:
        self._remember()

    def _remember(self) -> None:
        self._selected = self.order[self.cursor] if self.cursor < len(self.order) else None

    @property
    def selected(self) -> str | None:
        return self._selected

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        super().on_resize(event)

    def _row(self, trace_id: str, width: int) -> Strip:
        strip = self._strips.get(trace_id)
        if strip is not None:
            return strip
        summary = self.book.summary(trace_id)
        status = str(summary.get("status") or "running")
        duration = summary.get("durationMs")
        spans = summary.get("spans") or 0
        tail = (
            f" {format_duration(duration or 0):>7} {spans:>3} sp"
            + (f" {summary.get('errors')}✗" if summary.get("errors") else "   ")
            + f" {trace_id[:8]}"
            + (" ↻" if summary.get("rerunOf") else "")
        )
        head = f"{MARKS.get(status, '?')}{'◆' if trace_id == self.marked else ' '}"
        stamp = clock(summary.get("startedAt"), self.tz) + " "
        room = max(4, width - len(head) - len(stamp) - len(tail))
        entry = clean(str(summary.get("entry") or "?"))
        entry = entry[: room - 1] + "…" if len(entry) > room else entry.ljust(room)
        mark_style = self.style_of(f"traces--{status}" if status in MARKS else "traces--dim")
        strip = Strip(
            [
                Segment(head, mark_style),
                Segment(stamp, self.style_of("traces--time")),
                Segment(entry, mark_style if status == "error" else self.base_style),
                Segment(tail, self.style_of("traces--dim")),
            ]
        ).crop_extend(0, width, self.base_style)
        self._strips[trace_id] = strip
        return strip

    def line_strip(self, line: int, width: int) -> Strip:
        return self._row(self.order[line], width)

    def action_open(self) -> None:
        if self._selected is not None:
            self.post_message(self.Opened(self._selected))

    def action_copy(self) -> None:
        if self._selected is not None:
            self.app.copy_to_clipboard(self._selected)
            self.notify("copied the trace id", timeout=2)


class Waterfall(_LineList):
    """One bar per span on a shared time axis; the first line is the axis, pinned."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "waterfall--axis",
        "waterfall--ok",
        "waterfall--error",
        "waterfall--running",
        "waterfall--label",
        "waterfall--retry",
        "waterfall--cursor",
        "waterfall--selected",
    }
    HEADER_LINES = 1
    LABEL_MIN, LABEL_MAX, DURATION = 12, 30, 8
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "copy", "Copy span", id="waterfall-copy"),
    ]

    class SpanSelected(Message):
        def __init__(self, span: Mapping[str, Any] | None) -> None:
            super().__init__()
            self.span = span

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[SpanRow] = []
        self._bars: list[Bar] = []
        self._axis: TimeMap | None = None
        self._geometry_key: tuple[int, float] | None = None

    def line_count(self) -> int:
        return len(self.rows)

    def sync_size(self) -> None:
        """The waterfall's height follows its rows, so here a layout pass is wanted."""
        self.virtual_size = Size(self.size.width, len(self.rows) + self.HEADER_LINES)

    def show(self, spans: Iterable[Mapping[str, Any]], *, keep_cursor: bool) -> None:
        selected = self.rows[self.cursor].span_id if keep_cursor and self.rows else None
        self.rows = span_tree(sorted(spans, key=lambda s: s.get("start") or 0))
        self._geometry_key = None
        if not keep_cursor:
            self.cursor = 0
            self.scroll_to(y=0, animate=False, immediate=True)
        elif selected is not None:
            ids = [row.span_id for row in self.rows]
            self.cursor = ids.index(selected) if selected in ids else 0
        self.sync_size()
        self.refresh()
        self._announce()

    @property
    def running(self) -> bool:
        return any(row.duration_ms is None for row in self.rows)

    def select_span(self, span_id: str) -> bool:
        """Put the cursor on a span; False while the trace does not hold it yet."""
        for line, row in enumerate(self.rows):
            if row.span_id == span_id:
                self.move_to(line)
                return True
        return False

    def watch_cursor(self, cursor: int) -> None:
        self._announce()

    def _announce(self) -> None:
        span = self.rows[self.cursor].span if self.cursor < len(self.rows) else None
        self.post_message(self.SpanSelected(span))

    def action_copy(self) -> None:
        if self.cursor < len(self.rows):
            span = self.rows[self.cursor].span
            self.app.copy_to_clipboard(json.dumps(span, ensure_ascii=False, default=repr))
            self.notify("copied the span", timeout=2)

    def _columns(self, width: int) -> tuple[int, int]:
        widest = max(
            (row.depth * 2 + 2 + len(row.step) + (3 if row.retry else 0) for row in self.rows),
            default=0,
        )
        label = min(max(self.LABEL_MIN, widest + 1), self.LABEL_MAX, max(4, width // 3))
        return label, max(1, width - label - self.DURATION - 1)

    def _geometry(self, bar_width: int) -> list[Bar]:
        now = time.time() * 1000
        key = (bar_width, now if self.running else 0.0)
        if key != self._geometry_key:
            self._bars, self._axis = waterfall_geometry(self.rows, bar_width, now)
            self._geometry_key = key
        return self._bars

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.base_style
        label_width, bar_width = self._columns(width)
        bars = self._geometry(bar_width)
        if y == 0:
            total = bars and max(b.row.end(time.time() * 1000) for b in bars) - min(
                b.row.start for b in bars
            )
            if self._axis is not None and self._axis.gaps:
                ticks = gap_axis(self._axis, bar_width)
            else:
                ticks = axis_labels(float(total or 0), bar_width)
            axis = " " * label_width + ticks
            return Strip([Segment(axis, self.style_of("waterfall--axis"))]).crop_extend(
                0, width, base
            )
        line = int(self.scroll_y) + y - 1
        if line >= len(self.rows):
            return Strip.blank(width, base)
        row, bar = self.rows[line], bars[line]
        status = "error" if row.failed else ("running" if row.duration_ms is None else "ok")
        name = clean(row.step)
        retry = f" ⟳{row.attempt}" if row.retry else ""
        selected = line == self.cursor
        indent = ("▶ " if selected else "  ") + "  " * row.depth
        room = max(1, label_width - len(indent) - len(retry) - 1)
        name = name[: room - 1] + "…" if len(name) > room else name
        label = f"{indent}{name}".ljust(label_width - len(retry))
        duration = format_duration(row.duration_ms) if row.duration_ms is not None else "…"
        gaps = self._axis.gap_cells if self._axis is not None else frozenset()
        segments = [
            Segment(label, self.style_of("waterfall--selected" if selected
                                         else "waterfall--label")),
            Segment(retry, self.style_of("waterfall--retry")),
            Segment(mark_gaps(render_bar(bar, bar_width), gaps),
                    self.style_of(f"waterfall--{status}")),
            Segment(f"{duration:>{self.DURATION}}", base),
        ]
        strip = Strip(segments).crop_extend(0, width, base)
        if selected:
            strip = strip.apply_style(
                self.component("waterfall--cursor" if self.has_focus else "waterfall--selected")
            )
        return strip


def _detail_line(detail: Any) -> str:
    """One validation problem (`{"field", "message"}`, as a 400 names it) on one line."""
    if isinstance(detail, dict) and "field" in detail:
        return f"{detail['field']}: {detail.get('message', '')}"
    return json.dumps(detail, ensure_ascii=False, default=repr)


def span_details(span: Mapping[str, Any], tz: tzinfo | None = None) -> Content:
    """The selected span, section by section, as plain styled text."""
    parts: list[tuple[str, str] | str] = []

    def section(title: str) -> None:
        parts.append((f"\n── {title}\n", "bold"))

    def block(value: Any) -> None:
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value, indent=2, ensure_ascii=False, default=repr)
        )
        parts.append(clean(text) + "\n")

    duration = span.get("durationMs")
    parts.append(
        (
            f"{span.get('step')} · {span.get('kind', '')} · attempt {span.get('attempt', 1)} · "
            f"{span.get('status')} · "
            + (format_duration(duration) if duration is not None else "running")
            + (f" · on {clean(str(span['worker']))}" if span.get("worker") else "")
            + "\n",
            "bold",
        )
    )
    section("input")
    block(span.get("input"))
    error = span.get("error")
    if error:
        section("error")
        block(str(error.get("message", error)) if isinstance(error, dict) else str(error))
        if isinstance(error, dict) and isinstance(error.get("details"), list):
            block("\n".join(_detail_line(d) for d in error["details"]))
        if isinstance(error, dict) and error.get("traceback"):
            block(str(error["traceback"]))
    elif "output" in span:
        section("output")
        block(span.get("output"))
    emits = span.get("emits") or []
    section(f"emits ({len(emits)})")
    for emit in emits:
        subscribers = emit.get("subscribers")
        parts.append(
            clean(f"{emit.get('topic')} → {subscribers} subscriber(s)  ")
            + clean(json.dumps(emit.get("data"), ensure_ascii=False, default=repr))
            + "\n"
        )
    ops = span.get("stateOps") or []
    section(f"state ({len(ops)})")
    for op in ops:
        where = (
            f"{op.get('group')}/{op.get('key')}" if op.get("key") is not None else op.get("group")
        )
        value = (
            " = " + json.dumps(op.get("value"), ensure_ascii=False, default=repr)
            if "value" in op
            else ""
        )
        found = "" if "found" not in op else (" (found)" if op["found"] else " (absent)")
        was = (
            " (was " + json.dumps(op["previous"], ensure_ascii=False, default=repr) + ")"
            if "previous" in op
            else ""
        )
        parts.append(clean(f"{op.get('op')} {where}{value}{found}{was}") + "\n")
    logs = span.get("logs") or []
    section(f"logs ({len(logs)})")
    for record in logs:
        parts.append(clean("".join(text for text, _style in format_record(record, tz))) + "\n")
    return Content.assemble(*parts)


class TracesPane(trace_tools.TraceToolKeys, Vertical):
    """The list, or one trace's waterfall and span details (Enter opens, Esc goes back)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "open_filter", "Filter", id="traces-filter"),
        Binding("escape", "back", "Back", id="traces-back"),
        Binding("l", "trace_logs", "Trace logs", id="traces-logs"),
        Binding("R", "rerun", "Re-run", show=False, id="traces-rerun"),
        Binding("E", "rerun_from_span", "Re-run span", show=False, id="traces-rerun-span"),
        Binding("m", "mark", "Mark", show=False, id="traces-mark"),
        Binding("equals_sign", "diff_with_marked", "Diff marked", show=False, id="traces-diff"),
        Binding("T", "write_test", "Write test", show=False, id="traces-test"),
        Binding("x", "export", "Export", show=False, id="traces-export"),
    ]

    def __init__(self, source: EngineSource, *, tz: tzinfo | None = None) -> None:
        super().__init__()
        self.source = source
        self.tz = tz
        self.book = TraceBook()
        self.open_id: str | None = None
        self._wanted_span: str | None = None

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="traces-list-page", id="traces-switcher"):
            with Vertical(id="traces-list-page"):
                yield Label("", id="traces-status", classes="pane-status")
                yield TraceList(self.book, tz=self.tz, id="traces-list")
                yield Input(
                    placeholder="status:error step:Name text",
                    id="traces-filter",
                    classes="pane-filter",
                )
            with Vertical(id="traces-detail-page"):
                yield Label("", id="trace-title", classes="pane-status")
                yield Waterfall(id="waterfall")
                with VerticalScroll(id="span-detail"):
                    yield Static("", id="span-body", markup=False)

    def on_mount(self) -> None:
        self.set_interval(0.5, self._animate_running)
        self._show_status()

    @property
    def trace_list(self) -> TraceList:
        return self.query_one(TraceList)

    @property
    def waterfall(self) -> Waterfall:
        return self.query_one(Waterfall)

    # -- the workbench contract ------------------------------------------------------------

    def apply_events(self, events_: list[WireEvent]) -> None:
        touched, reordered = self.book.apply(events_)
        if not touched:
            return
        self.trace_list.rebuild(touched, reordered)
        self._show_status()
        if self.book.incomplete:
            self._complete(set(self.book.incomplete))
        if self.open_id in touched:
            self._show_open(keep_cursor=True)

    async def reload(self) -> None:
        self.book.load(await self.source.traces(limit=RELOAD_LIMIT))
        self.trace_list.rebuild(set(), True)
        self._show_status()
        if self.open_id is not None:
            await self._fetch(self.open_id)

    # -- opening a trace -------------------------------------------------------------------

    def open_trace(self, trace_id: str, span_id: str | None = None) -> None:
        """Show a trace's waterfall (from the list, or another pane's `OpenTrace`), with
        `span_id` selected once its span is known (else the first)."""
        self.open_id = trace_id
        self._wanted_span = span_id
        self.query_one(ContentSwitcher).current = "traces-detail-page"
        if trace_id in self.book.spans and trace_id not in self.book.incomplete:
            self._show_open(keep_cursor=False)
        else:
            self.query_one("#trace-title", Label).update(f"trace {trace_id} · loading…")
            self.waterfall.show([], keep_cursor=False)
            self._load_open(trace_id)
        self.waterfall.focus()

    @work(exclusive=True, group="trace-open")
    async def _load_open(self, trace_id: str) -> None:
        await self._fetch(trace_id)

    async def _fetch(self, trace_id: str) -> None:
        detail = await self.source.trace(trace_id)
        if detail is None:
            if trace_id == self.open_id:
                self.query_one("#trace-title", Label).update(f"trace {trace_id} · not found")
            return
        self.book.put_trace(detail)
        self.trace_list.rebuild({trace_id}, False)
        if trace_id == self.open_id:
            self._show_open(keep_cursor=trace_id == self.open_id and bool(self.waterfall.rows))

    @work(group="trace-complete")
    async def _complete(self, trace_ids: set[str]) -> None:
        for trace_id in trace_ids:
            await self._fetch(trace_id)

    def _show_open(self, *, keep_cursor: bool) -> None:
        trace_id = self.open_id
        if trace_id is None:
            return
        spans = list(self.book.spans.get(trace_id, {}).values())
        summary = (
            self.book.summary(trace_id)
            if trace_id in self.book.summaries
            else trace_summary(trace_id, spans)
        )
        self.query_one("#trace-title", Label).update(
            f"trace {trace_id[:8]} · {summary.get('status')} · "
            f"{format_duration(summary.get('durationMs') or 0)} · {len(spans)} "
            f"span{'s' if len(spans) != 1 else ''} · "
            f"{summary.get('entry')}{self._links(trace_id, summary)}"
        )
        self.waterfall.show(spans, keep_cursor=keep_cursor)
        if self._wanted_span is not None and self.waterfall.select_span(self._wanted_span):
            self._wanted_span = None

    def _links(self, trace_id: str, summary: Mapping[str, Any]) -> str:
        """` · re-run of X · re-run as Y, Z`: the link between a trace and its re-runs."""
        text = ""
        original, span = summary.get("rerunOf"), summary.get("rerunOfSpan")
        if original:
            text += f" · re-run of {str(original)[:8]}"
            text += f" from span {str(span)[:8]}" if span else ""
        reruns = self.book.reruns_of(trace_id)
        if reruns:
            text += " · re-run as " + ", ".join(t[:8] for t in reruns)
        if summary.get("imported"):
            text += " · imported"
        return text

    def _animate_running(self) -> None:
        if self.open_id is not None and self.waterfall.running:
            self.waterfall.refresh()

    @on(TraceList.Opened)
    def _opened(self, event: TraceList.Opened) -> None:
        self.open_trace(event.trace_id)

    @on(Waterfall.SpanSelected)
    def _span_selected(self, event: Waterfall.SpanSelected) -> None:
        body = self.query_one("#span-body", Static)
        body.update(span_details(event.span, self.tz) if event.span is not None else "")

    def action_back(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        if switcher.current == "traces-detail-page":
            self.open_id = None
            switcher.current = "traces-list-page"
            self.trace_list.focus()
            return
        box = self.query_one("#traces-filter", Input)
        if box.has_class("-open") or box.value:
            box.value = ""
            box.remove_class("-open")
            self.trace_list.set_filter("")
            self._show_status()
            self.trace_list.focus()

    def action_trace_logs(self) -> None:
        trace_id = self.open_id or self.trace_list.selected
        if trace_id is not None:
            self.post_message(messages.OpenLogs(f"trace:{trace_id}"))

    # -- filtering -------------------------------------------------------------------------

    def action_open_filter(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "traces-list-page"
        self.open_id = None
        box = self.query_one("#traces-filter", Input)
        box.add_class("-open")
        box.focus()

    def set_filter(self, text: str) -> None:
        self.query_one("#traces-filter", Input).value = text
        self.trace_list.set_filter(text)
        self._show_status()

    @on(Input.Changed, "#traces-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.trace_list.set_filter(event.value)
        self._show_status()

    @on(Input.Submitted, "#traces-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.input.remove_class("-open")
        self.trace_list.focus()

    def _show_status(self) -> None:
        shown, held = len(self.trace_list.order), len(self.book)
        text = f"{held:,} traces"
        if not self.trace_list.filter.is_empty:
            value = self.query_one("#traces-filter", Input).value
            text += f"  ·  {shown:,} match {value!r}"
        self.query_one("#traces-status", Label).update(
            text + "  ·  Enter opens, / filters", layout=False
        )
