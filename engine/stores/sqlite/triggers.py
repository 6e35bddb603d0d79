"""The SQLite adapter's trigger store: a file of its own beside the store file.

Triggers hold whole request bodies (up to `trigger_store_bytes` together), so they live apart
from state, queue and spans: the store file stays as small as spans keep it, and a trigger
file that cannot be read is set aside and started afresh without touching the work. Written
by the store's writer thread after each of its commits; read on a connection of its own.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.effects import TriggerRecord
from engine.stores.base import TriggerLimits

_log = logging.getLogger("motia.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS triggers (
    trace_id TEXT PRIMARY KEY, time REAL NOT NULL, size INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS triggers_time ON triggers (time);
"""


def trigger_path(store_path: Path) -> Path:
    """`store.sqlite3` keeps its triggers in `store.triggers.sqlite3`."""
    return store_path.with_name(f"{store_path.stem}.triggers{store_path.suffix}")


class TriggerFile:
    """The newest triggers within both limits, in one SQLite file."""

    def __init__(
        self, path: Path, limits: TriggerLimits, connect: Callable[[str], sqlite3.Connection]
    ) -> None:
        self.path = path
        self.limits = limits
        self._connect = connect
        self._conn = self._open()
        self._bytes = self._total()

    def _open(self) -> sqlite3.Connection:
        conn = self._connect(str(self.path))
        try:
            conn.executescript(SCHEMA)
            return conn
        except sqlite3.DatabaseError as exc:
            conn.close()
            aside = self.path.with_name(self.path.name + ".damaged")
            _log.error("trigger file %s unreadable (%s): kept as %s", self.path, exc, aside)
            self.path.replace(aside)
            conn = self._connect(str(self.path))
            conn.executescript(SCHEMA)
            return conn

    def _total(self) -> int:
        return int(self._conn.execute("SELECT coalesce(sum(size), 0) FROM triggers").fetchone()[0])

    def write(self, records: Sequence[TriggerRecord]) -> None:
        """Keep the records, then trim to the limits, in one transaction; a failure is
        logged (triggers are history: they never fail a run)."""
        if not records:
            return
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR REPLACE INTO triggers (trace_id, time, size, data) VALUES (?, ?, ?, ?)",
                [(r.trace_id, r.time, r.size, r.data) for r in records],
            )
            self._bytes += sum(r.size for r in records)
            self._trim()
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _log.error("trigger file write failed: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._bytes = self._total()

    def _trim(self) -> None:
        """Past the count through the time index; past the bytes (a running total says
        when) by a window sum over the table."""
        conn, limits = self._conn, self.limits
        conn.execute(
            "DELETE FROM triggers WHERE time <= "
            "(SELECT time FROM triggers ORDER BY time DESC LIMIT 1 OFFSET ?)",
            (limits.count,),
        )
        if self._bytes <= limits.bytes:
            return
        row = conn.execute(
            "SELECT time FROM (SELECT time, sum(size) OVER (ORDER BY time DESC ROWS UNBOUNDED "
            "PRECEDING) AS total FROM triggers) WHERE total > ? ORDER BY time DESC LIMIT 1",
            (limits.bytes,),
        ).fetchone()
        if row is not None:
            conn.execute("DELETE FROM triggers WHERE time <= ?", (row[0],))
        self._bytes = self._total()

    def read(self, trace_id: str, own_connection: bool) -> str | None:
        conn = self._connect(str(self.path)) if own_connection else self._conn
        try:
            row = conn.execute(
                "SELECT data FROM triggers WHERE trace_id = ?", (trace_id,)
            ).fetchone()
        finally:
            if conn is not self._conn:
                conn.close()
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._conn.close()
