"""The command palette's commands on the engine: every action a pane has, by name.

Besides the keys of every pane (which the app lists itself), the palette can trigger a cron
step, emit an event to a topic (with data built from its subscriber's `input` schema), re-queue
or drop a dead letter, purge a topic's queue (asking first), open a route in Endpoints, open a
trace by the first characters of its id, and set the Logs or Traces filter to whatever was
typed. Everything goes through the
`EngineSource`, so it works the same attached to a remote engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from motia_tui import messages
from motia_tui.endpoint_model import routes_from_steps, topics_from_steps
from motia_tui.source import SourceError
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.schema_example import example_from_schema

if TYPE_CHECKING:
    from motia_tui.app import WorkbenchApp

TRACE_PREFIX = re.compile(r"^(?:trace\s+)?([0-9a-fA-F-]{4,})$")
FILTER_PREFIX = re.compile(r"^(?:filter\s+)?(logs?|traces?)\s*:\s*(.*)$", re.IGNORECASE)
"""`logs: level:error` (or `filter traces: status:error`) sets that pane's filter."""
MAX_TRACE_HITS = 10


class EngineCommands(Provider):
    """Commands made from what the engine has right now (read when the palette opens)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._commands: list[tuple[str, str, Callable[[], Any]]] = []
        self._trace_ids: list[str] = []

    @property
    def workbench(self) -> WorkbenchApp:
        return cast("WorkbenchApp", self.app)

    async def startup(self) -> None:
        app = self.workbench
        source = app.source
        commands: list[tuple[str, str, Callable[[], Any]]] = []
        try:
            steps = await source.steps()
            dead = await source.dlq()
            traces = await source.traces(limit=200)
            stats = await source.stats()
        except SourceError as exc:
            app.notify(f"the palette cannot read the engine: {exc.message}", severity="error")
            return
        for step in steps.get("steps") or []:
            if step.get("type") == "cron":
                name = str(step["name"])
                commands.append(
                    (f"Trigger cron {name}", "run the cron step now",
                     partial(_in_worker, app, _trigger, name))
                )
        for route in routes_from_steps(steps):
            commands.append(
                (f"Open route {route.method} {route.path}", f"step {route.step} in Endpoints",
                 partial(app.post_message, messages.OpenEndpoint(route.step)))
            )
        for topic, schema in topics_from_steps(steps).items():
            data = example_from_schema(schema) if schema is not None else {}
            commands.append(
                (f"Emit {topic}", f"with {_short(data)}",
                 partial(_in_worker, app, _emit, topic, data))
            )
        for item in dead:
            what = f"{item.get('step')} · {item.get('topic')} · {str(item.get('id'))[:8]}"
            error = item.get("error")
            if isinstance(error, dict):
                error = error.get("message")
            error = str(error or "")[:60]
            commands.append(
                (f"Re-queue dead letter {what}", error,
                 partial(_in_worker, app, _requeue, str(item["id"])))
            )
            commands.append(
                (f"Drop dead letter {what}", "forget it for good (asks first)",
                 partial(_drop, app, str(item["id"]), what))
            )
        for topic, queued in queued_topics(stats).items():
            commands.append(
                (f"Purge queue {topic}", f"throw away its {queued} queued event(s) (asks first)",
                 partial(purge_queue, app, topic, queued))
            )
        commands.append(
            ("Show errors", "the Logs pane filtered on level:error",
             partial(app.post_message, messages.OpenLogs("level:error")))
        )
        self._commands = commands
        self._trace_ids = [str(t.get("traceId") or t.get("id")) for t in traces]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)
        app = self.workbench
        prefix = TRACE_PREFIX.match(query.strip())
        if prefix:
            wanted = prefix.group(1).lower()
            for trace_id in [t for t in self._trace_ids if t.startswith(wanted)][
                :MAX_TRACE_HITS
            ]:
                yield Hit(
                    1.0, f"Open trace {trace_id}",
                    partial(app.post_message, messages.OpenTrace(trace_id)),
                    text=f"Open trace {trace_id}", help="its waterfall in Traces",
                )
        text = query.strip()
        named = FILTER_PREFIX.match(text)
        pane = named.group(1).lower().rstrip("s") + "s" if named else None
        if named:
            text = named.group(2).strip()
        if text:
            yield Hit(
                1.0 if pane == "logs" else 0.05, f"Filter logs: {text}",
                partial(app.post_message, messages.OpenLogs(text)),
                text=f"Filter logs: {text}", help="show the Logs pane with this filter",
            )
            yield Hit(
                1.0 if pane == "traces" else 0.04, f"Filter traces: {text}",
                partial(app.filter_traces, text),
                text=f"Filter traces: {text}", help="show the Traces pane with this filter",
            )


def _in_worker(
    app: WorkbenchApp, action: Callable[..., Awaitable[None]], *args: Any
) -> None:
    """Run an engine call off the palette (its coroutine made only when chosen)."""
    app.run_worker(action(app, *args), group="palette")


def _short(data: Any, limit: int = 40) -> str:
    text = json.dumps(data, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _report(
    app: WorkbenchApp, what: str, call: Awaitable[str | None], trace: bool = True
) -> None:
    try:
        trace_id = await call
    except SourceError as exc:
        app.notify(f"{what}: {exc.message}", title="Not done", severity="error", timeout=6)
        return
    suffix = f": trace {trace_id[:8]}" if trace and trace_id else ""
    app.notify(f"{what}{suffix}", timeout=4)


async def _trigger(app: WorkbenchApp, name: str) -> None:
    await _report(app, f"triggered {name}", app.source.trigger_cron(name))


async def _emit(app: WorkbenchApp, topic: str, data: Any) -> None:
    await _report(app, f"emitted {topic}", app.source.emit(topic, data))


async def _requeue(app: WorkbenchApp, item_id: str) -> None:
    await _report(app, "re-queued the dead letter", app.source.retry_dlq(item_id))


def _drop(app: WorkbenchApp, item_id: str, what: str) -> None:
    async def dropped() -> None:
        await app.source.drop_dlq(item_id)
        return None

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(
                _report(app, "dropped the dead letter", dropped(), trace=False), group="palette"
            )

    app.push_screen(ConfirmScreen(f"Drop the dead letter {what}?", yes="Drop"), answered)


def queued_topics(stats: dict[str, Any]) -> dict[str, int]:
    """Topics with events queued, and how many, from the engine's edge counters."""
    topics: dict[str, int] = {}
    for edge in stats.get("edges") or []:
        queued = int(edge.get("queued") or 0)
        if queued:
            topic = str(edge.get("topic"))
            topics[topic] = topics.get(topic, 0) + queued
    return topics


def purge_queue(app: WorkbenchApp, topic: str, queued: int) -> None:
    """Ask, then throw away every event queued for `topic` (a runaway's backlog)."""

    async def purged() -> str:
        count = await app.source.purge_queue(topic)
        return f"purged {count} queued event(s) of {topic}"

    async def report() -> None:
        try:
            what = await purged()
        except SourceError as exc:
            app.notify(f"purge {topic}: {exc.message}", title="Not done", severity="error",
                       timeout=6)
            return
        app.notify(what, timeout=4)

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(report(), group="palette")

    app.push_screen(
        ConfirmScreen(f"Throw away the {queued} event(s) queued for {topic}?", yes="Purge"),
        answered,
    )
