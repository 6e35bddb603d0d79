"""A trace's status and summary from its spans, as the API and the Traces pane both compute
them (the whole-app agreement is tested in tests/tui/test_trace_agreement.py)."""

from __future__ import annotations

from engine.trace_view import trace_status, trace_summary


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
        "steps": ["Api", "Work"],
        "workers": [],
        "rerunOf": None,
        "rerunOfSpan": None,
        "imported": False,
    }


def test_the_summary_names_the_workers_in_order_of_their_first_span() -> None:
    spans = [span("b", "Work", "ok", 6, 2), span("a", "Api", "ok", 0, 5),
             span("c", "Work", "ok", 9, 1), span("d", "Work", "ok", 12, 1)]
    spans[0]["worker"], spans[1]["worker"], spans[2]["worker"] = "w2", "w1", "w2"
    assert trace_summary("t1", spans)["workers"] == ["w1", "w2"]
    assert trace_summary("t1", [])["workers"] == []


def test_a_failed_last_attempt_or_a_running_span_decides_the_status() -> None:
    failed = [span("a", "Api", "ok", 0, 5), span("b", "Work", "error", 6, 2, delivery="d")]
    assert trace_status(failed) == "error"
    assert trace_status([*failed, span("c", "Other", "running", 9, None)]) == "running"
    assert trace_summary("t", [])["status"] == "running"


def test_a_dead_letter_retried_into_success_is_ok() -> None:
    """The queue's retry starts again at attempt 1, after the attempts that failed."""
    spans = [
        span("a", "Api", "ok", 0, 5),
        span("b", "Work", "error", 6, 2, attempt=1, delivery="d1"),
        span("c", "Work", "error", 10, 2, attempt=2, delivery="d1"),
        span("r", "retry work", "ok", 50, 1),
        span("d", "Work", "ok", 51, 2, attempt=1, delivery="d1"),
    ]
    assert trace_status(spans) == "ok"
    assert trace_status(spans[:3]) == "error"
    assert trace_summary("t", spans)["errors"] == 2


def test_attempts_that_share_a_start_are_ranked_by_number() -> None:
    spans = [
        span("b", "Work", "ok", 6, 2, attempt=2, delivery="d1"),
        span("a", "Work", "error", 6, 2, attempt=1, delivery="d1"),
    ]
    assert trace_status(spans) == "ok"
