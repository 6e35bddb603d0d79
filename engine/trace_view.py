"""What a trace looks like from outside: its status and its summary row, from its spans.

The introspection API computes these from the spans the engine holds and the workbench from
the spans its events brought, with these same functions, so the two never disagree about a
trace. Pure functions on span JSON (`engine.events.SpanData`), with no store and no clock in them.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypedDict

TraceStatus = Literal["running", "ok", "error"]
RUNNING: Final = "running"
OK: Final = "ok"
ERROR: Final = "error"


class TraceSummary(TypedDict):
    """One row of `GET /__motia/traces` and of the Traces pane."""

    traceId: str
    entry: str | None
    kind: str | None
    status: TraceStatus
    startedAt: float | None
    durationMs: float
    spans: int
    errors: int
    steps: list[str]
    """Every step with a span in the trace, in order of first appearance: what `step:` filters
    match, in the API and in the workbench alike, even where only the summary is held."""
    workers: list[str]
    """The workers that ran its spans where several share a store (their consumer names), in
    order of first appearance; empty for a single process. What `worker:` filters match."""
    rerunOf: str | None
    """The trace this trace re-ran (from its root span)."""
    rerunOfSpan: str | None
    """For a re-run from a span: that span of `rerunOf`."""
    imported: bool
    """Read from an export file (`motia trace import`), with its original ids."""


def trace_status(spans: Iterable[Mapping[str, Any]]) -> TraceStatus:
    """Running while any span runs; otherwise an error when some run's last attempt failed.

    A run is one delivery (its attempts share a `deliveryId`) or a span on its own. Its last
    attempt is the latest to start: a dead letter retried from the queue starts again at
    attempt 1, after the attempts that sent it there."""
    last: dict[str, Mapping[str, Any]] = {}
    for span in spans:
        if span.get("status") == RUNNING:
            return RUNNING
        run = span.get("deliveryId") or span["spanId"]
        held = last.get(run)
        if held is None or _order(span) >= _order(held):
            last[run] = span
    return ERROR if any(s.get("status") == ERROR for s in last.values()) else OK


def _order(span: Mapping[str, Any]) -> tuple[float, int]:
    return (span.get("start") or 0, span.get("attempt") or 1)


def trace_summary(trace_id: str, spans: Sequence[Mapping[str, Any]]) -> TraceSummary:
    """The trace's row; a trace with no span yet is running, with nothing to name."""
    if not spans:
        return {
            "traceId": trace_id,
            "entry": None,
            "kind": None,
            "status": RUNNING,
            "startedAt": None,
            "durationMs": 0,
            "spans": 0,
            "errors": 0,
            "steps": [],
            "workers": [],
            "rerunOf": None,
            "rerunOfSpan": None,
            "imported": False,
        }
    ordered = sorted(spans, key=lambda s: s.get("start") or 0)
    first = ordered[0]
    started = first.get("start") or 0
    end = max((s.get("start") or 0) + (s.get("durationMs") or 0) for s in spans)
    return {
        "traceId": trace_id,
        "entry": first.get("step"),
        "kind": first.get("kind"),
        "status": trace_status(spans),
        "startedAt": started,
        "durationMs": round(end - started, 3),
        "spans": len(spans),
        "errors": sum(1 for s in spans if s.get("status") == ERROR),
        "steps": list(dict.fromkeys(str(s.get("step") or "") for s in ordered)),
        "workers": list(dict.fromkeys(str(s["worker"]) for s in ordered if s.get("worker"))),
        "rerunOf": first.get("rerunOf"),
        "rerunOfSpan": first.get("rerunOfSpan"),
        "imported": any(s.get("imported") for s in spans),
    }
