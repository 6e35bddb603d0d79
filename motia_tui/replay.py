"""Replay: the workbench on an engine tape, as a third `EngineSource` with a time cursor.

`ReplaySource` answers every question a pane asks (`motia_tui.source`) about the project as it
was at the cursor: the tape's snapshot plus the events up to it. Opening a tape only indexes its
lines (time and type sit at the start of each); an event's data is parsed when the cursor first
passes it. Every event applied forward leaves an undo record, so moving back by one event or one
second costs what moving forward does; a long jump back starts again from the snapshot instead.
Write actions are refused with `SourceError` (405): a tape is a record, not an engine.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson

from engine import events as ev
from engine import trace_io
from engine.cron import next_fire
from engine.events import WireEvent, wire_event
from engine.flows import build_flows
from engine.logs import matching
from engine.steps import Emit, Step
from engine.trace_view import trace_summary
from motia_tui.source import BufferedFeed, SourceError
from motia_tui.tape_file import Tape, TapeError, read_tape

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)
PLAY_TICK_S = 1 / 15
FEED_LIMIT = 5_000
"""A move forward by more events than this reloads the panes instead of feeding them."""
BULK_EVENTS = 1_000
"""Moves longer than this run with the garbage collector paused, and what they built is then
frozen out of its reach: a move to the end of a tape spent two thirds of its time collecting
objects the moment keeps anyway (plain dicts and lists, freed by reference counting)."""
_MISSING: Any = object()


def _step_from_json(data: dict[str, Any], project: Path) -> Step:
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
    }


class _ReplayFeed(BufferedFeed):
    """The events the cursor passes going forward; any other move asks for a reload."""

    def __init__(self, source: ReplaySource) -> None:
        super().__init__()
        self._source = source

    def offer(self, events: list[WireEvent] | None) -> None:
        if events is None:
            self.buffer.clear()
            self.dropped += 1
        else:
            self.buffer.extend(events)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()
        self._source._feeds.discard(self)


class ReplaySource:
    """A tape, read-only, with a cursor that moves by event, by time, or plays."""

    def __init__(self, target: Path | str) -> None:
        self.target = Path(target)
        self.tape: Tape | None = None
        self.position = 0
        """Events applied: 0 is the snapshot, `len(tape.times)` the end."""
        self._at: float | None = None
        self.playing = False
        self.speed = 1.0
        self._moment: Moment | None = None
        self._undo: list[Callable[[], None] | None] = []
        self._feeds: set[_ReplayFeed] = set()
        self._player: asyncio.Task[None] | None = None
        self.on_move: Callable[[], None] | None = None
        """Called after every move (the header's cursor redraws)."""

    # -- life cycle --------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"replay {self.tape.run if self.tape else self.target.name}"

    async def start(self) -> None:
        try:
            self.tape = await asyncio.get_running_loop().run_in_executor(
                None, read_tape, self.target
            )
        except OSError as exc:
            raise SourceError(f"cannot read {self.target}: {exc}", 404) from None
        except TapeError as exc:
            raise SourceError(str(exc), 404) from None
        self._reset()
        self._moved()

    async def stop(self) -> None:
        self.pause()
        for feed in list(self._feeds):
            feed.close()

    def _reset(self) -> None:
        assert self.tape is not None
        project = Path(str(self.tape.header.get("project", self.target)))
        self._moment = Moment(self.tape.snapshot, project)
        self._undo = []
        self.position = 0
        self._at = None

    @property
    def moment(self) -> Moment:
        if self._moment is None:
            raise SourceError("the tape is not open yet", 503)
        return self._moment

    @property
    def total(self) -> int:
        return len(self.tape.times) if self.tape else 0

    # -- the cursor ----------------------------------------------------------------------------

    @property
    def time(self) -> float:
        """Epoch milliseconds of the cursor: where a move by time put it, else the last
        applied event (or the snapshot)."""
        assert self.tape is not None
        if self._at is not None:
            return self._at
        if self.position == 0:
            return self.tape.snapshot_time
        return self.tape.times[self.position - 1]

    @property
    def start_time(self) -> float:
        assert self.tape is not None
        return self.tape.snapshot_time

    @property
    def end_time(self) -> float:
        assert self.tape is not None
        return self.tape.times[-1] if self.tape.times else self.tape.snapshot_time

    def event(self, index: int) -> WireEvent | None:
        """Event `index` (0-based) as the feed shapes it; None for a line this version cannot
        read (a newer engine's event type, a damaged line). Parsed on each call: the moment
        keeps what it needs, so a long tape is not held twice in memory."""
        assert self.tape is not None
        try:
            return wire_event(orjson.loads(self.tape.lines[index]))
        except orjson.JSONDecodeError:
            return None

    def seek(self, position: int) -> None:
        """Move the cursor so that `position` events are applied."""
        self._move(max(0, min(self.total, position)))
        self._at = None
        self._moved()

    def seek_time(self, moment_ms: float) -> None:
        """Put the cursor at `moment_ms` (within the tape): every event up to it applied."""
        assert self.tape is not None
        moment_ms = max(self.start_time, min(self.end_time, moment_ms))
        self._move(bisect.bisect_right(self.tape.times, moment_ms))
        self._at = moment_ms
        self._moved()

    def _move(self, position: int) -> None:
        if position == self.position:
            return
        bulk = abs(position - self.position) > BULK_EVENTS and gc.isenabled()
        if bulk:
            gc.disable()  # what a long move builds lives on: collecting it mid-way is waste
        try:
            self._apply_until(position)
        finally:
            if bulk:
                gc.freeze()  # and no later collection walks it all again
                gc.enable()

    def _apply_until(self, position: int) -> None:
        passed: list[WireEvent] | None = []
        if position < self.position:
            passed = None
            if self.position - position > position:
                self._reset()
            else:
                while self.position > position:
                    self.position -= 1
                    undo = self._undo.pop()
                    if undo is not None:
                        undo()
        if passed is not None and position - self.position > FEED_LIMIT:
            passed = None
        moment = self.moment
        while self.position < position:
            event = self.event(self.position)
            undo = None
            if event is not None:
                try:
                    undo = moment.apply(event["type"], cast(dict[str, Any], event["data"]))
                except (KeyError, TypeError, AttributeError):
                    undo = None  # data this version cannot read changes nothing
                if passed is not None:
                    passed.append(event)
            self._undo.append(undo)
            self.position += 1
        for feed in self._feeds:
            feed.offer(passed)

    def step(self, events: int) -> None:
        self.pause()
        self.seek(self.position + events)

    def skip(self, seconds: float) -> None:
        """Move by time, also through a stretch with no event at all."""
        self.pause()
        if self.total:
            self.seek_time(self.time + seconds * 1000)

    def to_start(self) -> None:
        self.pause()
        self.seek(0)

    def to_end(self) -> None:
        self.pause()
        self.seek(self.total)

    def seek_trace(self, trace_id: str) -> bool:
        """Put the cursor on the last event of a trace, where it is complete; False when the
        tape holds no event of it."""
        assert self.tape is not None
        needle = f'"traceId":"{trace_id}"'.encode()
        for index in range(self.total - 1, -1, -1):
            if needle in self.tape.lines[index]:
                self.pause()
                self.seek(index + 1)
                return True
        return False

    def faster(self) -> None:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        self._moved()

    def slower(self) -> None:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        self._moved()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.playing:
            return
        if self.position >= self.total:
            self.seek(0)
        self.playing = True
        self._player = asyncio.get_running_loop().create_task(self._play())
        self._moved()

    def pause(self) -> None:
        if not self.playing:
            return
        self.playing = False
        if self._player is not None:
            self._player.cancel()
            self._player = None
        self._moved()

    def _moved(self) -> None:
        if self.on_move is not None:
            self.on_move()

    async def _play(self) -> None:
        """Tape time runs at `speed` times the wall clock; at the end the cursor stops."""
        loop = asyncio.get_running_loop()
        cursor, wall = self.time, loop.time()
        try:
            while self.position < self.total:
                await asyncio.sleep(PLAY_TICK_S)
                now = loop.time()
                cursor += (now - wall) * 1000 * self.speed
                wall = now
                self.seek_time(cursor)
        finally:
            if self.position >= self.total and self.playing:
                self.playing = False
                self._player = None
                self._moved()

    # -- what panes ask ----------------------------------------------------------------------

    def subscribe(self) -> _ReplayFeed:
        feed = _ReplayFeed(self)
        self._feeds.add(feed)
        return feed

    async def steps(self) -> dict[str, Any]:
        moment = self.moment
        return {
            "steps": list(moment.steps.values()),
            "streams": list(moment.stream_defs.values()),
            "errors": list(moment.errors.values()),
        }

    async def flows(self) -> dict[str, Any]:
        moment = self.moment
        steps = [_step_from_json(s, moment.project) for s in moment.steps.values()]
        return {"flows": build_flows(steps)}

    async def stats(self) -> dict[str, Any]:
        moment = self.moment
        after = self.time / 1000
        return {
            "steps": {name: dict(c) for name, c in moment.counters.items()},
            "edges": [
                {"topic": topic, "to": step, "queued": count}
                for (topic, step), count in moment.queued.items()
            ],
            "cron": {
                name: next_fire(step["cron"], after)
                for name, step in moment.steps.items()
                if step.get("type") == "cron" and step.get("cron")
            },
        }

    async def traces(
        self, limit: int = 200, status: str | None = None, step: str | None = None
    ) -> list[dict[str, Any]]:
        result = []
        for trace_id in reversed(self.moment.traces):
            spans = list(self.moment.traces[trace_id].values())
            if not spans or (step and not any(s.get("step") == step for s in spans)):
                continue
            summary = trace_summary(trace_id, spans)
            if status and summary["status"] != status:
                continue
            result.append(dict(summary))
            if len(result) >= limit:
                break
        return result

    async def trace(self, trace_id: str) -> dict[str, Any] | None:
        found = self.moment.traces.get(trace_id)
        if not found:
            return None
        spans = sorted(found.values(), key=lambda s: s.get("start") or 0)
        detail: dict[str, Any] = dict(trace_summary(trace_id, spans))
        detail["reruns"] = [
            other
            for other, held in self.moment.traces.items()
            if any(s.get("rerunOf") == trace_id for s in held.values())
        ]
        detail["spans"] = spans
        return detail

    async def logs(
        self,
        trace_id: str | None = None,
        step: str | None = None,
        level: str | None = None,
        q: str | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        found = matching(self.moment.logs, trace_id or None, step or None, level or None, q or None)
        return found[-limit:]

    async def state(self) -> dict[str, dict[str, Any]]:
        return {group: dict(items) for group, items in self.moment.state.items()}

    async def streams(self) -> list[dict[str, Any]]:
        moment = self.moment
        return [
            {**definition, "groups": sorted(moment.items.get(name, {}))}
            for name, definition in moment.stream_defs.items()
        ]

    async def stream_group(self, name: str, group: str) -> list[dict[str, Any]]:
        if name not in self.moment.stream_defs:
            raise SourceError(f"no stream {name!r}", 404)
        return list(self.moment.items.get(name, {}).get(group, {}).values())

    async def dlq(self) -> list[dict[str, Any]]:
        return list(self.moment.dlq.values())

    # -- what a tape cannot do -------------------------------------------------------------

    def _refuse(self, what: str) -> SourceError:
        return SourceError(
            f"replay is read-only: cannot {what} in a recording (run `motia dev` to change "
            "the project)",
            405,
        )

    async def set_state(self, group: str, key: str, value: Any) -> None:
        raise self._refuse("edit state")

    async def delete_state(self, group: str, key: str | None) -> bool:
        raise self._refuse("delete state")

    async def retry_dlq(self, item_id: str) -> str:
        raise self._refuse("retry a dead letter")

    async def drop_dlq(self, item_id: str) -> None:
        raise self._refuse("drop a dead letter")

    async def purge_queue(self, topic: str) -> int:
        raise self._refuse("purge a queue")

    async def emit(self, topic: str, data: Any) -> str:
        raise self._refuse("emit an event")

    async def trigger_cron(self, name: str) -> str:
        raise self._refuse("trigger a cron step")

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: str | None
    ) -> Any:
        raise self._refuse("send a request")

    @property
    def project_dir(self) -> Path:
        return Path.cwd()

    async def rerun(
        self, trace_id: str, span_id: str | None, input_: Any, headers: dict[str, str]
    ) -> dict[str, Any]:
        raise self._refuse("re-run a trace")

    async def export_trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as it stood at the cursor, with its logs (a tape keeps no trigger, so
        a test made from it rebuilds the trigger from the root span)."""
        trace = await self.trace(trace_id)
        if trace is None:
            return None
        return trace_io.build(trace, await self.logs(trace_id=trace_id), None)


def describe(source: ReplaySource, clock: Callable[[float], time.struct_time] = time.localtime
             ) -> str:
    """The cursor as the header shows it: play state, time, offset, event n/N, speed, and
    what the recording missed at the cursor."""
    if source.tape is None:
        return "opening the tape…"
    moment = source.time / 1000
    stamp = time.strftime("%H:%M:%S", clock(moment)) + f".{int(source.time) % 1000:03d}"
    offset = (source.time - source.start_time) / 1000
    state = "▶" if source.playing else "⏸"
    speed = f"{source.speed:g}"
    cut = "" if source.tape.ended else " · cut short"
    where = f"event {source.position}/{source.total}"
    text = f"{state} {stamp} +{offset:.1f}s · {where} · {speed}x{cut}"
    event = source.event(source.position - 1) if source.position else None
    if event is not None and event["type"] == ev.EVENTS_DROPPED:
        text += f" · {event['data']['count']} events not recorded here"
    return text
