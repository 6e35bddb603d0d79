"""The Traces pane's model, with no widget in it: spans kept from span events, summaries
computed from them by `engine.trace_view` (as the API computes its own), and the list filter.
Pure, so it is tested on plain data."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine import events as ev
from engine.events import WireEvent
from engine.trace_view import trace_summary

CAPACITY = 10_000
"""Traces held (their spans too, so opening one needs no round trip), as many as the engine
keeps in memory."""
LOG_BUDGET = 20_000
"""Log records the held spans may carry in all: past it the oldest traces keep only their
summary, as after a reload, and opening one fetches it. A span carries up to 200 records, each
a dict of its own, so 10,000 traces of a step that logs hundreds of lines a run held whole
would be most of a gigabyte; 20,000 records are some 14 MB."""
_TERM = re.compile(r"(status|step|worker):(\S*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """`status:error step:Name worker:name free text`: every present term must hold."""

    status: str = ""
    step: str = ""
    text: str = ""
    worker: str = ""

    @classmethod
    def parse(cls, text: str) -> TraceFilter:
        terms = {"status": "", "step": "", "worker": ""}
        words = []
        for word in text.split():
            token = _TERM.fullmatch(word)
            if token is None:
                words.append(word)
            else:
                terms[token.group(1).lower()] = token.group(2).casefold()
        return cls(terms["status"], terms["step"], " ".join(words).casefold(), terms["worker"])

    @property
    def is_empty(self) -> bool:
        return not (self.status or self.step or self.text or self.worker)

    def matches(self, summary: Mapping[str, Any], steps: Iterable[str],
                workers: Iterable[str] = ()) -> bool:
        if self.status and not str(summary.get("status", "")).startswith(self.status):
            return False
        if self.worker and self.worker not in {worker.casefold() for worker in workers}:
            return False
        names = [str(summary.get("entry") or ""), *steps]
        folded = [name.casefold() for name in names]
        if self.step and self.step not in folded:
            return False
        if self.text:
            haystack = " ".join([str(summary.get("traceId", "")).casefold(), *folded])
            return self.text in haystack
        return True


class TraceBook:
    """Recent traces, oldest first: their spans as events brought them, and summaries.

    `apply` runs for every span the engine reports, so it only files spans away; a
    summary is computed when something needs it (a row on screen, a filter) and kept until
    the trace changes again.
    """

    def __init__(self, capacity: int = CAPACITY, log_budget: int = LOG_BUDGET) -> None:
        self.capacity = capacity
        self.log_budget = log_budget
        self.summaries: OrderedDict[str, Mapping[str, Any] | None] = OrderedDict()
        """Every trace in order of arrival; None until its summary is asked for."""
        self.spans: dict[str, dict[str, Mapping[str, Any]]] = {}
        self.incomplete: set[str] = set()
        """Traces whose other spans must be fetched: listed by a reload and then given a new span,
        or first seen by a span that is not their root."""
        self._reruns: dict[str, list[str]] = {}
        """A trace's id to the traces that re-ran it, as spans, reloads and fetches told."""
        self._carried: OrderedDict[str, int] = OrderedDict()
        """The traces whose held spans carry log records, oldest first, and how many."""
        self._carried_total = 0

    def __len__(self) -> int:
        return len(self.summaries)

    def summary(self, trace_id: str) -> Mapping[str, Any]:
        summary = self.summaries[trace_id]
        if summary is None:
            summary = trace_summary(trace_id, list(self.spans.get(trace_id, {}).values()))
            self.summaries[trace_id] = summary
        return summary

    def steps_of(self, trace_id: str) -> set[str]:
        """The steps of every span of the trace: those held, and those its summary names
        (after a reload only summaries are held, and their spans hold the steps filtered on)."""
        steps = {str(s.get("step") or "") for s in self.spans.get(trace_id, {}).values()}
        summary = self.summaries.get(trace_id)
        if summary is not None:
            steps.update(str(step) for step in summary.get("steps") or [])
        return steps

    def workers_of(self, trace_id: str) -> set[str]:
        """The workers of every span of the trace, held or named by its summary, as
        `steps_of` (spans of a reload's traces are not held)."""
        workers = {str(s["worker"]) for s in self.spans.get(trace_id, {}).values()
                   if s.get("worker")}
        summary = self.summaries.get(trace_id)
        if summary is not None:
            workers.update(str(worker) for worker in summary.get("workers") or [])
        return workers

    def apply(self, events_: Iterable[WireEvent]) -> tuple[set[str], bool]:
        """Take span events; the traces touched, and whether traces were added or evicted."""
        touched: set[str] = set()
        held, summaries = self.spans, self.summaries
        reordered = False
        for event in events_:
            if event["type"] != ev.SPAN_START and event["type"] != ev.SPAN_END:
                continue
            span = event["data"]
            trace_id = span["traceId"]
            spans = held.get(trace_id)
            if spans is None:
                spans = held[trace_id] = {}
                if trace_id in summaries or span.get("parentId"):
                    # listed by a reload, or a late child of a trace evicted from the book
                    # (a delayed delivery, a retry): its other spans are in the store
                    self.incomplete.add(trace_id)
                if trace_id not in summaries:
                    summaries[trace_id] = None
                    reordered = True
            before = spans.get(span["spanId"])
            spans[span["spanId"]] = span
            if span.get("logs") or (before is not None and before.get("logs")):
                self._carry(trace_id, _logs(span) - (_logs(before) if before else 0))
            touched.add(trace_id)
            original = span.get("rerunOf")
            if original:
                self._link(original, trace_id)
        for trace_id in touched:
            if trace_id not in self.incomplete:
                summaries[trace_id] = None
        self._shed()
        return touched, self._evict() or reordered

    def _carry(self, trace_id: str, records: int) -> None:
        """Count `records` more log records (or fewer) in the trace's held spans."""
        self._carried[trace_id] = self._carried.get(trace_id, 0) + records
        self._carried_total += records

    def _shed(self) -> None:
        """Past `log_budget`, the oldest traces keep their summary and let their spans go (the
        newest trace keeps its spans, however many records they carry)."""
        while self._carried_total > self.log_budget and len(self._carried) > 1:
            oldest, records = self._carried.popitem(last=False)
            self._carried_total -= records
            if oldest in self.summaries:
                self.summary(oldest)
            self.spans.pop(oldest, None)
            self.incomplete.discard(oldest)

    def _evict(self) -> bool:
        evicted = False
        while len(self.summaries) > self.capacity:
            oldest, _summary = self.summaries.popitem(last=False)
            self.spans.pop(oldest, None)
            self.incomplete.discard(oldest)
            self._reruns.pop(oldest, None)
            self._carried_total -= self._carried.pop(oldest, 0)
            evicted = True
        return evicted

    def load(self, newest_first: list[dict[str, Any]]) -> None:
        """Replace everything with a reload's list; held spans may be stale, so drop them."""
        self.summaries = OrderedDict((s["traceId"], s) for s in reversed(newest_first))
        self.spans.clear()
        self.incomplete.clear()
        self._reruns.clear()
        self._carried.clear()
        self._carried_total = 0
        for summary in newest_first:
            original = summary.get("rerunOf")
            if original:
                self._link(str(original), summary["traceId"])
        self._evict()

    def put_trace(self, detail: Mapping[str, Any]) -> None:
        """A fetched trace: hold its spans and refresh its summary."""
        trace_id = detail["traceId"]
        self.spans[trace_id] = {s["spanId"]: s for s in detail.get("spans", [])}
        self._carried_total -= self._carried.pop(trace_id, 0)
        self._carry(trace_id, sum(_logs(s) for s in self.spans[trace_id].values()))
        self._shed()
        self.incomplete.discard(trace_id)
        if trace_id in self.summaries:
            self.summaries[trace_id] = None
        for rerun in detail.get("reruns") or []:
            self._link(trace_id, rerun)

    def _link(self, original: str, rerun: str) -> None:
        reruns = self._reruns.setdefault(original, [])
        if rerun not in reruns:
            reruns.append(rerun)

    def reruns_of(self, trace_id: str) -> list[str]:
        """The traces held that re-ran `trace_id`, in the order they were seen."""
        return [t for t in self._reruns.get(trace_id, ()) if t in self.summaries]


def _logs(span: Mapping[str, Any]) -> int:
    return len(span.get("logs") or ())
