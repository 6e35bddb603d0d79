"""Spans and log records in Redis: bounded, shared by every worker, queried by any of them.

Spans go to one hash per trace, indexed by the trace's start in a sorted set capped at the
configured number of traces (the script drops the oldest traces whole); a span written again
replaces its first version in the hash. Log records go to a capped stream (`MAXLEN ~`), read
newest first for queries. The reads here block, as the protocol's history reads do; their
client decodes replies to `str` (redis-py types every reply as `bytes | str`, hence `Any`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from engine.effects import History, LogRecord, SpanRecord, TriggerRecord, is_span
from engine.stores.base import TriggerLimits
from engine.stores.redis import scripts
from engine.stores.redis.line import Command

PAGE = 1_000
ORDER_SLACK_MS = 5_000
"""How far before a window's start the stream is still read: records from threads reach it
later than their time says."""


class Batch:
    """One flush's history, by kind."""

    __slots__ = ("logs", "spans", "triggers")

    def __init__(self, items: Sequence[History]) -> None:
        self.spans: list[SpanRecord] = []
        self.logs: list[LogRecord] = []
        self.triggers: list[TriggerRecord] = []
        for item in items:
            if isinstance(item, TriggerRecord):
                self.triggers.append(item)
            elif is_span(item):
                self.spans.append(item)
            else:
                self.logs.append(item)

    def __bool__(self) -> bool:
        return bool(self.spans or self.logs or self.triggers)


def write(
    commands: list[Command],
    prefix: str,
    limits: tuple[int, int, TriggerLimits],
    batch: Batch,
) -> None:
    """Add the history writes to `commands` (sent with the batch's commit); `limits` are the
    traces, log records and triggers kept. Spans go as plain commands, each trace's in one
    `HSET` (a span written twice in a batch keeps its later version) and every trace's start
    in one `ZADD NX` (the first span of a trace gives its start), before the script that
    drops the oldest traces: a script would copy every span into a Lua string first."""
    trace_limit, log_limit, trigger_limits = limits
    spans, logs = batch.spans, batch.logs
    if batch.triggers:
        trigger_args: list[Any] = [
            "EVAL", scripts.TRIGGERS, 0, prefix, trigger_limits.count, trigger_limits.bytes
        ]
        for t in batch.triggers:
            trigger_args += (t.trace_id, t.time, t.data)
        commands.append(trigger_args)
    if spans:
        traces: dict[str, dict[str, str]] = {}
        starts: list[Any] = ["ZADD", f"{prefix}:traces", "NX"]
        for span_id, trace_id, _root, start, data, _rewrite in spans:
            fields = traces.get(trace_id)
            if fields is None:
                fields = traces[trace_id] = {}
                starts += (start, trace_id)
            fields[span_id] = f"{start!r}\t{data}"
        commands.append(starts)
        for trace_id, fields in traces.items():
            hset: list[Any] = ["HSET", f"{prefix}:trace:{trace_id}"]
            for pair in fields.items():
                hset += pair
            commands.append(hset)
        commands.append(("EVAL", scripts.TRIM_TRACES, 0, prefix, trace_limit))
    key = f"{prefix}:logs"
    for time_ms, rank, trace, step, msg, raw in logs:
        commands.append((
            "XADD", key, "MAXLEN", "~", log_limit, "*", "t", time_ms, "l", rank,
            "tr", trace or "", "s", step or "", "m", msg, "r", raw,
        ))


def _spans(client: Any, prefix: str, trace_ids: Sequence[str]) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for trace_id in trace_ids:
        pipe.hvals(f"{prefix}:trace:{trace_id}")
    found: list[tuple[float, str]] = []
    for values in pipe.execute():
        for value in values:
            start, data = value.split("\t", 1)
            found.append((float(start), data))
    found.sort(key=lambda item: item[0])
    return [data for _start, data in found]


def recent_spans(client: Any, prefix: str, traces: int) -> list[str]:
    if not traces:
        return []
    return _spans(client, prefix, client.zrange(f"{prefix}:traces", -traces, -1))


def trigger(client: Any, prefix: str, trace_id: str) -> str | None:
    found: str | None = client.hget(f"{prefix}:triggers", trace_id)
    return found


def trace_spans(client: Any, prefix: str, trace_id: str) -> list[str]:
    return _spans(client, prefix, [trace_id])


def recent_logs(client: Any, prefix: str, count: int) -> list[str]:
    if not count:
        return []
    entries = client.xrevrange(f"{prefix}:logs", count=count)
    return [fields["r"] for _entry, fields in reversed(entries)]


def query_logs(
    client: Any,
    prefix: str,
    trace_id: str | None,
    step: str | None,
    level: int | None,
    text: str | None,
    limit: int,
    since: float | None = None,
    until: float | None = None,
) -> list[str]:
    """Matching records, oldest first, the newest `limit` of them: pages of the capped
    stream, newest first, until enough match."""
    needle = text.lower() if text else None
    found: list[str] = []
    for fields in _newest_first(client, prefix, since, until):
        if trace_id and fields["tr"] != trace_id:
            continue
        if step and fields["s"] != step:
            continue
        if level and int(fields["l"]) < level:
            continue
        record = fields["r"]
        if needle and needle not in fields["m"].lower() and needle not in record.lower():
            continue
        found.append(record)
        if len(found) >= limit:
            break
    found.reverse()
    return found


def count_logs(client: Any, prefix: str, since: float | None, until: float | None) -> int:
    return sum(1 for _fields in _newest_first(client, prefix, since, until))


def _newest_first(
    client: Any, prefix: str, since: float | None, until: float | None
) -> Iterator[dict[str, str]]:
    """The stream's entries with a time in [since, until], newest first, read in pages. The
    stream is in the order records were logged, which may differ from their times by the
    moments a thread waits to hand one over: reading stops `ORDER_SLACK_MS` before `since`."""
    last = "+"
    while True:
        page = client.xrevrange(f"{prefix}:logs", max=last, count=PAGE)
        if last != "+":
            page = page[1:]
        if not page:
            return
        for _entry, fields in page:
            time_ms = float(fields["t"])
            if since is not None and time_ms < since:
                if time_ms < since - ORDER_SLACK_MS:
                    return
                continue
            if until is not None and time_ms > until:
                continue
            yield fields
        last = page[-1][0]
