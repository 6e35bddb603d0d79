"""The SQLite adapter's trigger store: a file of its own beside the store file.

Triggers hold whole request bodies (up to `trigger_store_bytes` together), so they live apart
from state, queue and spans: the store file stays as small as spans keep it, and a trigger
file that cannot be read is set aside and started afresh without touching the work. Written
by the store's writer thread after each of its commits; read on a connection of its own.

Under load most triggers are trimmed soon after they are written (a thousand are kept, and a
busy server records that many in a tenth of a second), so a batch is netted first: what the
limits would trim in the same transaction is never written, and a batch that fills the limits
by itself replaces the table. What is kept is the same either way.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.effects import TriggerRecord
from engine.stores.base import TriggerLimits
from engine.stores.sqlite.plan import BULK_ROWS, Values, insert_chunks

_log = logging.getLogger("motia.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS triggers (
    trace_id TEXT PRIMARY KEY, time REAL NOT NULL, size INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS triggers_time ON triggers (time);
"""


INSERT = "INSERT OR REPLACE INTO triggers (trace_id, time, size, data) VALUES "
BULK_INSERT = Values(INSERT, 4)


def trigger_path(store_path: Path) -> Path:
    """`store.sqlite3` keeps its triggers in `store.triggers.sqlite3`."""
    return store_path.with_name(f"{store_path.stem}.triggers{store_path.suffix}")


class TriggerFile:
    """The newest triggers within both limits, in one SQLite file."""

    def __init__(
        self,
        path: Path,
        limits: TriggerLimits,
        connect: Callable[[str], sqlite3.Connection],
        connect_reader: Callable[[str], sqlite3.Connection],
    ) -> None:
        self.path = path
        self.limits = limits
        self._connect = connect
        self._connect_reader = connect_reader
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
        kept, full = self._newest(records)
        rows = [(r.trace_id, r.time, r.size, r.data) for r in kept]
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            if full:
                conn.execute("DELETE FROM triggers")
                self._bytes = 0
            if len(rows) < BULK_ROWS:
                conn.executemany(INSERT + "(?, ?, ?, ?)", rows)
            else:
                insert_chunks(conn, BULK_INSERT, rows)
            self._bytes += sum(r.size for r in kept)
            if not full:
                self._trim()
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _log.error("trigger file write failed: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._bytes = self._total()

    def _newest(self, records: Sequence[TriggerRecord]) -> tuple[Sequence[TriggerRecord], bool]:
        """The records the limits keep of a batch (they come oldest first), and whether they
        fill the limits by themselves, so that nothing older stays."""
        limits = self.limits
        kept = records[-limits.count :]
        full = len(kept) == limits.count
        total = 0
        for index in range(len(kept) - 1, -1, -1):
            total += kept[index].size
            if total > limits.bytes:
                return kept[index + 1 :], True
        return kept, full

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
        conn = self._connect_reader(str(self.path)) if own_connection else self._conn
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
