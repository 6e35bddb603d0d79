"""One transaction's effects as the fewest SQLite calls: net changes per row, bulk parameters.

Runs interleave their effects (a span, the deliveries they queued, the delivery they
finished), and a row is often written several times in one transaction: a delivery queued and
finished within the flush window, a counter set by every request. Keyed by effect type, the
plan keeps only each row's last change (a queued delivery that is also done never reaches the
disk), then writes each table's rows with one statement per kind of change. Tables are
independent (no triggers, no foreign keys), and after netting each row has one change, so
the order between rows no longer matters; only clearing a state group goes first, because
the keys set after it must survive it.

From `BULK_ROWS` on, a statement's rows go to SQLite in few calls: a call per row lets go of
the GIL, and winning it back from the busy event loop costs more than the row. Inserts take
their rows as one multi-row `VALUES` statement per chunk, bound as plain parameters (a span's
JSON would otherwise be escaped into a JSON array and parsed out of it again, which costs the
writer more than the insert); deletes take their keys as one JSON parameter (`json_each`).

A batch holds thousands of rows, planned while the loop runs, and every container alive
meanwhile is walked by the garbage collector (whichever thread's allocation starts it), so the
plan makes few: log records come in batches as one flat tuple of their fields, and the queue
and span rows of a bulk insert go straight into one flat list of parameters (both
`FlatRows`), not a tuple a row; a single-column delete keeps its keys as a list of strings;
spans are netted by their id alone; a delivery's removal is a shared constant.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from engine.effects import (
    DeadLettered,
    DeadLetterRemoved,
    DeliveryDone,
    DeliveryFailed,
    EventQueued,
    QueuePurged,
    SpanRecord,
    StateClear,
    StateDelete,
    StateSet,
    StreamItemDelete,
    StreamItemSet,
)
from engine.stores.sqlite.schema import TRACE_KEY, trace_key

BULK_ROWS = 16
CHUNK_ROWS = 256
"""The most rows one `VALUES` statement takes; smaller chunks are powers of two, so a handful
of prepared statements per table serve every batch (SQLite caches them by their text)."""


class Values:
    """An insert's bulk form: `head` followed by a group of `width` parameters per row, in
    statements of a power of two rows up to `CHUNK_ROWS`."""

    __slots__ = ("_sql",)

    def __init__(self, head: str, width: int) -> None:
        row = "(" + ", ".join("?" * width) + ")"
        self._sql: dict[int, str] = {}
        rows = 1
        while rows <= CHUNK_ROWS:
            self._sql[rows] = head + ", ".join(itertools.repeat(row, rows))
            rows *= 2

    def sql(self, rows: int) -> str:
        """The statement for `rows` rows, a power of two."""
        return self._sql[rows]


class FlatRows:
    """A bulk insert's rows as one flat sequence of parameters, `width` a row; as an effect
    for `plan`, a batch of log records (`LOG_WIDTH` a row) as a tuple: a tuple of plain values
    is untracked at the first collection that meets it, where a list of a batch's 30,000
    fields was walked whole by every young collection until the batch was written."""

    __slots__ = ("params", "width")

    def __init__(self, params: Sequence[Any], width: int) -> None:
        self.params = params
        self.width = width

    def __len__(self) -> int:
        return len(self.params) // self.width


class Keys(list[str]):
    """A single-column delete's keys, from `BULK_ROWS` on: bound as one JSON array of strings."""

    __slots__ = ()


Call = tuple[str, "str | Values | None", "list[Sequence[Any]] | FlatRows | Keys"]
"""The SQL for rows one by one, its bulk form (a multi-row insert, a delete over `json_each(?)`,
None: none), the rows."""


STATE_CLEAR: tuple[str, str | None] = (
    "DELETE FROM state WHERE grp = ?",
    "DELETE FROM state WHERE grp IN (SELECT value FROM json_each(?))",
)
STATE_DELETE = (
    "DELETE FROM state WHERE grp = ? AND key = ?",
    "DELETE FROM state WHERE (grp, key) IN (SELECT value->>0, value->>1 FROM json_each(?))",
)
STATE_SET: tuple[str, Values] = (
    "INSERT OR REPLACE INTO state (grp, key, value) VALUES (?, ?, ?)",
    Values("INSERT OR REPLACE INTO state (grp, key, value) VALUES ", 3),
)
ITEM_DELETE = (
    "DELETE FROM stream_items WHERE stream = ? AND grp = ? AND id = ?",
    "DELETE FROM stream_items WHERE (stream, grp, id) IN "
    "(SELECT value->>0, value->>1, value->>2 FROM json_each(?))",
)
ITEM_SET: tuple[str, Values] = (
    "INSERT OR REPLACE INTO stream_items (stream, grp, id, value) VALUES (?, ?, ?, ?)",
    Values("INSERT OR REPLACE INTO stream_items (stream, grp, id, value) VALUES ", 4),
)
_QUEUE_COLUMNS = "id, seq, topic, step, data, trace_id, parent_span, attempt, not_before"
QUEUE_INSERT: tuple[str, Values] = (
    f"INSERT OR REPLACE INTO queue ({_QUEUE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    Values(f"INSERT OR REPLACE INTO queue ({_QUEUE_COLUMNS}) VALUES ", 9),
)
QUEUE_DELETE = (
    "DELETE FROM queue WHERE id = ?",
    "DELETE FROM queue WHERE id IN (SELECT value FROM json_each(?))",
)
QUEUE_PURGE = (
    "DELETE FROM queue WHERE topic = ?",
    "DELETE FROM queue WHERE topic IN (SELECT value FROM json_each(?))",
)
QUEUE_UPDATE: tuple[str, str | None] = (
    "UPDATE queue SET attempt = ?, not_before = ? WHERE id = ?",
    None,
)
_DLQ_COLUMNS = "id, topic, step, data, error, traceback, attempts, trace_id, failed_at"
DLQ_INSERT: tuple[str, Values] = (
    f"INSERT OR REPLACE INTO dlq ({_DLQ_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    Values(f"INSERT OR REPLACE INTO dlq ({_DLQ_COLUMNS}) VALUES ", 9),
)
DLQ_DELETE = (
    "DELETE FROM dlq WHERE id = ?",
    "DELETE FROM dlq WHERE id IN (SELECT value FROM json_each(?))",
)
SPAN_DELETE = (
    f"DELETE FROM spans WHERE {TRACE_KEY} = ? AND +trace_id = ? AND span_id = ?",
    f"DELETE FROM spans WHERE {TRACE_KEY} IN (SELECT value->>0 FROM json_each(?1)) "
    "AND (+trace_id, span_id) IN (SELECT value->>1, value->>2 FROM json_each(?1))",
)
"""Keyed by the trace's `TRACE_KEY`, its id and the span's id (`spans_trace`'s form)."""
SPAN_INSERT: tuple[str, Values] = (
    "INSERT INTO spans (span_id, trace_id, root, start, data) VALUES (?, ?, ?, ?, ?)",
    Values("INSERT INTO spans (span_id, trace_id, root, start, data) VALUES ", 5),
)
LOG_INSERT: tuple[str, Values] = (
    "INSERT INTO logs (time, level, trace_id, step, msg, record) VALUES (?, ?, ?, ?, ?, ?)",
    Values("INSERT INTO logs (time, level, trace_id, step, msg, record) VALUES ", 6),
)
LOG_WIDTH = 6
"""A log record's fields (`LogRecord`), in the columns' order."""

_DELETED = None
_INSERT, _UPDATE, _DELETE, _NOTHING = 0, 1, 2, 3
_REMOVED = (_DELETE, None, False)
"""A queue row on disk before this transaction, deleted in it."""
_GONE = (_NOTHING, None, True)
"""A queue row first inserted in this transaction and deleted in it: nothing to write."""


def plan(effects: Iterable[Any]) -> list[Call]:
    """The calls that leave the tables as the effects, run in order, would."""
    cleared: dict[str, None] = {}
    state: dict[str, dict[str, str | None]] = {}
    items: dict[tuple[str, str, str], str | None] = {}
    queue: dict[str, tuple[int, Any, bool]] = {}
    purged: dict[str, None] = {}
    dead: dict[str, DeadLettered | None] = {}
    spans: dict[str | tuple[str, str], SpanRecord] = {}
    rewritten: list[tuple[str, str, str]] = []
    log_batches: list[Sequence[Any]] = []
    logs: list[Any] = []
    """Log records that came one by one (a store with no loop writes each at once)."""
    for effect in effects:
        kind = type(effect)
        if kind is FlatRows:
            log_batches.append(effect.params)
        elif kind is tuple:
            if type(effect[0]) is not str:  # a LogRecord, in the columns' order
                logs.extend(effect)
                continue
            span_id, trace_id = effect[0], effect[1]  # a SpanRecord
            key: str | tuple[str, str] = span_id
            held = spans.get(key)
            if held is not None and held[1] != trace_id:
                key = (trace_id, span_id)  # the same id in another trace
                held = spans.get(key)
            if effect[5] and held is None:
                rewritten.append((trace_key(trace_id), trace_id, span_id))
            spans[key] = effect
        elif kind is StateSet:
            group = state.get(effect.group)
            if group is None:
                group = state[effect.group] = {}
            group[effect.key] = effect.raw
        elif kind is EventQueued:
            previous = queue.get(effect.id)
            # Delivery ids are new (a dead letter queued again left the queue before), so a
            # row first inserted in this transaction was not on disk: finished, it vanishes.
            queue[effect.id] = (_INSERT, effect, previous is None or previous[2])
        elif kind is DeliveryDone:
            _queue_delete(queue, effect.id)
        elif kind is DeliveryFailed:
            previous = queue.get(effect.id)
            if previous is None or previous[0] == _UPDATE:
                queue[effect.id] = (_UPDATE, effect, False)
            elif previous[0] == _INSERT:
                queue[effect.id] = (_INSERT, _requeued(previous[1], effect), previous[2])
        elif kind is StateDelete:
            group = state.get(effect.group)
            if group is None:
                group = state[effect.group] = {}
            group[effect.key] = _DELETED
        elif kind is StateClear:
            state.pop(effect.group, None)
            cleared[effect.group] = None
        elif kind is StreamItemSet:
            items[(effect.stream, effect.group, effect.id)] = effect.raw
        elif kind is StreamItemDelete:
            items[(effect.stream, effect.group, effect.id)] = _DELETED
        elif kind is DeadLettered:
            _queue_delete(queue, effect.id)
            dead[effect.id] = effect
        elif kind is DeadLetterRemoved:
            dead[effect.id] = None
        elif kind is QueuePurged:
            # Rows queued earlier in this transaction go with it; the purge runs before the
            # inserts, so rows queued after it stay.
            for delivery_id, (op, queued, _fresh) in list(queue.items()):
                if op == _INSERT and queued.topic == effect.topic:
                    queue[delivery_id] = (_NOTHING, None, True)
            purged[effect.topic] = None
        else:
            raise TypeError(f"not an effect: {effect!r}")
    calls: list[Call] = []
    if cleared:
        _add_keys(calls, STATE_CLEAR, list(cleared))
    if state:
        sets: list[Sequence[Any]] = []
        deletes: list[Sequence[Any]] = []
        for group_name, keys in state.items():
            for name, raw in keys.items():
                if raw is None:
                    deletes.append((group_name, name))
                else:
                    sets.append((group_name, name, raw))
        _add(calls, STATE_DELETE, deletes)
        _add(calls, STATE_SET, sets)
    if items:
        _add(calls, ITEM_DELETE, [key for key, raw in items.items() if raw is None])
        _add(calls, ITEM_SET, [(*key, raw) for key, raw in items.items() if raw is not None])
    if purged:
        _add_keys(calls, QUEUE_PURGE, list(purged))
    if queue:
        inserts: list[Any] = []
        updates: list[Sequence[Any]] = []
        removes: list[str] = []
        for delivery_id, (op, effect, _fresh) in queue.items():
            if op == _INSERT:
                inserts.extend(
                    (
                        effect.id,
                        effect.seq,
                        effect.topic,
                        effect.step,
                        effect.data_json,
                        effect.trace_id,
                        effect.parent_span,
                        effect.attempt,
                        effect.not_before,
                    )
                )
            elif op == _UPDATE:
                updates.append((effect.attempt, effect.not_before, delivery_id))
            elif op == _DELETE:
                removes.append(delivery_id)
        _add_keys(calls, QUEUE_DELETE, removes)
        _add_flat(calls, QUEUE_INSERT, inserts, 9)
        _add(calls, QUEUE_UPDATE, updates)
    if dead:
        _add_keys(calls, DLQ_DELETE, [item_id for item_id, row in dead.items() if row is None])
        _add(
            calls,
            DLQ_INSERT,
            [
                (
                    row.id,
                    row.topic,
                    row.step,
                    row.data_json,
                    row.error,
                    row.traceback,
                    row.attempts,
                    row.trace_id,
                    row.failed_at,
                )
                for row in dead.values()
                if row is not None
            ],
        )
    if spans:
        _add(calls, SPAN_DELETE, rewritten)
        params: list[Any] = []
        for span in spans.values():
            params.extend(span[:5])
        _add_flat(calls, SPAN_INSERT, params, 5)
    for batch in log_batches:
        _add_flat(calls, LOG_INSERT, batch, LOG_WIDTH)
    _add_flat(calls, LOG_INSERT, logs, LOG_WIDTH)
    return calls


def _queue_delete(queue: dict[str, tuple[int, Any, bool]], delivery_id: str) -> None:
    previous = queue.get(delivery_id)
    queue[delivery_id] = _GONE if previous is not None and previous[2] else _REMOVED


def _requeued(queued: EventQueued, failed: DeliveryFailed) -> EventQueued:
    return EventQueued(
        queued.id,
        queued.seq,
        queued.topic,
        queued.step,
        queued.data_json,
        queued.trace_id,
        queued.parent_span,
        failed.attempt,
        failed.not_before,
    )


def _add(
    calls: list[Call], sql: tuple[str, str | Values | None], rows: Sequence[Sequence[Any]]
) -> None:
    if rows:
        calls.append((sql[0], sql[1], list(rows)))


def _add_keys(calls: list[Call], sql: tuple[str, str | None], keys: list[str]) -> None:
    """A single-column delete: its keys as rows of their own below `BULK_ROWS`."""
    if len(keys) >= BULK_ROWS:
        calls.append((sql[0], sql[1], Keys(keys)))
    elif keys:
        calls.append((sql[0], sql[1], [(key,) for key in keys]))


def _add_flat(
    calls: list[Call], sql: tuple[str, Values], params: Sequence[Any], width: int
) -> None:
    """An insert whose rows are `params`, `width` a row: flat from `BULK_ROWS` rows on."""
    rows = len(params) // width
    if rows >= BULK_ROWS:
        calls.append((sql[0], sql[1], FlatRows(params, width)))
    elif rows:
        calls.append(
            (sql[0], sql[1], [params[at : at + width] for at in range(0, len(params), width)])
        )


def run(conn: sqlite3.Connection, calls: Sequence[Call]) -> int:
    """Run the calls on a connection inside a transaction; answers how many rows they wrote."""
    written = 0
    for sql, bulk, rows in calls:
        if isinstance(rows, FlatRows):
            assert isinstance(bulk, Values)
            _insert_flat(conn, bulk, rows)
        elif isinstance(rows, Keys):
            assert isinstance(bulk, str)
            conn.execute(bulk, (orjson.dumps(rows).decode(),))
        elif len(rows) == 1:
            conn.execute(sql, rows[0])
        elif bulk is None or len(rows) < BULK_ROWS:
            conn.executemany(sql, rows)
        elif isinstance(bulk, Values):
            insert_chunks(conn, bulk, rows)
        else:
            conn.execute(bulk, (orjson.dumps(rows).decode(),))
        written += len(rows)
    return written


def _chunks(rows: int) -> Iterator[tuple[int, int]]:
    """Each chunk's first row and size: the largest chunks first, each size a power of two
    (one prepared statement a size)."""
    start, left, size = 0, rows, CHUNK_ROWS
    while left:
        while size > left:
            size //= 2
        yield start, size
        start += size
        left -= size


def _insert_flat(conn: sqlite3.Connection, bulk: Values, rows: FlatRows) -> None:
    """`insert_chunks` for rows already flat: each chunk a slice of the parameters."""
    params, width = rows.params, rows.width
    for start, size in _chunks(len(rows)):
        conn.execute(bulk.sql(size), params[start * width : (start + size) * width])


def insert_chunks(conn: sqlite3.Connection, bulk: Values, rows: Sequence[Sequence[Any]]) -> None:
    """Rows inserted by `bulk`'s multi-row statements, the largest chunks first."""
    for start, size in _chunks(len(rows)):
        chunk = rows[start : start + size]
        conn.execute(bulk.sql(size), list(itertools.chain.from_iterable(chunk)))
