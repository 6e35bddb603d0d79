"""Traces, spans and the bounded trace store.

One trace per outside trigger (an HTTP request, a cron tick, a manual emit); one span per
step run attempt, parented to the span that caused it. The newest traces live in memory for
the workbench; every finished span is also written to the store so history survives a
restart, pruned to the configured number of traces.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import itertools
import os
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from engine import events as ev
from engine import jsonio
from engine.effects import SpanRecord
from engine.events import EventHub
from engine.span_bounds import CUT_KEY, cut_body
from engine.stores import Persistence
from engine.trace_view import ERROR, OK, RUNNING, trace_summary

MAX_SPAN_LOGS = 200
RUNNING_WRITE_DELAY_S = 0.2
MAX_SPAN_OPS = 500
PACK_AT = 4_096
"""An ended span whose JSON is longer than this is held in the trace window compressed: a
span carrying its 200 log records is some 40,000 characters that compress to a few thousand
bytes (60 us to pack, 25 us to unpack on a loaded 2-core machine), while the short spans most
runs make are held as their text and cost nothing more."""


def op_value(value: Any, raw: str, limit: int) -> Any:
    """A state value (what a read returned, what a write replaced) as a span keeps it:
    itself, or past `limit` (`span_body_bytes`) a marked cut, as bodies are kept."""
    return value if len(raw) <= limit else cut_body(raw.encode(), limit)


def is_capped(value: Any) -> bool:
    """Whether a value a span holds is a cut (`engine.span_bounds`), not the value."""
    return isinstance(value, dict) and CUT_KEY in value


def _random_ids(width: int) -> Iterator[list[str]]:
    """Random ids of `width` hex digits, from the OS's generator: trace ids reach users (and
    some projects key data by them), so they must not be guessable. The bits are drawn 256 ids
    at a time, because a system call per id costs more than a small step run, and handed out
    from a list by `itertools.chain` in C: no Python frame resumes per id."""
    while True:
        bits = os.urandom(width * 128).hex()
        yield [bits[start : start + width] for start in range(0, len(bits), width)]


new_id: Callable[[], str] = functools.partial(
    next, itertools.chain.from_iterable(_random_ids(32))
)
"""A fresh random id (32 hex digits, 128 bits); call it on the event loop's thread."""

_trace_bits: Callable[[], str] = functools.partial(
    next, itertools.chain.from_iterable(_random_ids(20))
)
"""80 random bits: the start of a trace id `Span` makes."""


class Span:
    """One attempt of one step run."""

    __slots__ = (
        "attempt",
        "delivery_id",
        "duration_ms",
        "emits",
        "error",
        "imported",
        "input",
        "kind",
        "logs",
        "output",
        "parent_id",
        "rerun_of",
        "span_id",
        "start",
        "state_ops",
        "status",
        "step",
        "topic",
        "trace_id",
        "untraced",
        "worker",
        "written",
    )

    def __init__(
        self,
        trace_id: str | None,
        parent_id: str | None,
        step: str,
        kind: str,
        attempt: int,
        input_: Any,
        delivery_id: str | None = None,
    ) -> None:
        start = time.time() * 1000
        self.span_id = new_id()
        self.trace_id = trace_id or _trace_bits() + format(int(start), "012x")
        """Without one given, a new trace's: 80 random bits, then the time in milliseconds
        (12 hex digits). Its start is as random as any id's (what a short id shows, what a
        project keys by), while the store's index of spans by trace (on the last 12 digits)
        takes each new trace at its end instead of on a random page the next commit writes
        whole. Made on the loop's thread, from the span's own clock reading."""
        self.parent_id = parent_id
        self.step = step
        self.kind = kind
        self.attempt = attempt
        self.delivery_id = delivery_id
        self.status = RUNNING
        self.start = start
        self.duration_ms: float | None = None
        self.input = input_
        self.output: Any = None
        self.error: dict[str, Any] | None = None
        self.emits: list[dict[str, Any]] | tuple[()] = ()
        self.state_ops: list[dict[str, Any]] | tuple[()] = ()
        self.logs: list[dict[str, Any]] | tuple[()] = ()
        self.written = False
        self.untraced = False
        """Past its trace's bound on spans: counted in the trace's summary, never kept."""
        self.rerun_of: dict[str, str] | None = None
        self.imported = False
        self.topic: str | None = None
        """The topic an event step's input came on (what a re-run from this span sends)."""
        self.worker: str | None = None
        """The worker that ran it, when several share the store (its consumer name)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Span:
        """A span read back from the store."""
        span = cls(
            data["traceId"],
            data.get("parentId"),
            data["step"],
            data.get("kind", ""),
            data.get("attempt", 1),
            data.get("input"),
            data.get("deliveryId"),
        )
        span.span_id = data["spanId"]
        span.status = data["status"]
        span.start = data["start"]
        span.duration_ms = data.get("durationMs")
        span.output = data.get("output")
        span.error = data.get("error")
        span.emits = data.get("emits") or ()
        span.state_ops = data.get("stateOps") or ()
        span.logs = data.get("logs") or ()
        if data.get("rerunOf"):
            span.rerun_of = {"traceId": data["rerunOf"]}
            if data.get("rerunOfSpan"):
                span.rerun_of["spanId"] = data["rerunOfSpan"]
        span.imported = bool(data.get("imported"))
        span.topic = data.get("topic")
        span.worker = data.get("worker")
        return span

    # The lists start as a shared empty tuple: most runs never fill one, and three lists per
    # span held in the trace window are work for every pass of the garbage collector.

    def add_emit(self, emit: dict[str, Any]) -> None:
        self.emits = _appended(self.emits, emit, None)

    def add_op(self, op: dict[str, Any]) -> None:
        self.state_ops = _appended(self.state_ops, op, MAX_SPAN_OPS)

    def add_log(self, record: dict[str, Any]) -> None:
        self.logs = _appended(self.logs, record, MAX_SPAN_LOGS)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "spanId": self.span_id,
            "traceId": self.trace_id,
            "parentId": self.parent_id,
            "step": self.step,
            "kind": self.kind,
            "attempt": self.attempt,
            "status": self.status,
            "start": self.start,
            "durationMs": self.duration_ms,
            "input": self.input,
            "emits": self.emits or [],
            "stateOps": self.state_ops or [],
            "logs": self.logs or [],
        }
        if self.delivery_id is not None:
            data["deliveryId"] = self.delivery_id
        if self.topic is not None:
            data["topic"] = self.topic
        if self.status == OK:
            data["output"] = self.output
        if self.error is not None:
            data["error"] = self.error
        if self.rerun_of is not None:
            data["rerunOf"] = self.rerun_of["traceId"]
            if "spanId" in self.rerun_of:
                data["rerunOfSpan"] = self.rerun_of["spanId"]
        if self.imported:
            data["imported"] = True
        if self.worker is not None:
            data["worker"] = self.worker
        return data


def _appended(
    items: list[dict[str, Any]] | tuple[()], item: dict[str, Any], limit: int | None
) -> list[dict[str, Any]]:
    """`items` with `item` added (a new list in place of the empty tuple), up to `limit`."""
    if not items:
        return [item]
    assert isinstance(items, list)
    if limit is None or len(items) < limit:
        items.append(item)
    return items


class TraceStore:
    """The newest traces in memory, every finished span on disk."""

    def __init__(
        self, hub: EventHub, store: Persistence, memory_window: int, max_spans: int = 10_000,
        window_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self._hub = hub
        self._store = store
        self._window = memory_window
        self._max_spans = max_spans
        self._window_bytes = window_bytes
        self._held_bytes = 0
        """Characters of ended spans' JSON the window holds, packed or not (running spans
        are few)."""
        self._traces: OrderedDict[str, dict[str, Held]] = OrderedDict()
        self._untraced: dict[str, dict[str, Any]] = {}
        """Per trace past its bound: the spans counted, not kept, and their steps."""
        self._unwritten: dict[str, Span] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._reruns: dict[str, list[str]] = {}
        """Original trace id to the traces that re-ran it, over the traces held in memory."""
        self._rerun_roots: dict[str, str] = {}
        """A held re-run's trace id to the trace it re-ran (ended spans are held as text)."""
        self._worker = store.worker

    def warm(self) -> None:
        """Load the newest traces' spans from disk so the workbench opens with history."""
        for data in self._store.recent_spans(self._window):
            span = Span.from_json(jsonio.loads(data))
            if span.status == RUNNING:
                span.status = ERROR
                span.error = {"message": "interrupted: the server stopped during this run"}
            self._hold(span, jsonio.dumps_lenient(span.to_json()))

    def _hold(self, span: Span, text: str | None = None) -> bool:
        """Keep a span in the memory window (the oldest trace leaves when it is full): the
        live object while it runs, or its JSON `text` once it has ended (`_packed`). False
        when its trace holds `max_spans` already: the span is counted, not kept."""
        spans = self._traces.get(span.trace_id)
        if spans is None:
            spans = self._traces[span.trace_id] = {}
            if len(self._traces) > self._window:
                self._evict_oldest()
        if len(spans) >= self._max_spans:
            self._count_untraced(span)
            return False
        spans[span.span_id] = span if text is None else _packed(text, text.encode())
        if text is not None:
            self._grew(len(text))
        if span.rerun_of is not None and span.parent_id is None:
            self._link(span.trace_id, span.rerun_of["traceId"])
        return True

    def _link(self, trace_id: str, original: str) -> None:
        """Remember a held re-run of another trace."""
        self._rerun_roots[trace_id] = original
        self._reruns.setdefault(original, []).append(trace_id)

    def _evict_oldest(self) -> None:
        """The oldest trace leaves the window (the store still holds it). Once per trace:
        a plain loop, as a comprehension is a call of its own, with `_held_size` written out
        (a call per span)."""
        gone, spans = self._traces.popitem(last=False)
        held_bytes = self._held_bytes
        for held in spans.values():
            if type(held) is str:
                held_bytes -= len(held)
            elif type(held) is tuple:
                held_bytes -= held[0]
        self._held_bytes = held_bytes
        if self._untraced:
            self._untraced.pop(gone, None)
        if self._rerun_roots:
            self._unlink(gone)

    def _grew(self, size: int) -> None:
        """An ended span's text was added: past `window_bytes`, the oldest traces leave,
        down to the newest one."""
        self._held_bytes += size
        while self._held_bytes > self._window_bytes and len(self._traces) > 1:
            self._evict_oldest()

    def _unlink(self, trace_id: str) -> None:
        """Forget a trace that left the window as a re-run of another."""
        original = self._rerun_roots.pop(trace_id, None)
        if original is None:
            return
        reruns = self._reruns.get(original, [])
        if trace_id in reruns:
            reruns.remove(trace_id)
        if not reruns:
            self._reruns.pop(original, None)

    def holds(self, trace_id: str) -> bool:
        return trace_id in self._traces

    def adopt(self, spans: Sequence[Span]) -> None:
        """Finished spans from elsewhere (an imported trace): held, kept and announced."""
        for span in spans:
            data = span.to_json()
            record = span_record(span, data)
            self._hold(span, record[4])
            self._store.record(record)
            if self._hub.wants(ev.SPAN_END):
                self._hub.publish(ev.SPAN_END, data)

    def start_span(self, span: Span) -> None:
        """Hold a running span in the window (`_hold`, written out: once per run)."""
        span.worker = self._worker
        traces = self._traces
        spans = traces.get(span.trace_id)
        if spans is None:
            spans = traces[span.trace_id] = {}
            if len(traces) > self._window:
                self._evict_oldest()
        elif len(spans) >= self._max_spans:
            self._count_untraced(span)
            return
        spans[span.span_id] = span
        if span.rerun_of is not None and span.parent_id is None:
            self._link(span.trace_id, span.rerun_of["traceId"])
        self._unwritten[span.span_id] = span
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_running())
        wanted = self._hub.wanted  # `hub.wants`, without the call: once a run
        if wanted is None or ev.SPAN_START in wanted:
            self._hub.publish_start(span)

    async def _flush_running(self) -> None:
        """Write spans that have run for a while, so a run the process dies in reads as
        interrupted after a restart instead of vanishing from its trace. Quick runs finish
        first and are written once, at their end."""
        try:
            while self._unwritten:
                await asyncio.sleep(RUNNING_WRITE_DELAY_S)
                cutoff = time.time() * 1000 - RUNNING_WRITE_DELAY_S * 1000
                for span_id, span in list(self._unwritten.items()):
                    if span.start <= cutoff:
                        del self._unwritten[span_id]
                        self._store.record(span_record(span, span.to_json()))
        finally:
            self._flusher = None  # the next span starts another: no `done()` call per span

    async def stop(self) -> None:
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)

    def _count_untraced(self, span: Span) -> None:
        """One trace keeps `max_spans` spans, whatever one runaway does in it; the rest are
        counted per step, so the trace still says how much happened."""
        span.untraced = True
        summary = self._untraced.get(span.trace_id)
        if summary is None:
            summary = self._untraced[span.trace_id] = {"spans": 0, "errors": 0, "steps": {}}
        summary["spans"] += 1
        steps = summary["steps"]
        steps[span.step] = steps.get(span.step, 0) + 1

    def end_span(self, span: Span, status: str, output: Any = None, error: Any = None) -> None:
        """Close the span and keep it: history, written whatever became of the run."""
        span.status = status
        if span.untraced:
            if status == ERROR:
                self._untraced[span.trace_id]["errors"] += 1
            return
        # Microseconds rounded as an integer, then scaled: `round(x, 3)` goes through a
        # decimal conversion that costs four times as much, once per run.
        now = time.time() * 1000
        span.duration_ms = round((now - span.start) * 1000) / 1000
        span.output = output
        span.error = error
        span_id = span.span_id
        self._unwritten.pop(span_id, None)
        data = span.to_json()
        encoded = jsonio.dumps_lenient_bytes(data)
        wanted = self._hub.wanted  # `hub.wants`, without the call: once a run
        if wanted is None or ev.SPAN_END in wanted:
            self._hub.publish_end(now, span_id, data, encoded)
        text = encoded.decode()
        self._store.record(_record(span, text))
        spans = self._traces.get(span.trace_id)
        if spans is not None:
            before = spans.get(span_id)
            if before is not None:
                # Once per run: most spans are short, kept as their text without a call, and
                # `before` is nearly always the span itself, running, which counts nothing.
                size = len(text)
                spans[span_id] = text if size <= PACK_AT else _packed(text, encoded)
                self._held_bytes += size if type(before) is Span else size - _held_size(before)
                if self._held_bytes > self._window_bytes:
                    self._grew(0)

    def list(
        self, limit: int = 100, status: str | None = None, step: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first, from memory."""
        newest = (
            (trace_id, [_span_json(held) for held in self._traces[trace_id].values()])
            for trace_id in reversed(self._traces)
        )
        return self._summaries(newest, limit, status, step)

    def _summaries(
        self, newest: Iterable[tuple[str, builtins.list[dict[str, Any]]]], limit: int,
        status: str | None, step: str | None,
    ) -> builtins.list[dict[str, Any]]:
        """The first `limit` of these traces, newest first, that pass both filters."""
        result = []
        for trace_id, spans in newest:
            if not spans or (step and not any(s["step"] == step for s in spans)):
                continue
            summary = trace_summary(trace_id, spans)
            if status and summary["status"] != status:
                continue
            result.append(self._with_untraced(trace_id, dict(summary)))
            if len(result) >= limit:
                break
        return result

    async def recent(
        self, limit: int = 100, status: str | None = None, step: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Newest first, as `list`; with a store several workers share, memory holds only
        this worker's traces, so the cluster's newest come from the store (in a thread),
        with this worker's newest over them (its running spans are not written yet)."""
        if self._worker is None:
            return self.list(limit, status, step)
        wanted = limit if not (status or step) else min(self._window, limit * 10)
        await self._store.settled()
        rows = await asyncio.get_running_loop().run_in_executor(
            None, self._store.recent_spans, wanted
        )
        traces: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            span = jsonio.loads(row)
            traces.setdefault(span["traceId"], {})[span["spanId"]] = span
        for trace_id in list(reversed(self._traces))[:wanted]:
            spans = traces.setdefault(trace_id, {})
            for held in self._traces[trace_id].values():
                span = _span_json(held)
                spans[span["spanId"]] = span
        started = {
            trace_id: min(s["start"] for s in spans.values())
            for trace_id, spans in traces.items() if spans
        }
        newest = (
            (trace_id, list(traces[trace_id].values()))
            for trace_id in sorted(started, key=started.__getitem__, reverse=True)
        )
        return self._summaries(newest, limit, status, step)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        """A recent trace from memory, or None."""
        spans = self._traces.get(trace_id)
        if not spans:
            return None
        span_list = [_span_json(held) for held in spans.values()]
        detail = self._detail(trace_id, sorted(span_list, key=lambda s: s["start"]))
        return self._with_untraced(trace_id, detail)

    def _with_untraced(self, trace_id: str, summary: dict[str, Any]) -> dict[str, Any]:
        """`untracedSpans`: how many spans past the bound the trace counted but did not keep
        (`spans`, `errors` among them, and `steps`, per step)."""
        untraced = self._untraced.get(trace_id)
        if untraced is not None:
            summary["untracedSpans"] = {**untraced, "steps": dict(untraced["steps"])}
        return summary

    def reruns(self, trace_id: str) -> builtins.list[str]:
        """The traces held in memory that re-ran this one, oldest first."""
        return list(self._reruns.get(trace_id, ()))

    async def find(self, trace_id: str) -> dict[str, Any] | None:
        """A trace from memory, or from the disk in a thread. With a store several workers
        share, memory holds only this worker's spans of a trace: the store's are read too,
        and this worker's newer versions (a span still running) replace theirs."""
        found = self.get(trace_id)
        if found is None or self._worker is not None:
            await self._store.settled()  # history waits to be written in batches
            stored = await asyncio.get_running_loop().run_in_executor(None, self.load, trace_id)
            if found is not None and stored is not None:
                spans = {span["spanId"]: span for span in stored["spans"]}
                spans.update((span["spanId"], span) for span in found["spans"])
                ordered = sorted(spans.values(), key=lambda s: s["start"])
                return self._with_untraced(trace_id, self._detail(trace_id, ordered))
            found = found or stored
        return found

    def load(self, trace_id: str) -> dict[str, Any] | None:
        """An older trace from disk (blocking: call it in a thread)."""
        spans = [
            Span.from_json(jsonio.loads(data)).to_json()
            for data in self._store.trace_spans(trace_id)
        ]
        return self._detail(trace_id, spans) if spans else None

    def _detail(self, trace_id: str, spans: Sequence[dict[str, Any]]) -> dict[str, Any]:
        detail: dict[str, Any] = dict(trace_summary(trace_id, spans))
        detail["reruns"] = self.reruns(trace_id)
        detail["spans"] = spans
        return detail


Held = Span | str | tuple[int, bytes]
"""A span in the memory window: a running span is the live object, an ended one only its
JSON text (the very string the store writes), or past `PACK_AT` that text's length and its
UTF-8 compressed. The window holds thousands of runs: a string or a tuple of two each, not a
dozen objects each for the collector to walk and, once they are cold, for the window to free."""


def _packed(text: str, encoded: bytes) -> str | tuple[int, bytes]:
    """An ended span as the window holds it, from its JSON as text and as UTF-8."""
    if len(text) <= PACK_AT:
        return text
    return (len(text), zlib.compress(encoded, 1))


def _held_size(held: Held) -> int:
    """The characters of JSON a held span counts towards `window_bytes` (a running one none)."""
    if isinstance(held, str):
        return len(held)
    if isinstance(held, tuple):
        return held[0]
    return 0


def _span_json(held: Held) -> dict[str, Any]:
    """A span of the memory window as JSON data."""
    if isinstance(held, Span):
        return held.to_json()
    data: dict[str, Any] = jsonio.loads(held if isinstance(held, str) else zlib.decompress(held[1]))
    return data


def span_record(span: Span, data: dict[str, Any]) -> SpanRecord:
    """The record of a span whose JSON data is at hand (encoded here)."""
    return _record(span, jsonio.dumps_lenient_bytes(data).decode())


def _record(span: Span, text: str) -> SpanRecord:
    """Spans have no unique index (it would cost a random B-tree insert per run); the rare
    span written while running is replaced when it is written again."""
    rewrite = span.written
    span.written = True
    return (
        span.span_id,
        span.trace_id,
        1 if span.parent_id is None else 0,
        span.start,
        text,
        rewrite,
    )
