"""The writer's plan regroups a transaction's statements; the outcome must not change."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest

from engine import write_plan
from engine.store import SCHEMA, _execute_many
from engine.write_plan import Statement

QUEUE_INSERT = (
    "INSERT OR REPLACE INTO queue (id, seq, topic, step, data, trace_id, parent_span, "
    "attempt, not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
QUEUE_DELETE = "DELETE FROM queue WHERE id = ?"
QUEUE_UPDATE = "UPDATE queue SET attempt = ?, not_before = ? WHERE id = ?"
STATE_SET = "INSERT OR REPLACE INTO state (grp, key, value) VALUES (?, ?, ?)"
STATE_DELETE = "DELETE FROM state WHERE grp = ? AND key = ?"
STATE_CLEAR = "DELETE FROM state WHERE grp = ?"
SPAN_INSERT = "INSERT INTO spans (span_id, trace_id, root, start, data) VALUES (?, ?, ?, ?, ?)"
SPAN_DELETE = "DELETE FROM spans WHERE trace_id = ? AND span_id = ?"
LOG_INSERT = (
    "INSERT INTO logs (time, level, trace_id, step, msg, record) VALUES (?, ?, ?, ?, ?, ?)"
)


def _random_statements(rng: random.Random, count: int) -> list[Statement]:
    """Few ids and keys, so the same rows are touched again and again in one transaction."""
    ids = [f"d{i}" for i in range(6)]
    groups = ["g0", "g1"]
    keys = ["k0", "k1", "k2"]
    spans = [("t0", "s0"), ("t0", "s1"), ("t1", "s2")]
    statements: list[Statement] = []
    for n in range(count):
        choice = rng.randrange(10)
        if choice == 0:
            data = f'{{"n": {n}}}'
            statements.append(
                (QUEUE_INSERT, (rng.choice(ids), n, "topic", "Step", data, "t0", None, 1, 0.0))
            )
        elif choice == 1:
            statements.append((QUEUE_DELETE, (rng.choice(ids),)))
        elif choice == 2:
            statements.append((QUEUE_UPDATE, (rng.randrange(5), n * 1.5, rng.choice(ids))))
        elif choice == 3:
            statements.append((STATE_SET, (rng.choice(groups), rng.choice(keys), f'"v{n}"')))
        elif choice == 4:
            statements.append((STATE_DELETE, (rng.choice(groups), rng.choice(keys))))
        elif choice == 5 and rng.random() < 0.3:
            statements.append((STATE_CLEAR, (rng.choice(groups),)))
        elif choice == 6:
            span_id, trace_id = rng.choice(spans)[::-1]
            statements.append((SPAN_INSERT, (span_id, trace_id, n % 2 == 0, float(n), "{}")))
        elif choice == 7:
            trace_id, span_id = rng.choice(spans)
            statements.append((SPAN_DELETE, (trace_id, span_id)))
        else:
            statements.append(
                (LOG_INSERT, (float(n), 30, "t0", "Step", f"message {n} é ☃", '{"x": null}'))
            )
    return statements


def _outcome(statements: Sequence[Statement], planned: bool) -> dict[str, list[Any]]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA)
    conn.execute("BEGIN")
    if planned:
        for sql, rows in write_plan.plan(statements):
            _execute_many(conn, sql, rows) if len(rows) > 1 else conn.execute(sql, rows[0])
    else:
        for sql, params in statements:
            conn.execute(sql, params)
    conn.execute("COMMIT")
    return {
        "queue": conn.execute("SELECT * FROM queue ORDER BY id").fetchall(),
        "state": conn.execute("SELECT * FROM state ORDER BY grp, key").fetchall(),
        "spans": sorted(conn.execute("SELECT span_id, trace_id, root, start FROM spans")),
        "logs": conn.execute("SELECT * FROM logs ORDER BY id").fetchall(),
    }


@pytest.mark.parametrize("seed", range(40))
def test_a_planned_transaction_ends_like_the_same_statements_run_in_order(seed: int) -> None:
    statements = _random_statements(random.Random(seed), 400)
    assert _outcome(statements, planned=True) == _outcome(statements, planned=False)


def test_interleaved_runs_merge_into_one_call_per_statement() -> None:
    statements: list[Statement] = []
    for n in range(100):
        statements.append((SPAN_INSERT, (f"s{n}", f"t{n}", True, float(n), "{}")))
        statements.append(
            (QUEUE_INSERT, (f"d{n}", n, "topic", "Step", "{}", f"t{n}", None, 1, 0.0))
        )
        statements.append((QUEUE_DELETE, (f"d{n - 1}",)))
    runs = write_plan.plan(statements)
    assert [(sql, len(rows)) for sql, rows in runs] == [
        (SPAN_INSERT, 100),
        (QUEUE_INSERT, 100),
        (QUEUE_DELETE, 1),  # "d-1" was never inserted here: its delete needs no wait
        (QUEUE_DELETE, 99),
    ]


def test_a_statement_the_plan_does_not_know_keeps_the_transaction_in_order() -> None:
    statements: list[Statement] = [
        (STATE_SET, ("g", "a", "1")),
        ("DELETE FROM state WHERE key LIKE ?", ("a%",)),
        (STATE_SET, ("g", "b", "2")),
    ]
    assert write_plan.plan(statements) == [(sql, [params]) for sql, params in statements]


def test_bulk_forms_take_every_row_as_one_json_array() -> None:
    assert write_plan.bulk_form(STATE_DELETE) == (
        "DELETE FROM state WHERE (grp, key) IN (SELECT value->>0, value->>1 FROM json_each(?))"
    )
    assert write_plan.bulk_form(QUEUE_UPDATE) is None
    rows = [(f"s{n}", "t", n == 0, n + 0.5, '{"a": "é\\n"}') for n in range(20)]
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    _execute_many(conn, SPAN_INSERT, rows)
    stored = conn.execute("SELECT span_id, trace_id, root, start, data FROM spans").fetchall()
    assert stored == [(a, b, int(c), d, e) for a, b, c, d, e in rows]
