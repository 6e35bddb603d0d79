"""Structured log records, the step logger and the bounded log store.

A record is a flat JSON object as Motia writes it: level, time, msg, traceId, flows, step,
with the caller's fields merged in. The newest records stay in a ring for the workbench; all
of them (up to the configured count) go to SQLite, indexed by trace, step and level, so deep
filters are queries in a thread rather than scans on the loop.

In the process a record's `flows` is the tuple shared by every record of its flows: JSON
writes it as a list (the API, the store, the tape, a span's text), and the testing harness
and the workbench's engine source hand records out `listed`, as JSON reads them back. A dict
holding a list is tracked by the garbage collector, which walks it at every collection while
it lives: the ring's 10,000, those in the event stream, in spans and in a workbench's read-
backs were most of what a busy workbench's collections walked. A tuple of strings is
untracked at its first collection, and a dict whose values are all untracked is never
tracked: a record of plain values costs the collector nothing.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from engine import events as ev
from engine import jsonio
from engine.effects import LogRecord
from engine.events import EventHub
from engine.stores import Persistence

LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}


def jsonable_field(value: Any) -> Any:
    """A value as it can be stored: JSON as is, anything else as its repr."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return repr(value)
    return value


_FLOWS: dict[tuple[str, ...], tuple[str, ...]] = {}
"""One tuple per list of flows, shared by their records: the first collection that sees it
untracks it, and from then on no record holding it is tracked."""


def shared_flows(flows: Iterable[str]) -> tuple[str, ...]:
    """The tuple every record of these flows holds. One still tracked is replaced: a tuple
    made while start-up had the collector off (a run before the workbench was ready) is
    frozen with start-up's objects, never seen by a collection again, and every record
    holding it stays tracked, for each young collection to walk."""
    key = tuple(flows)
    shared = _FLOWS.get(key)
    if shared is None or gc.is_tracked(shared):
        shared = _FLOWS[key] = key
    return shared


def listed(record: dict[str, Any]) -> dict[str, Any]:
    """The record as JSON reads it back: its flows a list."""
    flows = record.get("flows")
    if type(flows) is not tuple:
        return record
    return {**record, "flows": list(flows)}


def merge_fields(record: dict[str, Any], fields: Any) -> None:
    """Merge a dict, an object's vars, or store anything else under `data`."""
    if fields is None:
        return
    if isinstance(fields, dict):
        items = fields.items()
    elif hasattr(fields, "__dict__"):
        items = vars(fields).items()
    else:
        record["data"] = jsonable_field(fields)
        return
    for key, value in items:
        record[str(key)] = jsonable_field(value)


def matching(
    records: Iterable[dict[str, Any]],
    trace_id: str | None,
    step: str | None,
    level: str | None,
    text: str | None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """The API's log filter over in-memory records; `level` is a minimum, `since` and
    `until` bound the time (milliseconds, both included)."""
    floor = LEVELS.get(level or "", 0)
    needle = text.lower() if text else None
    result = []
    for record in records:
        if (since is not None or until is not None) and not within(record, since, until):
            continue
        if trace_id and record.get("traceId") != trace_id:
            continue
        if step and record.get("step") != step:
            continue
        if floor and LEVELS.get(record.get("level", ""), 0) < floor:
            continue
        if needle and needle not in json.dumps(record, default=repr).lower():
            continue
        result.append(record)
    return result


def within(record: dict[str, Any], since: float | None, until: float | None) -> bool:
    """The record's time lies in [since, until] (an open end when None)."""
    time_ms = record.get("time")
    if not isinstance(time_ms, int | float):
        return False
    return (since is None or time_ms >= since) and (until is None or time_ms <= until)


def newer_than(
    stored: list[dict[str, Any]], recent: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The records of `recent` (the memory ring's, oldest first) after the newest of
    `stored`: the writer thread may not have written the newest ones yet."""
    if not stored:
        return recent
    newest = stored[-1]
    for position in range(len(recent) - 1, -1, -1):
        if listed(recent[position]) == newest:
            return recent[position + 1 :]
    newest_time = newest.get("time") or 0
    return [record for record in recent if (record.get("time") or 0) > newest_time]


def _identity(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record.get("time"), record.get("traceId"), record.get("step"), record.get("msg"))


def cluster_merged(
    stored: list[dict[str, Any]], recent: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A shared store's records with this worker's not yet written, by time. Workers send
    their history in batches of their own, so the store holds it in arrival order, and this
    worker's newest records may or may not be there yet: each is left out once for every
    record alike in the store, so none shows twice and none is lost."""
    written = Counter(_identity(record) for record in stored)
    unwritten = []
    for record in recent:
        key = _identity(record)
        if written[key]:
            written[key] -= 1
        else:
            unwritten.append(record)
    return sorted(stored + unwritten, key=lambda record: record.get("time") or 0)


class LogStore:
    """Newest records in a ring, all of them on disk."""

    def __init__(self, hub: EventHub, store: Persistence, memory_window: int) -> None:
        self._hub = hub
        self._store = store
        self.recent: deque[dict[str, Any]] = deque(maxlen=memory_window)
        self._shared = store.worker is not None
        """Several workers write this store: the ring holds this worker's records alone."""

    def warm(self) -> None:
        for record in self._store.recent_logs(self.recent.maxlen or 0):
            self.recent.append(json.loads(record))

    def add(self, record: dict[str, Any]) -> None:
        """The record's JSON, written once for the store, also goes with its event: a reader
        on another thread (the tape) then holds those bytes, which the collector never walks,
        rather than the record until it takes it (see `ThreadSubscription`)."""
        self.recent.append(record)
        encoded = jsonio.dumps_lenient_bytes(record)
        stored: LogRecord = (
            record["time"],
            LEVELS.get(record["level"], 20),
            record.get("traceId"),
            record.get("step"),
            record["msg"],
            encoded.decode(),
        )
        self._store.record(stored)
        hub = self._hub
        hub.publish(ev.LOG, record, encoded if hub.wants_bytes else None)

    async def find(
        self,
        trace_id: str | None = None,
        step: str | None = None,
        level: str | None = None,
        text: str | None = None,
        limit: int = 500,
        since: float | None = None,
        until: float | None = None,
    ) -> list[dict[str, Any]]:
        """Matching records, oldest first (flows a tuple in memory, a list from the disk):
        from memory, or from the disk in a thread when the memory ring is full (older records
        may match) and holds too few, or when other workers write the store too (their
        records are only there)."""
        records = matching(self.recent, trace_id, step, level, text, since, until)
        if self._shared or (len(records) < limit and len(self.recent) == self.recent.maxlen):
            await self._store.settled()  # history waits to be written in batches
            stored = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.query(trace_id, step, level, text, limit, since, until)
            )
            if self._shared:
                records = cluster_merged(stored, records)
            else:
                records = stored + newer_than(stored, records)
        return records[-limit:]

    async def count(self, since: float | None = None, until: float | None = None) -> int:
        """How many records the store holds with a time in [since, until] (the Logs pane's
        gap line says how many it does not show)."""
        if not self._shared and len(self.recent) < (self.recent.maxlen or 0):
            return len(matching(self.recent, None, None, None, None, since, until))
        await self._store.settled()
        return await asyncio.get_running_loop().run_in_executor(
            None, self._store.count_logs, since, until
        )

    def query(
        self,
        trace_id: str | None = None,
        step: str | None = None,
        level: str | None = None,
        text: str | None = None,
        limit: int = 500,
        since: float | None = None,
        until: float | None = None,
    ) -> list[dict[str, Any]]:
        """Matching records, oldest first, from the whole store (run it off the loop)."""
        rows = self._store.query_logs(
            trace_id, step, LEVELS.get(level, 0) if level else None, text, limit, since, until
        )
        return [json.loads(row) for row in rows]


class StepLogger:
    """`context.logger`: records bound to a trace, a step and its flows."""

    def __init__(
        self,
        emit_record: Callable[[dict[str, Any]], None],
        trace_id: str | None,
        step: str | None,
        flows: Iterable[str],
        span_id: str | None = None,
    ) -> None:
        self._emit_record = emit_record
        self._trace_id = trace_id
        self._step = step
        self._flows = shared_flows(flows)
        self._span_id = span_id

    def _log(self, level: str, message: Any, fields: Any = None) -> None:
        base: dict[str, Any] = {
            "level": level,
            "time": int(time.time() * 1000),
            "msg": message if isinstance(message, str) else repr(message),
            "traceId": self._trace_id,
            "spanId": self._span_id,
            "flows": self._flows,
            "step": self._step,
        }
        record = dict(base)
        merge_fields(record, fields)
        record.update(base)
        self._emit_record(record)

    def info(self, message: Any, fields: Any = None) -> None:
        self._log("info", message, fields)

    def warn(self, message: Any, fields: Any = None) -> None:
        self._log("warn", message, fields)

    def warning(self, message: Any, fields: Any = None) -> None:
        self._log("warn", message, fields)

    def error(self, message: Any, fields: Any = None) -> None:
        self._log("error", message, fields)

    def debug(self, message: Any, fields: Any = None) -> None:
        self._log("debug", message, fields)

    def log(self, message: Any, fields: Any = None) -> None:
        self._log("info", message, fields)


class RecordSink:
    """Where records go: the store, the span they belong to, from any thread."""

    def __init__(self, logs: LogStore, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._logs = logs
        self.loop = loop

    def __call__(self, record: dict[str, Any], span: Any = None) -> None:
        loop = self.loop
        if loop is None or _on_loop(loop):
            self._add(record, span)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._add, record, span)

    def _add(self, record: dict[str, Any], span: Any) -> None:
        if span is not None:
            span.add_log(record)
        self._logs.add(record)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class LoggingBridge(logging.Handler):
    """Routes Python `logging` (uvicorn's and the engine's own) into the log store, so no
    library writes to the real stderr under a full-screen UI."""

    def __init__(self, sink: RecordSink) -> None:
        super().__init__(logging.INFO)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        level = (
            "error"
            if record.levelno >= 40
            else "warn"
            if record.levelno >= 30
            else ("info" if record.levelno >= 20 else "debug")
        )
        data: dict[str, Any] = {
            "level": level,
            "time": int(record.created * 1000),
            "msg": record.getMessage(),
            "traceId": None,
            "flows": (),
            "step": None,
            "logger": record.name,
        }
        if record.exc_info:
            data["traceback"] = logging.Formatter().formatException(record.exc_info)
        self._sink(data)
