"""What a trace did, read from its spans: its outcome, the steps it ran, what it emitted, the
state it read and the state it changed.

The diff of two traces, the export file and the test written from a trace all describe a
trace in these same terms. Pure functions on span JSON (`engine.events.SpanData`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.trace_view import trace_status
from engine.tracing import is_capped

WRITES = ("set", "delete", "clear")


def ordered(spans: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(spans, key=lambda s: (s.get("start") or 0, s.get("attempt") or 1))


def api_response(spans: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The answer of the trace's api step: `{"status", "body"}`, a 500 for a failed run,
    or None for a trace no request started."""
    for span in ordered(spans):
        if span.get("kind") != "api" or span.get("parentId") is not None:
            continue
        output = span.get("output")
        if span.get("status") == "ok" and isinstance(output, dict):
            return {"status": output.get("status"), "body": output.get("body")}
        if span.get("status") == "error":
            return {"status": 500, "body": None}
        return None
    return None


def outcome(spans: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The trace's status, its api answer, and the error of every failed attempt."""
    errors = [
        {"step": s.get("step"), "attempt": s.get("attempt") or 1,
         "error": (s.get("error") or {}).get("message")}
        for s in ordered(spans)
        if s.get("status") == "error"
    ]
    return {"status": trace_status(spans), "response": api_response(spans), "errors": errors}


def steps_run(spans: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per run of a step (its attempts together), in the order runs began."""
    runs: dict[str, dict[str, Any]] = {}
    for span in ordered(spans):
        run = str(span.get("deliveryId") or span.get("spanId"))
        entry = runs.get(run)
        if entry is None:
            entry = runs[run] = {"step": span.get("step"), "attempts": 0, "status": None}
        entry["attempts"] += 1
        entry["status"] = span.get("status")
    return list(runs.values())


def by_step(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries in step order (each step's own in the order they happened): steps that run
    side by side finish in any order, and a comparison must not depend on it."""
    return sorted(entries, key=lambda entry: str(entry.get("step")))


def emits(spans: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every event the trace emitted, in order: the step, the topic and the data."""
    return [
        {"step": span.get("step"), "topic": emit.get("topic"), "data": emit.get("data")}
        for span in ordered(spans)
        if span.get("status") != "error"
        for emit in span.get("emits") or []
    ]


def state_changes(spans: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every write that was kept (a failed attempt's writes are not), with the value before
    and after; a cleared group is one change with the group's items before."""
    changes: list[dict[str, Any]] = []
    for span in ordered(spans):
        if span.get("status") == "error":
            continue
        for op in span.get("stateOps") or []:
            kind = op.get("op")
            if kind not in WRITES:
                continue
            changes.append(
                {
                    "step": span.get("step"),
                    "op": kind,
                    "group": op.get("group"),
                    "key": op.get("key"),
                    "before": op.get("previous"),
                    "after": op.get("value") if kind == "set" else None,
                }
            )
    return changes


def net_state(
    spans: Sequence[Mapping[str, Any]],
) -> dict[tuple[str, str | None], dict[str, Any]]:
    """State changes key by key (`(group, key)`, key None for a cleared group): the value
    before the trace's first write to it and after its last one."""
    net: dict[tuple[str, str | None], dict[str, Any]] = {}
    for change in state_changes(spans):
        name = (str(change["group"]), change["key"])
        entry = net.get(name)
        if entry is None:
            net[name] = {"before": change["before"], "after": change["after"]}
        else:
            entry["after"] = change["after"]
    return net


def state_read(spans: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The state the trace found: each key it read before writing it, with the value read
    (keys read absent, and values too large for the span to keep, are left out)."""
    found: dict[tuple[str, str], Any] = {}
    written: set[tuple[str, str]] = set()
    cleared: set[str] = set()
    for span in ordered(spans):
        for op in span.get("stateOps") or []:
            kind, group = op.get("op"), str(op.get("group"))
            if kind == "get" and op.get("found") and "value" in op:
                _seed(found, written, cleared, group, str(op.get("key")), op["value"])
            elif kind == "getGroup":
                for key, value in (op.get("items") or {}).items():
                    _seed(found, written, cleared, group, str(key), value)
            elif kind in ("set", "delete"):
                written.add((group, str(op.get("key"))))
            elif kind == "clear":
                cleared.add(group)
    return [{"group": g, "key": k, "value": v} for (g, k), v in found.items()]


def _seed(
    found: dict[tuple[str, str], Any],
    written: set[tuple[str, str]],
    cleared: set[str],
    group: str,
    key: str,
    value: Any,
) -> None:
    where = (group, key)
    if where in found or where in written or group in cleared or is_capped(value):
        return
    found[where] = value
