"""The Workers pane: the live workers of a Redis cluster, and which of them ran which span.

Shown only when the source is a cluster (`source.cluster()` answers something). The workers
come from their heartbeat keys, as the engine's health call reports them, read again every
second while the pane is on screen: a worker that dies leaves the list once its heartbeat
expires. Every span names the worker that ran it; the pane counts the spans it sees end per
worker, and lists the newest of the selected worker's, Enter opening one in Traces.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Label

from engine import events as ev
from engine.events import WireEvent
from motia_tui import messages
from motia_tui.log_buffer import clean
from motia_tui.panes.dead_letters import format_age
from motia_tui.source import EngineSource, SourceError
from motia_tui.widgets.keyed_table import KeyedTable, row_keys

REFRESH_S = 1.0
"""Heartbeats renew once a second; reading them more often shows nothing new."""
SPANS_KEPT = 200
"""Spans listed per worker, newest first."""
WORKERS_KEPT = 64
"""Workers whose spans are remembered (restarted workers come back under new names)."""
WORKER_COLUMNS = (("name", "Worker", 0), ("host", "Host · pid", 22), ("up", "Up", 4),
                  ("beat", "Beat", 4), ("holds", "Holds", 5), ("spans", "Spans", 6))
SPAN_COLUMNS = (("time", "Time", 12), ("step", "Step", 0), ("status", "Status", 7),
                ("took", "Took", 8), ("trace", "Trace", 8))

Worker = dict[str, Any]


def _fit(text: str, width: int) -> str:
    text = clean(text).replace("\n", " ")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _widths(columns: tuple[tuple[str, str, int], ...], width: int) -> tuple[int, ...]:
    """Fixed columns as declared; the one declared 0 gets what the others leave."""
    fixed = sum(w for _key, _title, w in columns)
    rest = max(10, max(width, 40) - fixed - 2 * len(columns) - 2)
    return tuple(w or rest for _key, _title, w in columns)


def _took(duration_ms: Any) -> str:
    if duration_ms is None:
        return "…"
    ms = float(duration_ms)
    return f"{ms:.1f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"


class WorkerTable(KeyedTable):
    """One row a live worker; Enter goes to the spans it ran."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *row_keys("workers"),
        Binding("enter", "spans", "Its spans", id="workers-spans"),
    ]

    def action_spans(self) -> None:
        spans = self.screen.query_one("#workers-spans-table", SpanTable)
        if spans.row_count:
            spans.focus()


class SpanTable(KeyedTable):
    """The selected worker's newest spans; Enter opens one in Traces, Esc goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *row_keys("workers-spans"),
        Binding("enter", "open", "Open trace", id="workers-spans-open"),
        Binding("escape", "back", "Workers", id="workers-spans-back"),
    ]

    class Opened(Message):
        def __init__(self, span_id: str) -> None:
            super().__init__()
            self.span_id = span_id

    def action_open(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.Opened(key))

    def action_back(self) -> None:
        self.screen.query_one("#workers-table", WorkerTable).focus()


class WorkersPane(Vertical):
    """A status line, the live workers, and the spans the selected one ran."""

    class _Loaded(Message):
        def __init__(self, cluster: Mapping[str, Any] | None) -> None:
            super().__init__()
            self.cluster = cluster

    def __init__(
        self, source: EngineSource, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self.cluster: Mapping[str, Any] | None = None
        """The cluster as the engine's health call last said it; None: not a cluster."""
        self.live: list[Worker] = []
        self.spans: OrderedDict[str, deque[dict[str, Any]]] = OrderedDict()
        """Per worker, the newest spans seen ending on it (newest last)."""
        self.counts: dict[str, int] = {}
        self._span_rows: dict[str, dict[str, Any]] = {}
        self._shown_worker: str | None = None
        self._widths: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())

    def compose(self) -> ComposeResult:
        yield Label("", id="workers-status", classes="pane-status")
        table = WorkerTable(id="workers-table", cursor_type="row")
        table.zebra_stripes = False
        yield table
        yield Label("", id="workers-spans-title", classes="pane-status")
        spans = SpanTable(id="workers-spans-table", cursor_type="row")
        spans.zebra_stripes = False
        yield spans

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self._refresh)
        self._show()

    def on_resize(self) -> None:
        self._show()

    # -- the pane contract ------------------------------------------------------------

    async def reload(self) -> None:
        try:
            cluster = await self.source.cluster()
        except SourceError:
            return
        self.post_message(self._Loaded(cluster))

    def apply_events(self, events: list[WireEvent]) -> None:
        changed = False
        for event in events:
            if event["type"] != ev.SPAN_END:
                continue
            span = event["data"]
            worker = span.get("worker")
            if not worker:
                continue
            kept = self.spans.get(worker)
            if kept is None:
                kept = self.spans[worker] = deque(maxlen=SPANS_KEPT)
                while len(self.spans) > WORKERS_KEPT:
                    gone, _spans = self.spans.popitem(last=False)
                    self.counts.pop(gone, None)
            self.spans.move_to_end(worker)
            kept.append({k: span.get(k) for k in
                         ("spanId", "traceId", "step", "status", "start", "durationMs")})
            self.counts[worker] = self.counts.get(worker, 0) + 1
            changed = True
        if changed and self.is_on_screen:
            self._show()

    def _refresh(self) -> None:
        if self.is_on_screen and self.cluster is not None:
            self.run_worker(self.reload(), group="workers", exclusive=True)
        elif self.is_on_screen:
            self._show()

    @on(_Loaded)
    def _loaded(self, message: _Loaded) -> None:
        self.cluster = message.cluster
        workers = (message.cluster or {}).get("workers") or []
        self.live = sorted((dict(w) for w in workers if isinstance(w, dict)),
                              key=lambda w: str(w.get("name")))
        self._show()

    # -- drawing ----------------------------------------------------------------------

    @property
    def table(self) -> WorkerTable:
        return self.query_one(WorkerTable)

    @property
    def span_table(self) -> SpanTable:
        return self.query_one(SpanTable)

    def _show(self) -> None:
        if not self.is_mounted:
            return
        width = self.size.width
        widths = (_widths(WORKER_COLUMNS, width), _widths(SPAN_COLUMNS, width))
        columns_changed = widths != self._widths
        self._widths = widths
        table = self.table
        selected = table.selected_key
        table.clear(columns=columns_changed)
        if columns_changed:
            for (key, title, _w), w in zip(WORKER_COLUMNS, widths[0], strict=True):
                table.add_column(title, key=key, width=w)
        now = self.clock()
        names = []
        for worker in self.live:
            name = str(worker.get("name"))
            names.append(name)
            table.add_row(*self._worker_cells(worker, widths[0], now), key=name)
        if selected in names:
            table.move_cursor(row=names.index(selected))
        self._show_status(now)
        self._show_spans(table.selected_key, widths[1], columns_changed)

    def _worker_cells(self, worker: Mapping[str, Any], widths: tuple[int, ...],
                      now: float) -> list[str]:
        name = str(worker.get("name"))
        mine = name == (self.cluster or {}).get("consumer")
        started = float(worker.get("started") or 0) / 1000
        beat = worker.get("beat")
        values = (
            name + (" (this one)" if mine else "") + (" draining" if worker.get("draining")
                                                      else ""),
            f"{worker.get('host')} · {worker.get('pid')}",
            format_age(now - started) if started else "",
            format_age(now - float(beat) / 1000) if beat else "",
            worker.get("claimed", ""),
            self.counts.get(name, 0),
        )
        return [_fit(str(v), w) for v, w in zip(values, widths, strict=True)]

    def _show_status(self, now: float) -> None:
        count = len(self.live)
        pending = (self.cluster or {}).get("pending") or {}
        parts = [f"{count} live worker{'s' if count != 1 else ''}"]
        if pending:
            parts.append("pending " + ", ".join(f"{step} {n}" for step, n in
                                                sorted(pending.items())))
        parts.append("spans: those seen end since the workbench opened")
        self.query_one("#workers-status", Label).update("  ·  ".join(parts))

    def _show_spans(self, worker: str | None, widths: tuple[int, ...],
                    columns_changed: bool) -> None:
        spans_table = self.span_table
        selected = spans_table.selected_key if worker == self._shown_worker else None
        self._shown_worker = worker
        spans_table.clear(columns=columns_changed)
        if columns_changed:
            for (key, title, _w), w in zip(SPAN_COLUMNS, widths, strict=True):
                spans_table.add_column(title, key=key, width=w)
        kept = list(reversed(self.spans.get(worker or "", ())))
        self._span_rows = {str(span["spanId"]): span for span in kept}
        for span in kept:
            clock = time.strftime("%H:%M:%S", time.localtime(float(span["start"] or 0) / 1000))
            values = (clock + f".{int(float(span['start'] or 0)) % 1000:03d}", span["step"],
                      span["status"], _took(span["durationMs"]), str(span["traceId"])[:8])
            spans_table.add_row(*[_fit(str(v), w) for v, w in zip(values, widths, strict=True)],
                                key=str(span["spanId"]))
        if selected in self._span_rows:
            spans_table.move_cursor(row=list(self._span_rows).index(selected))
        heading = self.query_one("#workers-spans-title", Label)
        if worker is None:
            heading.update("no live worker")
        else:
            heading.update(f"spans run by {clean(worker)}: {len(kept)} shown, newest first"
                         + ("  ·  enter opens one in Traces" if kept else ""))

    @on(DataTable.RowHighlighted, "#workers-table")
    def _worker_highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.row_key.value != self._shown_worker:
            self._show_spans(message.row_key.value, self._widths[1], False)

    @on(SpanTable.Opened)
    def _opened(self, message: SpanTable.Opened) -> None:
        span = self._span_rows.get(message.span_id)
        if span is not None:
            self.post_message(messages.OpenTrace(str(span["traceId"]), message.span_id))
