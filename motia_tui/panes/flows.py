"""The Flows pane: every flow as a live graph, with the selected step's config beside it.

Node counters come from `source.stats()` at load and are bumped by span events in between;
edge queue counts can only be read from stats, so stats are fetched again (coalesced) while
anything runs or waits. Hot reload events reload the graph at once; a step whose file no
longer loads keeps its last node, drawn as broken, with the reason in the side panel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Select, Static

from engine import events as ev
from engine.events import SpanData, WireEvent
from motia_tui.messages import OpenEndpoint
from motia_tui.source import EngineSource
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.flow_canvas import (
    RUNNING_MARK,
    FlowCanvas,
    with_counters,
    with_next_fires,
)
from motia_tui.widgets.graph_layout import SCALES, FlowLayout, layout_flow, node_label
from motia_tui.widgets.graph_render import ERROR_MARK, HEIGHTS, render_flow
from motia_tui.widgets.json_editor import pretty

STATS_INTERVAL_S = 0.5
"""How often queue counts are re-read while something runs: live, yet cheap when attached."""
DETAIL_KEYS = ("bodySchema", "queryParams", "input", "infrastructure", "warnings")
NO_FLOWS = (
    "No flows yet. A step joins a flow through its config, e.g.\n"
    '    "flows": ["orders"]\n'
    "Every step naming the same flow is drawn in one graph here."
)

Counters = dict[str, int]
Levels = tuple[int, int]
"""A drawing's zoom: an index into `SCALES` (along) and one into `HEIGHTS` (across)."""
FULL_DRAWING: Levels = (len(SCALES) - 1, len(HEIGHTS) - 1)


def fire_time(when_s: float, now_s: float, tz: tzinfo | None, *, short: bool = False) -> str:
    """A cron step's next fire: the time today, the date too on another day. `short` fits
    a box beside its schedule (`03:05`, `Jan 1`); the side panel has the long form."""
    when = datetime.fromtimestamp(when_s, tz)
    today = datetime.fromtimestamp(now_s, tz).date()
    if when.date() == today:
        return when.strftime("%H:%M" if short else "%H:%M:%S")
    day = f"{when.strftime('%b')} {when.day}"
    return day if short else f"{day} {when.strftime('%H:%M')}"


def fire_countdown(when_s: float, now_s: float) -> str:
    seconds = max(0, int(when_s - now_s))
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "m")):
        if seconds >= size:
            return f"in {seconds // size}{unit}"
    return f"in {seconds}s"


@dataclass
class FlowsModel:
    """What the pane knows; redrawn from on each coalesced refresh."""

    flows: list[dict[str, Any]] = field(default_factory=list)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Counters] = field(default_factory=dict)
    queued: dict[tuple[str, str], int] = field(default_factory=dict)
    next_fires: dict[str, float] = field(default_factory=dict)

    def apply_stats(self, stats: Mapping[str, Any]) -> None:
        self.next_fires = {
            str(name): float(when) for name, when in (stats.get("cron") or {}).items()
        }
        self.counters = {
            name: {k: int(v.get(k, 0)) for k in ("runs", "failures", "running")}
            for name, v in (stats.get("steps") or {}).items()
        }
        self.queued = {
            (str(e.get("topic")), str(e.get("to"))): int(e.get("queued") or 0)
            for e in stats.get("edges") or []
        }

    def apply_span(self, started: bool, span: SpanData) -> None:
        counters = self.counters.setdefault(
            str(span.get("step")), {"runs": 0, "failures": 0, "running": 0}
        )
        if started:
            counters["running"] += 1
            return
        counters["running"] = max(0, counters["running"] - 1)
        counters["runs"] += 1
        if span.get("status") == "error":
            counters["failures"] += 1

    def broken(self, flow: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Nodes whose file failed to load on its last change, with the error."""
        result: dict[str, dict[str, Any]] = {}
        for error in self.errors:
            failed = [str(error.get("file") or ""), *map(str, error.get("importedBy") or [])]
            for node in flow.get("nodes") or []:
                path = str(node.get("file") or "")
                if path and any(f == path or f.endswith("/" + path.lstrip("/")) for f in failed):
                    result[str(node["id"])] = error
        return result

    def is_busy(self) -> bool:
        return any(self.queued.values()) or any(c["running"] for c in self.counters.values())


class FlowsPane(Vertical):
    """Flow graphs with live counters; Enter opens an api step (posting `OpenEndpoint` for
    the workbench) or asks to trigger a cron step."""

    BINDINGS = [
        Binding("]", "cycle_flow(1)", "Next flow", id="flows-next-flow"),
        Binding("[", "cycle_flow(-1)", "Previous flow", id="flows-previous-flow"),
        Binding("f", "fit", "Fit", id="flows-fit"),
        Binding("plus", "zoom(1)", "Zoom in", id="flows-zoom-in"),
        Binding("minus", "zoom(-1)", "Zoom out", id="flows-zoom-out"),
        Binding("p", "toggle_panel", "Panel", id="flows-toggle-panel"),
        Binding("s", "pick_flow", "Pick flow", show=False, id="flows-pick-flow"),
        Binding("x", "purge_queue", "Purge queue", show=False, id="flows-purge-queue"),
    ]

    class _Loaded(Message):
        def __init__(self, flows: Any, steps: Any, stats: Any) -> None:
            super().__init__()
            self.flows = flows
            self.steps = steps
            self.stats = stats

    class _StatsRead(Message):
        def __init__(self, stats: Any) -> None:
            super().__init__()
            self.stats = stats

    class _CronTriggered(Message):
        def __init__(self, name: str, trace_id: str | None, error: str | None) -> None:
            super().__init__()
            self.name = name
            self.trace_id = trace_id
            self.error = error

    def __init__(
        self,
        source: EngineSource,
        *,
        id: str | None = None,
        tz: tzinfo | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(id=id)
        self.source = source
        self.tz = tz
        self.clock = clock
        """Seconds since the epoch, for cron countdowns; the snapshot tests freeze it."""
        self.model = FlowsModel()
        self._flow_name: str | None = None
        self._layouts: dict[tuple[str, int], FlowLayout] = {}
        self.zoom: Levels | None = FULL_DRAWING
        """The drawing shown before `+`/`-`: its scale along and its height across (indexes
        into `SCALES` and `HEIGHTS`; the full drawing at first), or None to fit the canvas in
        both (`f`), again after every resize."""
        self.zoom_steps = 0
        """`+` less `-` since `zoom` was set: both levels move by it, each within its range,
        so `-` undoes `+` even where one level was already at its end."""
        self._fitted: dict[tuple[str, int, int], Levels] = {}
        self._stats_wanted = False
        self._detail_shown: Any = None

    def compose(self) -> ComposeResult:
        yield Select[str]([], prompt="flow", allow_blank=True, id="flows-picker")
        yield Static("", markup=False, id="flows-errors")
        with Horizontal(id="flows-body"):
            yield FlowCanvas(id="flows-canvas")
            yield Static(NO_FLOWS, markup=False, id="flows-empty")
            with VerticalScroll(id="flows-detail"):
                yield Static("", id="flows-detail-text")

    def on_mount(self) -> None:
        picker = self.query_one("#flows-picker")
        picker.display = False
        picker.disabled = True
        self.query_one("#flows-errors").display = False
        self.query_one("#flows-empty").display = False
        self.set_interval(STATS_INTERVAL_S, self._maybe_read_stats)

    def on_resize(self) -> None:
        self._redraw()

    # -- the pane contract ------------------------------------------------------------

    async def reload(self) -> None:
        flows, steps, stats = await asyncio.gather(
            self.source.flows(), self.source.steps(), self.source.stats()
        )
        self.post_message(self._Loaded(flows, steps, stats))

    def apply_events(self, events: list[WireEvent]) -> None:
        spans = reload = False
        for event in events:
            if event["type"] == ev.SPAN_START or event["type"] == ev.SPAN_END:
                self.model.apply_span(event["type"] == ev.SPAN_START, event["data"])
                spans = True
            elif event["type"] in ev.STEP_CHANGES:
                reload = True
        if reload:
            self._load()
        if spans:
            self._stats_wanted = True
            self._redraw()

    # -- loading ----------------------------------------------------------------------

    @work(exclusive=True, group="flows-load")
    async def _load(self) -> None:
        await self.reload()

    @work(exclusive=True, group="flows-stats")
    async def _read_stats(self) -> None:
        self.post_message(self._StatsRead(await self.source.stats()))

    def _maybe_read_stats(self) -> None:
        """Poll while work is pending, but only on screen: behind another tab the pane's
        events wait in the app's backlog, and redrawing the live counters there would cost
        a layout of the whole screen for nothing."""
        if not self.is_on_screen:
            return
        if self._stats_wanted or self.model.is_busy():
            self._stats_wanted = False
            self._read_stats()

    @on(_Loaded)
    def _loaded(self, message: _Loaded) -> None:
        model = self.model
        model.flows = list(message.flows.get("flows") or [])
        steps = list(message.steps.get("steps") or [])
        model.steps = {s["name"]: s for s in steps}
        model.errors = list(message.steps.get("errors") or [])
        model.apply_stats(message.stats)
        self._layouts = {
            (str(f.get("name")), level): layout_flow(f, scale)
            for f in model.flows
            for level, scale in enumerate(SCALES)
        }
        self._fitted.clear()
        names = [str(f.get("name")) for f in model.flows]
        if self._flow_name not in names:
            self._flow_name = names[0] if names else None
        picker: Select[str] = self.query_one("#flows-picker", Select)
        picker.set_options([(Content(name), name) for name in names])
        if self._flow_name is not None:
            picker.value = self._flow_name
        picker.display = len(names) > 1
        picker.disabled = len(names) < 2  # hidden and out of the focus order
        self._show_errors()
        self._redraw()

    @on(_StatsRead)
    def _stats_read(self, message: _StatsRead) -> None:
        self.model.apply_stats(message.stats)
        self._redraw()

    # -- drawing --------------------------------------------------------------------

    def _current_flow(self) -> dict[str, Any] | None:
        return next((f for f in self.model.flows if f.get("name") == self._flow_name), None)

    def _levels(self, canvas: FlowCanvas) -> Levels:
        """The drawing's levels: the user's, or the largest that fit the canvas (the smallest
        where none does)."""
        if self.zoom is None:
            room = canvas.content_region
            along, across = self._fitting_levels(room.width, room.height)
        else:
            along, across = self.zoom
        steps = self.zoom_steps
        return (
            max(0, min(along + steps, len(SCALES) - 1)),
            max(0, min(across + steps, len(HEIGHTS) - 1)),
        )

    def _fitting_levels(self, width: int, height: int) -> Levels:
        """The tallest height whose drawing fits `height` rows, then the largest scale whose
        drawing at that height fits `width` columns (a scrollbar's room is left where one
        of them cannot fit). Height does not depend on the scale, and geometry does not change
        with live counts, so the answer is kept per flow and size."""
        name = self._flow_name or ""
        known = self._fitted.get((name, width, height))
        if known is not None:
            return known
        canvas = self.query_one(FlowCanvas)
        full = self._layouts.get((name, len(SCALES) - 1))
        across = 0
        if full is not None:
            across = next(
                (level for level in range(len(HEIGHTS) - 1, -1, -1)
                 if self._drawing_size(full, level)[1] <= height),
                -1,
            )
        if across < 0:  # too tall even at the smallest: a vertical scrollbar takes room
            across = 0
            width -= canvas.styles.scrollbar_size_vertical
        along = next(
            (level for level in range(len(SCALES) - 1, -1, -1)
             if (layout := self._layouts.get((name, level))) is not None
             and self._drawing_size(layout, across)[0] <= width),
            0,
        )
        self._fitted[(name, width, height)] = (along, across)
        return along, across

    def _drawing_size(self, layout: FlowLayout, across: int) -> tuple[int, int]:
        """Columns and rows of a drawing."""
        lines = render_flow(layout, {}, self._edge_counts(layout), HEIGHTS[across]).lines
        return max((len(line) for line in lines), default=0), len(lines)

    def _edge_counts(self, layout: FlowLayout) -> dict[tuple[str, str, str], int]:
        return {
            (edge.source, edge.target, topic): self.model.queued.get((topic, edge.target), 0)
            for edge in layout.edges
            for topic in edge.topics
        }

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        canvas = self.query_one(FlowCanvas)
        flow = self._current_flow()
        along, across = self._levels(canvas)
        layout = self._layouts.get((self._flow_name or "", along))
        empty = flow is None or layout is None or not layout.nodes
        canvas.display = not empty
        self.query_one("#flows-empty").display = empty
        if flow is None or layout is None:
            canvas.show(render_flow(layout_flow({})), [], {}, frozenset())
            self._show_detail(None)
            return
        model = self.model
        render = render_flow(layout, {}, self._edge_counts(layout), HEIGHTS[across])
        counts = {
            node_id: (c["runs"], c["failures"], c["running"])
            for node_id, c in model.counters.items()
        }
        kinds = {node.id: node.type for node in layout.nodes.values()}
        lines = with_counters(render, counts)
        fires = {
            node.id: fire_time(model.next_fires[node.name], self.clock(), self.tz, short=True)
            for node in layout.nodes.values()
            if node.type == "cron" and node.name in model.next_fires
        }
        lines = with_next_fires(render, lines, fires)
        canvas.show(render, lines, kinds, frozenset(model.broken(flow)))
        self._show_detail(canvas.selected)

    def _show_errors(self) -> None:
        errors = self.query_one("#flows-errors", Static)
        lines = [
            f"{ERROR_MARK} {e.get('file')}:{e.get('line')}: {e.get('message')}"
            for e in self.model.errors
        ]
        errors.update("\n".join(lines))
        errors.display = bool(lines)

    def _show_detail(self, node_id: str | None) -> None:
        flow = self._current_flow()
        node = None
        if flow is not None and node_id is not None:
            node = next((n for n in flow.get("nodes") or [] if n.get("id") == node_id), None)
        detail: Any = ""
        if node is not None:
            name = str(node.get("name") or node_id)
            when = self.model.next_fires.get(name)
            now = self.clock()
            detail = node_details(
                node,
                self.model.steps.get(name, {}),
                self.model.broken(flow or {}).get(name),
                self.model.counters.get(name, {}),
                None if when is None
                else f"{fire_time(when, now, self.tz)} ({fire_countdown(when, now)})",
            )
        if detail == self._detail_shown:
            return
        self._detail_shown = detail
        self.query_one("#flows-detail-text", Static).update(detail)

    @on(FlowCanvas.NodeSelected)
    def _node_selected(self, message: FlowCanvas.NodeSelected) -> None:
        self._show_detail(message.node_id)

    # -- actions --------------------------------------------------------------------

    @on(Select.Changed, "#flows-picker")
    def _flow_picked(self, message: Select.Changed) -> None:
        if isinstance(message.value, str) and message.value != self._flow_name:
            self._flow_name = message.value
            self._redraw()
        if self.query_one("#flows-picker", Select).has_focus_within:
            self.query_one(FlowCanvas).focus()  # picked: back to the graph

    def action_pick_flow(self) -> None:
        """Open the flow picker (`s`); picking a flow comes back to the graph."""
        picker = self.query_one("#flows-picker", Select)
        if picker.disabled:
            return  # one flow: nothing to pick
        picker.focus()
        picker.expanded = True

    def action_fit(self) -> None:
        """Fit the graph in the canvas, in width and height, until `+`/`-`."""
        self.zoom = None
        self.zoom_steps = 0
        self._redraw()

    def action_zoom(self, delta: int) -> None:
        """One step bigger or smaller in both directions, from what is shown; a step that
        would change neither level is not taken."""
        canvas = self.query_one(FlowCanvas)
        if self.zoom is None:
            self.zoom = self._levels(canvas)
            self.zoom_steps = 0
        shown = self._levels(canvas)
        self.zoom_steps += delta
        if self._levels(canvas) == shown:
            self.zoom_steps -= delta
            return
        self._redraw()

    def action_toggle_panel(self) -> None:
        """Hide or show the side panel; the graph gets its width (and fits again)."""
        panel = self.query_one("#flows-detail")
        panel.display = not panel.display
        self.call_after_refresh(self._redraw)

    def action_cycle_flow(self, delta: int) -> None:
        names = [str(f.get("name")) for f in self.model.flows]
        if len(names) < 2:
            return
        index = names.index(self._flow_name) if self._flow_name in names else 0
        self._flow_name = names[(index + delta) % len(names)]
        self.query_one("#flows-picker", Select).value = self._flow_name
        self._redraw()

    @on(FlowCanvas.NodeActivated)
    def _node_activated(self, message: FlowCanvas.NodeActivated) -> None:
        step = self.model.steps.get(message.node_id)
        if step is None:
            return
        if step.get("type") == "api":
            self.post_message(OpenEndpoint(step["name"]))
        elif step.get("type") == "cron":
            name = step["name"]

            def answered(yes: bool | None) -> None:
                if yes:
                    self._trigger(name)

            self.app.push_screen(
                ConfirmScreen(f"Run cron step {name} now?", yes="Trigger now", no="Cancel"),
                answered,
            )

    def action_purge_queue(self) -> None:
        """Throw away what is queued for the selected step's topics (a runaway's backlog),
        asking first."""
        step = self.model.steps.get(self.query_one(FlowCanvas).selected or "")
        topics = [str(topic) for topic in (step or {}).get("subscribes") or []]
        if step is None or not topics:
            self.notify("select an event step to purge the queues of its topics",
                        title="Purge queue")
            return
        names = ", ".join(topics)

        def answered(yes: bool | None) -> None:
            if yes:
                self._purge(topics)

        self.app.push_screen(
            ConfirmScreen(f"Throw away every event queued for {names}?", yes="Purge"), answered
        )

    @work(group="flows-purge")
    async def _purge(self, topics: list[str]) -> None:
        for topic in topics:
            try:
                purged = await self.source.purge_queue(topic)
            except Exception as exc:
                self.notify(f"{topic}: {exc}", title="Purge failed", severity="error")
            else:
                self.notify(f"purged {purged} queued event(s) of {topic}", title="Purge queue")

    @work(group="flows-cron")
    async def _trigger(self, name: str) -> None:
        try:
            trace_id = await self.source.trigger_cron(name)
        except Exception as exc:
            self.post_message(self._CronTriggered(name, None, str(exc)))
        else:
            self.post_message(self._CronTriggered(name, trace_id, None))

    @on(_CronTriggered)
    def _cron_triggered(self, message: _CronTriggered) -> None:
        if message.error is not None:
            self.notify(
                f"{message.name}: {message.error}", title="Trigger failed", severity="error"
            )
        else:
            self.notify(f"{message.name} triggered: trace {message.trace_id}", title="Cron")


def node_details(
    node: Mapping[str, Any],
    step: Mapping[str, Any],
    error: Mapping[str, Any] | None,
    counters: Mapping[str, int],
    next_fire: str | None = None,
) -> Content:
    """The side panel: what the step is, where it lives, what it does now."""
    parts: list[str | tuple[str, str] | Content] = [(node_label(node), "bold"), "\n"]
    file = step.get("file") or node.get("file")
    parts += [(f"{file}:{step['line']}" if step.get("line") else str(file), "$text-accent"), "\n"]
    description = step.get("description") or node.get("description")
    if description:
        parts += [(str(description), "italic $text-muted"), "\n"]
    parts.append("\n")

    def row(label: str, value: Any) -> None:
        if value:
            parts.extend([(f"{label:<8}", "$text-muted"), str(value), "\n"])

    kind = node.get("type")
    language = step.get("language") or node.get("language")
    if language and language != "python":
        row("lang", language)
    if kind == "api":
        row("route", f"{node.get('method')} {node.get('path')}")
    row("cron", node.get("cron"))
    row("next", next_fire)
    row("listens", ", ".join(str(t) for t in node.get("subscribes") or []))
    row("emits", ", ".join(_emit_text(e) for e in step.get("emits") or node.get("emits") or []))
    row("v-emits", ", ".join(_emit_text(e) for e in step.get("virtualEmits") or []))
    row("v-subs", ", ".join(str(t) for t in step.get("virtualSubscribes") or []))
    row("flows", ", ".join(str(f) for f in step.get("flows") or []))
    row(
        "runs",
        f"{counters.get('runs', 0)} ({ERROR_MARK}{counters.get('failures', 0)} failed, "
        f"{RUNNING_MARK}{counters.get('running', 0)} now)",
    )
    if error is not None:
        parts += [
            "\n",
            (f"{ERROR_MARK} does not load: {error.get('message')}", "bold $text-error"),
            "\n",
            (f"  {error.get('file')}:{error.get('line')}", "$text-error"),
            "\n",
            ("  (the last version that loaded is still running)", "$text-muted"),
            "\n",
        ]
    if kind == "api":
        parts += ["\n", ("enter", "bold $accent"), " open in Endpoints\n"]
    elif kind == "cron":
        parts += ["\n", ("enter", "bold $accent"), " trigger now\n"]
    for key in DETAIL_KEYS:
        value = step.get(key)
        if value:
            parts += ["\n", (key, "bold"), "\n", pretty(value), "\n"]
    return Content.assemble(*parts)


def _emit_text(item: Any) -> str:
    if isinstance(item, Mapping):
        label = item.get("label")
        return f"{item.get('topic')} ({label})" if label else str(item.get("topic"))
    return str(item)
