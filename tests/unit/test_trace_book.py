"""The Traces pane's model on plain data: the list filter."""

from __future__ import annotations

from motia_tui.widgets.trace_book import TraceFilter


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
