"""The SQLite store's tables, and the migrations from every earlier layout.

`PRAGMA user_version` holds the layout's version. A new file gets the current layout; a file
written by an earlier release is migrated in one transaction, keeping everything in it; a file
from a later release is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.stores.base import StoreError

VERSION_1 = """
CREATE TABLE IF NOT EXISTS state (
    grp TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (grp, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_items (
    stream TEXT NOT NULL, grp TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (stream, grp, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, topic TEXT NOT NULL, step TEXT NOT NULL,
    data TEXT NOT NULL, trace_id TEXT NOT NULL, parent_span TEXT, attempt INTEGER NOT NULL,
    not_before REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dlq (
    id TEXT PRIMARY KEY, topic TEXT NOT NULL, step TEXT NOT NULL, data TEXT NOT NULL,
    error TEXT NOT NULL, attempts INTEGER NOT NULL, trace_id TEXT NOT NULL,
    failed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS spans (
    span_id TEXT NOT NULL, trace_id TEXT NOT NULL, root INTEGER NOT NULL, start REAL NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id);
CREATE INDEX IF NOT EXISTS spans_roots ON spans (root, start);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, level INTEGER NOT NULL,
    trace_id TEXT, step TEXT, msg TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_trace ON logs (trace_id);
CREATE INDEX IF NOT EXISTS logs_step ON logs (step, id);
CREATE INDEX IF NOT EXISTS logs_level ON logs (level, id);
"""

MIGRATIONS: dict[int, str] = {
    2: """
        ALTER TABLE dlq ADD COLUMN traceback TEXT;
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
            WITHOUT ROWID;
    """,
    3: """
        DROP INDEX IF EXISTS spans_trace;
        CREATE INDEX spans_trace ON spans (substr(trace_id, 21));
    """,
}
"""Version N's changes over version N-1: the dead letter's traceback (2), and a table the
writer probes with while the disk refuses writes (2); spans indexed by their trace id's last
12 digits, the time it began (3: `engine.tracing.Span`), so the index grows at its
end instead of at random (older ids are found as well, at random places)."""

VERSION = max(MIGRATIONS)

TRACE_KEY = "substr(trace_id, 21)"
"""What `spans_trace` indexes: a trace id's time (see version 3)."""


def trace_key(trace_id: str) -> str:
    """`TRACE_KEY` of a trace id, in Python (both count characters)."""
    return trace_id[20:]


def of_traces(traces: str) -> str:
    """A `WHERE` condition for the spans of the traces the query `traces` names (by
    `trace_id`), through `spans_trace`: the planner uses the index only for a condition on its
    expression alone, and `+trace_id` keeps it from choosing a scan for the other."""
    return (
        f"{TRACE_KEY} IN (SELECT {TRACE_KEY} FROM ({traces})) "
        f"AND +trace_id IN (SELECT trace_id FROM ({traces}))"
    )


def migrate(conn: sqlite3.Connection, path: Path | None) -> None:
    """Bring the file to `VERSION`, in one transaction per step."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if version == 0 and tables == 0:
        _step(conn, VERSION_1, 1)
        version = 1
    if version < 1 or version > VERSION:
        raise StoreError(
            f"{path} was written by store schema version {version}, this is version "
            f"{VERSION}: move it away (or delete it) to start afresh"
        )
    while version < VERSION:
        version += 1
        _step(conn, MIGRATIONS[version], version)


def _step(conn: sqlite3.Connection, script: str, version: int) -> None:
    statements = [part.strip() for part in script.split(";") if part.strip()]
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
