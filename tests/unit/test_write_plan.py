"""The SQLite writer's plan nets a transaction's effects per row; the outcome must not change."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest

from engine.effects import (
    DeadLettered,
    DeadLetterRemoved,
    DeliveryDone,
    DeliveryFailed,
    EventQueued,
    QueuePurged,
    StateClear,
    StateDelete,
    StateSet,
    StreamItemDelete,
    StreamItemSet,
    is_span,
)
from engine.stores.sqlite import plan as write_plan
from engine.stores.sqlite.schema import migrate

ONE_BY_ONE: dict[type, tuple[str, ...]] = {
    StateSet: ("INSERT OR REPLACE INTO state (grp, key, value) VALUES (?, ?, ?)",),
    StateDelete: ("DELETE FROM state WHERE grp = ? AND key = ?",),
    StateClear: ("DELETE FROM state WHERE grp = ?",),
    StreamItemSet: (
        "INSERT OR REPLACE INTO stream_items (stream, grp, id, value) VALUES (?, ?, ?, ?)",
    ),
    StreamItemDelete: ("DELETE FROM stream_items WHERE stream = ? AND grp = ? AND id = ?",),
}
"""The obvious statement per effect, run in order: what the plan must end up equal to."""


def _one_by_one(conn: sqlite3.Connection, effect: Any) -> None:
    kind = type(effect)
    if kind in ONE_BY_ONE:
        conn.execute(ONE_BY_ONE[kind][0], [getattr(effect, f) for f in _fields(kind)])
    elif kind is EventQueued:
        conn.execute(
            "INSERT OR REPLACE INTO queue (id, seq, topic, step, data, trace_id, parent_span, "
            "attempt, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
    elif kind is DeliveryDone:
        conn.execute("DELETE FROM queue WHERE id = ?", (effect.id,))
    elif kind is DeliveryFailed:
        conn.execute(
            "UPDATE queue SET attempt = ?, not_before = ? WHERE id = ?",
            (effect.attempt, effect.not_before, effect.id),
        )
    elif kind is DeadLettered:
        conn.execute("DELETE FROM queue WHERE id = ?", (effect.id,))
        conn.execute(
            "INSERT OR REPLACE INTO dlq (id, topic, step, data, error, traceback, attempts, "
            "trace_id, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                effect.id,
                effect.topic,
                effect.step,
                effect.data_json,
                effect.error,
                effect.traceback,
                effect.attempts,
                effect.trace_id,
                effect.failed_at,
            ),
        )
    elif kind is DeadLetterRemoved:
        conn.execute("DELETE FROM dlq WHERE id = ?", (effect.id,))
    elif is_span(effect):
        span_id, trace_id, root, start, data, rewrite = effect
        if rewrite:
            conn.execute(
                "DELETE FROM spans WHERE trace_id = ? AND span_id = ?", (trace_id, span_id)
            )
        conn.execute(
            "INSERT INTO spans (span_id, trace_id, root, start, data) VALUES (?, ?, ?, ?, ?)",
            (span_id, trace_id, root, start, data),
        )
    elif kind is tuple:  # a LogRecord
        conn.execute(
            "INSERT INTO logs (time, level, trace_id, step, msg, record) VALUES (?, ?, ?, ?, ?, ?)",
            effect,
        )


def _fields(kind: type) -> tuple[str, ...]:
    return {
        StateSet: ("group", "key", "raw"),
        StateDelete: ("group", "key"),
        StateClear: ("group",),
        StreamItemSet: ("stream", "group", "id", "raw"),
        StreamItemDelete: ("stream", "group", "id"),
    }[kind]


class _Effects:
    """Random effects that keep the engine's rule: a delivery id is queued only while it is
    not in the queue (new, or a dead letter queued again)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0
        self.queued: list[str] = []
        self.dead: list[str] = []
        self.spans_written: set[tuple[str, str]] = set()

    def make(self, count: int) -> list[Any]:
        rng = self.rng
        groups, keys = ["g0", "g1"], ["k0", "k1", "k2"]
        effects: list[Any] = []
        for _ in range(count):
            self.count += 1
            n = self.count
            choice = rng.randrange(12)
            if choice == 0 or not self.queued:
                delivery_id = f"d{n}"
                if self.dead and rng.random() < 0.3:
                    delivery_id = self.dead.pop(rng.randrange(len(self.dead)))
                self.queued.append(delivery_id)
                effects.append(
                    EventQueued(delivery_id, n, "topic", "Step", f'{{"n": {n}}}', "t", None, 1, 0.0)
                )
            elif choice == 1:
                effects.append(DeliveryDone(self._settle()))
            elif choice == 2:
                effects.append(DeliveryFailed(rng.choice(self.queued), rng.randrange(5), n * 1.5))
            elif choice == 3:
                delivery_id = self._settle()
                self.dead.append(delivery_id)
                effects.append(
                    DeadLettered(delivery_id, "topic", "Step", "{}", "boom", "tb", 3, "t", n)
                )
            elif choice == 4 and self.dead:
                effects.append(DeadLetterRemoved(self.dead.pop()))
            elif choice == 5:
                effects.append(StateSet(rng.choice(groups), rng.choice(keys), f'"v{n}"'))
            elif choice == 6:
                effects.append(StateDelete(rng.choice(groups), rng.choice(keys)))
            elif choice == 7 and rng.random() < 0.3:
                effects.append(StateClear(rng.choice(groups)))
            elif choice == 8:
                effects.append(StreamItemSet("s", rng.choice(groups), rng.choice(keys), f"{n}"))
            elif choice == 9:
                effects.append(StreamItemDelete("s", rng.choice(groups), rng.choice(keys)))
            elif choice == 10:
                key = ("t0", rng.choice(["s0", "s1", "s2"]))
                rewrite = key in self.spans_written
                self.spans_written.add(key)
                effects.append((key[1], key[0], n % 2 == 0, float(n), f"{n}", rewrite))
            else:
                effects.append((float(n), 30, "t0", "Step", f"message {n} é ☃", "{}"))
        return effects

    def _settle(self) -> str:
        """A queued delivery leaves the queue (or one that already left it, done again)."""
        if self.rng.random() < 0.2:
            return f"d{self.rng.randrange(self.count)}"
        return self.queued.pop(self.rng.randrange(len(self.queued)))


def _database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, None)
    return conn


def _tables(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    return {
        "queue": conn.execute("SELECT * FROM queue ORDER BY id").fetchall(),
        "dlq": conn.execute("SELECT * FROM dlq ORDER BY id").fetchall(),
        "state": conn.execute("SELECT * FROM state ORDER BY grp, key").fetchall(),
        "items": conn.execute("SELECT * FROM stream_items ORDER BY stream, grp, id").fetchall(),
        "spans": sorted(conn.execute("SELECT span_id, trace_id, root, start, data FROM spans")),
        "logs": conn.execute("SELECT * FROM logs ORDER BY id").fetchall(),
    }


def _commit(conn: sqlite3.Connection, effects: Sequence[Any], planned: bool) -> None:
    conn.execute("BEGIN")
    if planned:
        write_plan.run(conn, write_plan.plan(effects))
    else:
        for effect in effects:
            _one_by_one(conn, effect)
    conn.execute("COMMIT")


@pytest.mark.parametrize("seed", range(40))
def test_planned_transactions_end_like_their_effects_applied_one_by_one(seed: int) -> None:
    maker = _Effects(random.Random(seed))
    transactions = [maker.make(300) for _ in range(3)]
    planned, one_by_one = _database(), _database()
    for effects in transactions:
        _commit(planned, effects, planned=True)
        _commit(one_by_one, effects, planned=False)
        assert _tables(planned) == _tables(one_by_one)


def test_a_delivery_queued_and_done_in_one_transaction_never_reaches_the_disk() -> None:
    effects: list[Any] = []
    for n in range(100):
        effects.append((f"s{n}", f"t{n}", True, float(n), "{}", False))
        effects.append(EventQueued(f"d{n}", n, "topic", "Step", "{}", f"t{n}", None, 1, 0.0))
        effects.append(DeliveryDone(f"d{n - 1}"))
    calls = write_plan.plan(effects)
    assert [(sql, len(rows)) for sql, _bulk, rows in calls] == [
        (write_plan.QUEUE_DELETE[0], 1),  # "d-1" was queued before this transaction
        (write_plan.QUEUE_INSERT[0], 1),  # only the last delivery is still queued
        (write_plan.SPAN_INSERT[0], 100),
    ]


def test_bulk_inserts_take_their_rows_in_a_few_multi_row_statements() -> None:
    effects = [
        (f"s{n}", "t", n == 0, n + 0.5, '{"a": "é\\n"}', False) for n in range(300)
    ]
    conn = _database()
    (call,) = write_plan.plan(effects)
    assert isinstance(call[1], write_plan.Values)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    write_plan.run(conn, [call])
    conn.set_trace_callback(None)
    assert len(statements) == 4  # 256 + 32 + 8 + 4 rows
    stored = conn.execute("SELECT span_id, trace_id, root, start, data FROM spans").fetchall()
    assert sorted(stored) == sorted(
        (span_id, trace_id, int(root), start, data)
        for span_id, trace_id, root, start, data, _rewrite in effects
    )


def test_bulk_deletes_take_every_key_as_one_json_array() -> None:
    conn = _database()
    queued = [EventQueued(f"d{n}", n, "topic", "Step", "{}", "t", None, 1, 0.0) for n in range(40)]
    _commit(conn, queued, planned=True)
    calls = write_plan.plan([DeliveryDone(f"d{n}") for n in range(30)])
    assert [bulk for _sql, bulk, _rows in calls] == [write_plan.QUEUE_DELETE[1]]
    assert "json_each" in str(calls[0][1])
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    _commit(conn, [DeliveryDone(f"d{n}") for n in range(30)], planned=True)
    assert len(statements) == 3  # BEGIN, one delete, COMMIT
    assert [row[0] for row in conn.execute("SELECT id FROM queue ORDER BY seq")] == [
        f"d{n}" for n in range(30, 40)
    ]


def test_bulk_single_column_deletes_remove_exactly_their_keys() -> None:
    """State groups cleared, dead letters removed and topics purged, each past `BULK_ROWS`."""
    conn = _database()
    count = write_plan.BULK_ROWS * 2
    setup: list[Any] = []
    for n in range(count + 2):
        setup.append(StateSet(f"g{n}", "k", "1"))
        setup.append(DeadLettered(f"x{n}", "topic", "Step", "{}", "boom", None, 3, "t", n))
        setup.append(EventQueued(f"d{n}", n, f"topic{n}", "Step", "{}", "t", None, 1, 0.0))
    _commit(conn, setup, planned=True)
    removals: list[Any] = []
    for n in range(count):
        removals.append(StateClear(f"g{n}"))
        removals.append(DeadLetterRemoved(f"x{n}"))
        removals.append(QueuePurged(f"topic{n}"))
    calls = write_plan.plan(removals)
    assert all(isinstance(rows, write_plan.Keys) for _sql, _bulk, rows in calls)
    _commit(conn, removals, planned=True)
    kept = [f"g{count}", f"g{count + 1}"]
    assert [row[0] for row in conn.execute("SELECT grp FROM state ORDER BY grp")] == kept
    assert [row[0] for row in conn.execute("SELECT id FROM dlq ORDER BY id")] == [
        f"x{count}", f"x{count + 1}"
    ]
    assert [row[0] for row in conn.execute("SELECT id FROM queue ORDER BY id")] == [
        f"d{count}", f"d{count + 1}"
    ]
