"""The project at one point of an engine tape: what replay shows, rebuilt event by event.

A `Moment` starts from the tape's snapshot and applies the engine's events one at a time,
each `apply` answering how to undo it, so `motia_tui.replay` moves its cursor back by one
event as cheaply as forward. It keeps what the panes ask about: state, stream items, steps
and load errors, the flow graph's counters and queued edges, dead letters, logs and traces.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import events as ev
from engine.steps import Emit, Step

_MISSING: Any = object()


def step_from_json(data: dict[str, Any], project: Path) -> Step:
    """Enough of a step to draw the flow graph as the engine did."""

    def emits(items: list[dict[str, Any]]) -> list[Emit]:
        return [Emit(e["topic"], e.get("label"), bool(e.get("conditional"))) for e in items]

    return Step(
        name=data["name"],
        type=data["type"],
        file=project / data["file"],
        line=data.get("line", 1),
        config={},
        handler=None,
        description=data.get("description", ""),
        flows=list(data.get("flows", [])),
        emits=emits(data.get("emits", [])),
        virtual_emits=emits(data.get("virtualEmits", [])),
        virtual_subscribes=list(data.get("virtualSubscribes", [])),
        subscribes=list(data.get("subscribes", [])),
        path=data.get("path"),
        method=data.get("method"),
        cron=data.get("cron"),
    )


class Moment:
    """The project at one point of a tape; `apply` answers how to undo what it did."""

    def __init__(self, snapshot: dict[str, Any], project: Path) -> None:
        self.project = project
        self.state: dict[str, dict[str, Any]] = {
            group: dict(items) for group, items in snapshot.get("state", {}).items()
        }
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        for name, groups in snapshot.get("streams", {}).items():
            for group, items in groups.items():
                if items:
                    self.items.setdefault(name, {})[group] = {str(i.get("id")): i for i in items}
        steps = snapshot.get("steps", {})
        self.steps: dict[str, dict[str, Any]] = {s["name"]: s for s in steps.get("steps", [])}
        self.stream_defs: dict[str, dict[str, Any]] = {
            s["name"]: s for s in steps.get("streams", [])
        }
        self.errors: dict[str, dict[str, Any]] = {
            self._relative(e.get("file")): e for e in steps.get("errors", [])
        }
        stats = snapshot.get("stats", {})
        self.counters: dict[str, dict[str, int]] = {
            name: dict(c) for name, c in stats.get("steps", {}).items()
        }
        self.queued: dict[tuple[str, str], int] = {
            (e["topic"], e["to"]): e["queued"] for e in stats.get("edges", [])
        }
        self.dlq: dict[str, dict[str, Any]] = {i["id"]: i for i in snapshot.get("dlq", [])}
        self.dead_letters: dict[str, int] = dict(stats.get("deadLetters") or {})
        """The bound and the count dropped to keep it, as `GET /__motia/stats` says them."""
        self.logs: list[dict[str, Any]] = list(snapshot.get("logs", []))
        self.traces: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()
        for trace in snapshot.get("traces", []):
            self.traces[trace["traceId"]] = {s["spanId"]: s for s in trace.get("spans", [])}

    def _relative(self, file: Any) -> str:
        path = Path(str(file))
        if path.is_absolute() and path.is_relative_to(self.project):
            return str(path.relative_to(self.project))
        return str(path)

    # -- applying one event ------------------------------------------------------------------

    def apply(self, kind: str, data: dict[str, Any]) -> Callable[[], None] | None:
        handler = self._HANDLERS.get(kind)
        return handler(self, data) if handler is not None else None

    def _log(self, data: dict[str, Any]) -> Callable[[], None]:
        self.logs.append(data)

        def undo() -> None:
            self.logs.pop()

        return undo

    def _put_span(self, data: dict[str, Any]) -> Callable[[], None]:
        """File a span under its trace; the undo puts back what it replaced."""
        trace_id, span_id = data["traceId"], data["spanId"]
        spans = self.traces.get(trace_id)
        new_trace = spans is None
        if spans is None:
            spans = self.traces[trace_id] = {}
        before = spans.get(span_id, _MISSING)
        spans[span_id] = data

        def undo() -> None:
            if before is _MISSING:
                del spans[span_id]
            else:
                spans[span_id] = before
            if new_trace:
                del self.traces[trace_id]

        return undo

    def _span_start(self, data: dict[str, Any]) -> Callable[[], None]:
        put = self._put_span(data)
        counted = self._count(data, running=1)

        def undo() -> None:
            put()
            counted()

        return undo

    def _span_end(self, data: dict[str, Any]) -> Callable[[], None]:
        put = self._put_span(data)
        failed = data.get("status") == "error"
        counted = self._count(data, running=-1, runs=1, failures=int(failed))
        edges = self._deliver(data)

        def undo() -> None:
            put()
            counted()
            edges()

        return undo

    def _count(self, span: dict[str, Any], **change: int) -> Callable[[], None]:
        """The flow graph's counters: runs of real steps, not of what a person did."""
        if span.get("kind") == "manual":
            return lambda: None
        name = span["step"]
        created = name not in self.counters
        counters = self.counters.setdefault(name, {"runs": 0, "failures": 0, "running": 0})
        for key, delta in change.items():
            counters[key] += delta

        def undo() -> None:
            for key, delta in change.items():
                counters[key] -= delta
            if created:
                del self.counters[name]

        return undo

    def _deliver(self, span: dict[str, Any]) -> Callable[[], None]:
        """Events wait on an edge from the emitting run's end until their delivery settles
        (a success, or the dead-letter queue)."""
        changes: list[tuple[str, str, int]] = []
        if span.get("status") == "ok":
            for emit in span.get("emits") or ():
                topic = str(emit.get("topic"))
                for target in self.steps.values():
                    if target.get("type") == "event" and topic in target.get("subscribes", ()):
                        changes.append((topic, target["name"], 1))
            if span.get("kind") == "event":
                changes.extend(self._settled(span["step"]))
        for topic, to, delta in changes:
            self._bump((topic, to), delta)

        def undo() -> None:
            for topic, to, delta in reversed(changes):
                self._bump((topic, to), -delta)

        return undo

    def _settled(self, step: str) -> list[tuple[str, str, int]]:
        for topic, to in self.queued:
            if to == step and self.queued[(topic, to)] > 0:
                return [(topic, to, -1)]
        return []

    def _bump(self, edge: tuple[str, str], delta: int) -> None:
        count = self.queued.get(edge, 0) + delta
        if count > 0:
            self.queued[edge] = count
        else:
            self.queued.pop(edge, None)

    def _state(self, data: dict[str, Any]) -> Callable[[], None]:
        group, key, op = str(data["group"]), str(data.get("key")), data["op"]
        before_group = self.state.get(group)
        if op == "clear":
            self.state.pop(group, None)

            def undo_clear() -> None:
                if before_group is not None:
                    self.state[group] = before_group

            return undo_clear
        items = self.state.setdefault(group, {})
        before = items.get(key, _MISSING)
        if op == "set":
            items[key] = data.get("value")
        else:
            items.pop(key, None)
        if not items:
            del self.state[group]

        def undo() -> None:
            restored = self.state.setdefault(group, {})
            if before is _MISSING:
                restored.pop(key, None)
            else:
                restored[key] = before
            if not restored:
                del self.state[group]

        return undo

    def _stream(self, data: dict[str, Any]) -> Callable[[], None] | None:
        kind = data.get("type")
        if kind not in ("create", "update", "delete"):
            return None
        name, group, item_id = data["stream"], data["groupId"], str(data.get("id"))
        groups = self.items.setdefault(name, {})
        items = groups.setdefault(group, {})
        before = items.get(item_id, _MISSING)
        if kind == "delete":
            items.pop(item_id, None)
        else:
            items[item_id] = data.get("data")
        if not items:
            del groups[group]

        def undo() -> None:
            restored = groups.setdefault(group, {})
            if before is _MISSING:
                restored.pop(item_id, None)
            else:
                restored[item_id] = before
            if not restored:
                del groups[group]

        return undo

    def _step_loaded(self, data: dict[str, Any]) -> Callable[[], None]:
        stream = data.get("stream")
        if stream is not None:
            return self._replace(self.stream_defs, stream["name"], stream, stream.get("file"))
        return self._replace(self.steps, data["name"], data, data.get("file"))

    def _replace(
        self, table: dict[str, dict[str, Any]], name: str, value: dict[str, Any], file: Any
    ) -> Callable[[], None]:
        before = table.get(name, _MISSING)
        table[name] = value
        error = self.errors.pop(self._relative(file), _MISSING)

        def undo() -> None:
            if before is _MISSING:
                table.pop(name, None)
            else:
                table[name] = before
            if error is not _MISSING:
                self.errors[self._relative(file)] = error

        return undo

    def _step_failed(self, data: dict[str, Any]) -> Callable[[], None]:
        file = self._relative(data.get("file"))
        before = self.errors.get(file, _MISSING)
        self.errors[file] = {k: v for k, v in data.items() if k != "steps"}

        def undo() -> None:
            if before is _MISSING:
                self.errors.pop(file, None)
            else:
                self.errors[file] = before

        return undo

    def _step_removed(self, data: dict[str, Any]) -> Callable[[], None]:
        table, name = (
            (self.stream_defs, data["stream"]) if "stream" in data else (self.steps, data["name"])
        )
        before = table.pop(name, _MISSING)

        def undo() -> None:
            if before is not _MISSING:
                table[name] = before

        return undo

    def _dlq_added(self, data: dict[str, Any]) -> Callable[[], None]:
        self.dlq[data["id"]] = data
        edges = self._settled_dead(data)

        def undo() -> None:
            self.dlq.pop(data["id"], None)
            edges()

        return undo

    def _settled_dead(self, item: dict[str, Any]) -> Callable[[], None]:
        edge = (str(item.get("topic")), str(item.get("step")))
        if self.queued.get(edge, 0) <= 0:
            return lambda: None
        self._bump(edge, -1)
        return lambda: self._bump(edge, 1)

    def _dlq_removed(self, data: dict[str, Any]) -> Callable[[], None]:
        before = self.dlq.pop(data["id"], _MISSING)

        def undo() -> None:
            if before is not _MISSING:
                self.dlq[data["id"]] = before

        return undo

    def _dlq_full(self, data: dict[str, Any]) -> Callable[[], None]:
        before = dict(self.dead_letters)
        self.dead_letters.update(bound=data["bound"], dropped=data["totalDropped"])

        def undo() -> None:
            self.dead_letters = before

        return undo

    _HANDLERS: dict[str, Callable[[Moment, dict[str, Any]], Callable[[], None] | None]] = {
        ev.LOG: _log,
        ev.SPAN_START: _span_start,
        ev.SPAN_END: _span_end,
        ev.STATE_CHANGE: _state,
        ev.STREAM_CHANGE: _stream,
        ev.STEP_LOADED: _step_loaded,
        ev.STEP_FAILED: _step_failed,
        ev.STEP_REMOVED: _step_removed,
        ev.DLQ_ADDED: _dlq_added,
        ev.DLQ_REMOVED: _dlq_removed,
        ev.DLQ_FULL: _dlq_full,
    }
