"""The Traces pane's model on plain data: the list filter, the bound on held log records."""

from __future__ import annotations

from engine import events as ev
from engine.events import WireEvent
from motia_tui.widgets.trace_book import LOG_BUDGET, TraceBook, TraceFilter


def test_the_filter_takes_status_step_and_text_terms() -> None:
    summary = {"traceId": "abc123", "entry": "GreetApi", "status": "error"}
    assert TraceFilter.parse("").is_empty
    assert TraceFilter.parse("status:err").matches(summary, [])
    assert not TraceFilter.parse("status:ok").matches(summary, [])
    assert TraceFilter.parse("step:makegreeting").matches(summary, ["MakeGreeting"])
    assert not TraceFilter.parse("step:Other").matches(summary, ["MakeGreeting"])
    assert TraceFilter.parse("abc1").matches(summary, [])
    assert TraceFilter.parse("status:error greet").matches(summary, [])
    assert not TraceFilter.parse("status:error nothing-like-it").matches(summary, [])


def test_the_filter_takes_a_worker_term() -> None:
    summary = {"traceId": "abc123", "entry": "GreetApi", "status": "ok"}
    assert TraceFilter.parse("worker:Host-1:42").matches(summary, [], ["host-1:42", "host-2:7"])
    assert not TraceFilter.parse("worker:host-3:1").matches(summary, [], ["host-1:42"])
    assert not TraceFilter.parse("worker:host-1:42").matches(summary, [])
    assert TraceFilter.parse("worker:host-1:42 status:ok greet").matches(summary, [],
                                                                         ["host-1:42"])
    assert not TraceFilter.parse("worker:x").is_empty


def _span_ended(trace_id: str, lines: int) -> WireEvent:
    logs = [{"level": "info", "msg": "line", "n": n, "traceId": trace_id} for n in range(lines)]
    return {"type": ev.SPAN_END, "time": 0.0, "data": {
        "traceId": trace_id, "spanId": f"{trace_id}-span", "parentId": None, "step": "Chatty",
        "kind": "api", "attempt": 1, "status": "ok", "start": 1.0, "durationMs": 2.0,
        "logs": logs}}


def test_spans_past_the_log_budget_leave_and_their_traces_stay_listed() -> None:
    """150 traces of a span carrying 200 records each are 30,000 records: the oldest traces
    keep their summaries (listed, filtered on their steps), not their spans."""
    book = TraceBook()
    traces = [f"trace{n:03}" for n in range(150)]
    for trace_id in traces:
        book.apply([_span_ended(trace_id, 200)])
    carried = sum(len(s["logs"]) for spans in book.spans.values() for s in spans.values())
    assert LOG_BUDGET - 200 < carried <= LOG_BUDGET
    assert list(book.summaries) == traces
    assert traces[0] not in book.spans and traces[-1] in book.spans
    assert book.summary(traces[0])["status"] == "ok"
    assert TraceFilter.parse("step:chatty").matches(book.summary(traces[0]),
                                                    book.steps_of(traces[0]))


def _span(trace_id: str, span_id: str, parent: str | None, kind: str) -> WireEvent:
    return {"type": ev.SPAN_END, "time": 0.0, "data": {
        "traceId": trace_id, "spanId": span_id, "parentId": parent, "step": "Step",
        "kind": kind, "attempt": 1, "status": "ok", "start": 2.0 if parent else 1.0,
        "durationMs": 2.0}}


def test_a_late_child_of_an_evicted_trace_is_fetched_whole() -> None:
    """A delivery delayed or retried after its trace left the book brings a span whose root
    the book no longer holds: the trace is listed again and marked to be fetched, not shown
    as if the child were all of it."""
    book = TraceBook(capacity=2)
    for trace_id in ("a", "b", "c"):
        book.apply([_span(trace_id, f"{trace_id}-root", None, "api")])
    assert "a" not in book.summaries and not book.incomplete
    touched, _reordered = book.apply([_span("a", "a-late", "a-root", "event")])
    assert touched == {"a"}
    assert list(book.summaries) == ["c", "a"]
    assert book.incomplete == {"a"}
    root, late = _span("a", "a-root", None, "api"), _span("a", "a-late", "a-root", "event")
    book.put_trace({"traceId": "a", "spans": [root["data"], late["data"]]})
    assert not book.incomplete
    assert (book.summary("a")["kind"], book.summary("a")["spans"]) == ("api", 2)
