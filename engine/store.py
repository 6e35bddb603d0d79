"""The embedded SQLite store: one file, one writer thread, group commits, off the event loop.

Everything durable (state, stream items, queued deliveries, the dead-letter queue, spans and
logs) goes through `submit()`: a batch of statements that commit together. The writer thread
takes every batch waiting at once and commits them in one transaction, so many small runs
share one fsync and the loop never waits on the disk. A batch that must be durable before an
HTTP answer carries a future that resolves after its commit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from engine import write_plan

Statement = write_plan.Statement

_log = logging.getLogger("motia.store")

SCHEMA = """
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

SCHEMA_VERSION = 1
FLUSH_DELAY_S = 0.002
FLUSH_ROWS = 2_000
BULK_ROWS = 16
"""From this many rows of one statement on, the writer sends them as one JSON parameter: a
row per call lets go of the GIL per row, and winning it back from the loop costs more."""
CACHE_KIB = 32_768
"""SQLite's page cache: the span and queue indexes take random inserts, so a cache that
holds them saves a read system call per insert."""
_STOP = object()


class StoreError(RuntimeError):
    """A store file this version cannot use."""


_PRUNE_EVERY = 2_000


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return conn


class Store:
    """Owns the database file; reads at start-up, writes through the writer thread."""

    def __init__(self, path: Path | None, trace_limit: int, log_limit: int) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._uri = str(path)
        else:
            self._uri = f"file:motia-{id(self):x}?mode=memory&cache=shared"
        self.path = path
        self._trace_limit = trace_limit
        self._log_limit = log_limit
        self._conn = self._open()
        self._migrate()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writes_since_prune = 0
        self._buffer: list[Statement | None] = []
        self._retractable: dict[str, int] = {}
        self._flush_timer: asyncio.TimerHandle | None = None
        self.failed: BaseException | None = None

    def _migrate(self) -> None:
        """Create the schema in a new file; refuse a file written by another schema version
        rather than guess at its layout."""
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0 and tables == 0:
            self._conn.executescript(SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by store schema version {version}, this is version "
                f"{SCHEMA_VERSION}: move it away (or delete it) to start afresh"
            )

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            return sqlite3.connect(
                self._uri, uri=True, check_same_thread=False, isolation_level=None
            )
        return _connect(self._uri)

    # -- start-up reads (before the loop serves anything) --------------------------------

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A synchronous read, for start-up and for reader threads that own no connection."""
        return self._conn.execute(sql, params).fetchall()

    def reader(self) -> sqlite3.Connection:
        """A separate connection for queries run in worker threads (WAL lets them overlap)."""
        return self._open()

    # -- the writer --------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="motia-store-writer", daemon=True)
        self._thread.start()

    def submit(
        self,
        statements: Iterable[Statement],
        done: asyncio.Future[None] | None = None,
        retractable: Mapping[str, int] | None = None,
    ) -> None:
        """Queue statements to commit together; `done` resolves once they are on disk.

        Statements wait on the loop for a couple of milliseconds (or until a caller needs
        them durable) so that work which undoes itself meanwhile never reaches the disk: a
        delivery inserted and finished within the window costs nothing to store.
        `retractable` names statements (by their position here) that `retract` may take back.
        """
        if self._thread is None:
            self._execute([(list(statements), None)])
            if done is not None:
                done.set_result(None)
            return
        start = len(self._buffer)
        self._buffer.extend(statements)
        if retractable:
            for key, position in retractable.items():
                self._retractable[key] = start + position
        if done is not None or len(self._buffer) >= FLUSH_ROWS:
            self.flush(done)
        elif self._flush_timer is None and self._loop is not None:
            self._flush_timer = self._loop.call_later(FLUSH_DELAY_S, self.flush)

    def retract(self, key: str) -> bool:
        """Take back a queued statement; False once it has left for the disk."""
        index = self._retractable.pop(key, None)
        if index is None:
            return False
        self._buffer[index] = None
        return True

    def flush(self, done: asyncio.Future[None] | None = None) -> None:
        """Hand everything buffered to the writer thread as one transaction."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        batch = [statement for statement in self._buffer if statement is not None]
        self._buffer = []
        self._retractable.clear()
        if batch or done is not None:
            self._queue.put((batch, done))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._prune()
                return
            pending = [item]
            stop = False
            while len(pending) < 5_000:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                pending.append(more)
            self._execute(pending)
            if stop:
                self._prune()
                return

    def _execute(self, pending: list[tuple[list[Statement], asyncio.Future[None] | None]]) -> None:
        conn = self._conn
        error: BaseException | None = None
        try:
            conn.execute("BEGIN")
            statements = [statement for batch, _done in pending for statement in batch]
            for sql, rows in write_plan.plan(statements):
                if len(rows) == 1:
                    conn.execute(sql, rows[0])
                else:
                    _execute_many(conn, sql, rows)
                self._writes_since_prune += len(rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _log.exception("store commit failed")
            error = exc
            self.failed = exc
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        if self._writes_since_prune >= _PRUNE_EVERY:
            self._writes_since_prune = 0
            self._prune()
        loop = self._loop
        for _batch, done in pending:
            if done is None:
                continue
            if loop is None:
                _resolve(done, error)
            else:
                loop.call_soon_threadsafe(_resolve, done, error)

    def _prune(self) -> None:
        """Keep the configured number of traces and log records; drop the oldest."""
        try:
            row = self._conn.execute(
                "SELECT start FROM spans WHERE root = 1 ORDER BY start DESC LIMIT 1 OFFSET ?",
                (self._trace_limit,),
            ).fetchone()
            if row is not None:
                self._conn.execute(
                    "DELETE FROM spans WHERE trace_id IN "
                    "(SELECT trace_id FROM spans WHERE root = 1 AND start <= ?)",
                    (row[0],),
                )
            row = self._conn.execute("SELECT max(id) FROM logs").fetchone()
            if row and row[0] is not None and row[0] > self._log_limit:
                self._conn.execute("DELETE FROM logs WHERE id <= ?", (row[0] - self._log_limit,))
        except sqlite3.Error:
            _log.exception("store prune failed")

    def close(self) -> None:
        """Commit everything handed to the writer, stop it and close the file (call `flush`
        on the loop first)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None
        self._conn.close()


def _execute_many(conn: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    bulk = write_plan.bulk_form(sql) if len(rows) >= BULK_ROWS else None
    if bulk is not None:
        try:
            encoded = orjson.dumps(rows)
        except TypeError:
            encoded = None
        if encoded is not None:
            conn.execute(bulk, (encoded.decode(),))
            return
    conn.executemany(sql, rows)


def _resolve(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
