"""A trace as a file: export (the trace, its spans, logs, trigger and state changes) and import.

An export is meant to be attached to a bug report or kept beside a test, so it never holds a
secret: credentials in headers (wherever a step put them) and the values of environment
variables named as secret are masked (`engine.masking`). An import puts the trace into a
project's store with its original ids and marks it `imported`; the same trace twice is
refused, by name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from engine import jsonio, triggers
from engine.effects import LogRecord, TriggerRecord
from engine.logs import LEVELS
from engine.masking import Masker, secret_values
from engine.stores import Persistence
from engine.trace_facts import state_changes
from engine.tracing import Span, span_record

if TYPE_CHECKING:
    from engine.runtime import Engine

FORMAT = "motia-trace"
VERSION = 1
LOG_LIMIT = 10_000


class TraceFileError(ValueError):
    """An export that cannot be imported: `status` 400 (not an export) or 409 (held)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def build(
    trace: dict[str, Any], logs: Sequence[dict[str, Any]], trigger: dict[str, Any] | None
) -> dict[str, Any]:
    """The export document of a trace (its detail, with spans), masked."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": time.time() * 1000,
        "trace": trace,
        "logs": list(logs),
        "trigger": trigger,
        "stateChanges": state_changes(trace.get("spans") or []),
    }
    return mask(document)


def mask(document: dict[str, Any]) -> dict[str, Any]:
    masker = Masker(secret_values())
    masked: dict[str, Any] = orjson.loads(masker.json(jsonio.dumps_bytes(document, default=repr)))
    return masked


async def export(engine: Engine, trace_id: str) -> dict[str, Any] | None:
    """A trace of a running engine as an export document, or None when it has none."""
    trace = await engine.traces.find(trace_id)
    if trace is None:
        return None
    logs = await engine.logs.find(trace_id=trace_id, limit=LOG_LIMIT)
    return build(trace, logs, await triggers.read(engine.store, trace_id))


def parse(document: Any) -> tuple[str, list[Span], list[dict[str, Any]], dict[str, Any] | None]:
    """The trace id, spans (marked imported), logs and trigger of an export document."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TraceFileError(f"not a trace export (no \"format\": \"{FORMAT}\")")
    if document.get("version") != VERSION:
        raise TraceFileError(
            f"trace export version {document.get('version')!r}; this reads version {VERSION}"
        )
    trace = document.get("trace")
    spans = trace.get("spans") if isinstance(trace, dict) else None
    if not isinstance(trace, dict) or not isinstance(spans, list) or not spans:
        raise TraceFileError("the export holds no trace with spans")
    trace_id = trace.get("traceId")
    if not isinstance(trace_id, str) or not trace_id:
        raise TraceFileError("the export's trace has no traceId")
    parsed: list[Span] = []
    for number, data in enumerate(spans, 1):
        try:
            span = Span.from_json(data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise TraceFileError(f"span {number} of the export is malformed: {exc}") from None
        if span.trace_id != trace_id:
            raise TraceFileError(f"span {number} belongs to trace {span.trace_id}, not {trace_id}")
        span.imported = True
        span.written = False
        parsed.append(span)
    logs = document.get("logs") or []
    if not isinstance(logs, list) or not all(
        isinstance(r, dict) and isinstance(r.get("msg"), str) for r in logs
    ):
        raise TraceFileError("the export's logs are not a list of log records")
    trigger = document.get("trigger")
    if trigger is not None and not isinstance(trigger, dict):
        raise TraceFileError("the export's trigger is not an object")
    return trace_id, parsed, logs, trigger


def import_into_store(store: Persistence, document: Any) -> str:
    """Write an exported trace into a store no engine is running on (`motia trace import`)."""
    trace_id, spans, logs, trigger = parse(document)
    if store.trace_spans(trace_id):
        raise TraceFileError(f"trace {trace_id} is already in this store", 409)
    for span in spans:
        store.record(span_record(span, span.to_json()))
    _keep(store, trace_id, logs, trigger)
    return trace_id


async def import_into(engine: Engine, document: Any) -> str:
    """Put an exported trace into a running engine: held, kept and announced."""
    trace_id, spans, logs, trigger = parse(document)
    if engine.traces.holds(trace_id) or await engine.traces.find(trace_id) is not None:
        raise TraceFileError(f"trace {trace_id} is already in this store", 409)
    engine.traces.adopt(spans)
    for record in logs:
        engine.logs.add({**record, "imported": True})
    if trigger is not None:
        triggers.record(engine.store, trace_id, trigger)
    return trace_id


def _keep(
    store: Persistence, trace_id: str, logs: list[dict[str, Any]], trigger: dict[str, Any] | None
) -> None:
    for record in logs:
        marked = {**record, "imported": True}
        stored: LogRecord = (
            float(record.get("time") or 0),
            LEVELS.get(str(record.get("level")), 20),
            record.get("traceId"),
            record.get("step"),
            str(record["msg"]),
            jsonio.dumps_lenient(marked),
        )
        store.record(stored)
    if trigger is not None:
        store.record(TriggerRecord(trace_id, time.time() * 1000, jsonio.dumps_lenient(trigger)))
