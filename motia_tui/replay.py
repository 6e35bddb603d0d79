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
from engine.trace_view import trace_summary
from motia_tui.replay_moment import Moment, step_from_json
from motia_tui.source import BufferedFeed, SourceError
from motia_tui.tape_file import Tape, TapeError, event_at, read_tape

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)
PLAY_TICK_S = 1 / 15
FEED_LIMIT = 5_000
"""A move forward by more events than this reloads the panes instead of feeding them."""
BULK_EVENTS = 1_000
"""Moves longer than this run with the garbage collector paused, and what they built is then
frozen out of its reach: a move to the end of a tape spent two thirds of its time collecting
objects the moment keeps anyway (plain dicts and lists, freed by reference counting)."""
class _ReplayFeed(BufferedFeed):
    """The events the cursor passes going forward; any other move asks for a reload, and
    says it went back (the Logs pane may hold records from after the new cursor)."""

    def __init__(self, source: ReplaySource) -> None:
        super().__init__()
        self._source = source

    def offer(self, events: list[WireEvent] | None) -> None:
        if events is None:
            self.buffer.clear()
            self.dropped += 1
            self.rewound = True
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
            return wire_event(event_at(self.tape, index))
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
        steps = [step_from_json(s, moment.project) for s in moment.steps.values()]
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
            **self._dead_letters(moment),
        }

    @staticmethod
    def _dead_letters(moment: Moment) -> dict[str, Any]:
        """As the engine said it; a tape from before the bound existed says nothing of it."""
        known = moment.dead_letters
        if "bound" not in known:
            return {}
        held = len(moment.dlq)
        return {"deadLetters": {"held": held, "bound": known["bound"], "dropped": known["dropped"]}}

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
        since: float | None = None,
        until: float | None = None,
    ) -> list[dict[str, Any]]:
        found = matching(self.moment.logs, trace_id or None, step or None, level or None,
                         q or None, since, until)
        return found[-limit:]

    async def count_logs(self, since: float | None = None, until: float | None = None) -> int:
        return len(matching(self.moment.logs, None, None, None, None, since, until))

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

    async def cluster(self) -> dict[str, Any] | None:
        """A tape is one process's: there is no cluster to show."""
        return None


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
