"""The Traces pane's model on plain data: summaries, statuses and the list filter."""

from __future__ import annotations

from motia_tui.widgets.trace_book import TraceFilter, trace_status, trace_summary


def span(
    span_id: str,
    step: str,
    status: str,
    start: float,
    duration: float | None,
    attempt: int = 1,
    delivery: str | None = None,
) -> dict[str, object]:
    data: dict[str, object] = {
        "spanId": span_id,
        "step": step,
        "status": status,
        "start": start,
        "durationMs": duration,
        "attempt": attempt,
        "kind": "event",
    }
    if delivery:
        data["deliveryId"] = delivery
    return data


def test_a_retry_that_succeeds_leaves_the_trace_ok() -> None:
    spans = [
        span("a", "Api", "ok", 0, 5),
        span("b", "Work", "error", 6, 2, attempt=1, delivery="d1"),
        span("c", "Work", "ok", 20, 3, attempt=2, delivery="d1"),
    ]
    assert trace_status(spans) == "ok"
    summary = trace_summary("t1", spans)
    assert summary == {
        "traceId": "t1",
        "entry": "Api",
        "kind": "event",
        "status": "ok",
        "startedAt": 0,
        "durationMs": 23,
        "spans": 3,
        "errors": 1,
    }


def test_a_failed_last_attempt_or_a_running_span_decides_the_status() -> None:
    failed = [span("a", "Api", "ok", 0, 5), span("b", "Work", "error", 6, 2, delivery="d")]
    assert trace_status(failed) == "error"
    assert trace_status([*failed, span("c", "Other", "running", 9, None)]) == "running"
    assert trace_summary("t", [])["status"] == "running"


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
