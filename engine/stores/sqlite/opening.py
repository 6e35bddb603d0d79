"""Opening the store file: refusing a damaged one in one line, and saving what can be saved.

A store file can be damaged by a crash on a disk that lies about flushes, a copy taken while
it was written, or a person. Opening checks the whole file (`PRAGMA quick_check`, about a
tenth of a second for 200 MB) before anything reads it, so damage is found at start rather
than as a traceback in the middle of serving:

- a file that is not a database, or whose state, streams, queue or dead letters are damaged,
  refuses to start with one line naming the file; `--reset-store` (setting `reset_store`)
  moves it aside as `<name>.corrupt-<time>` and starts with an empty store;
- a file whose damage is only in the history (traces and logs) is rebuilt: the state, the
  streams, the queue and the dead letters are copied whole, the history rows that can still be
  read are kept, and the damaged file is moved aside as `<name>.corrupt-<time>`;
- an empty (0-byte) file opens as an empty store, with a warning.

What opening had to say goes to `notices`, for the engine to log once it can.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from engine.stores.base import StoreError
from engine.stores.sqlite import schema

CORE_TABLES = ("state", "stream_items", "queue", "dlq", "meta")
"""What the project's work lives in; damage here is never papered over."""
HISTORY_TABLES = ("spans", "logs")
"""Traces and logs: worth keeping, but a store without them still serves."""
SIDE_FILES = ("-wal", "-shm")

Connect = Callable[[str], sqlite3.Connection]


class Damaged(Exception):
    """The file cannot be used as it is."""

    def __init__(self, reason: str, history_only: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.history_only = history_only


def open_store_file(
    path: Path, connect: Connect, reset: bool
) -> tuple[sqlite3.Connection, list[str]]:
    """A connection to a checked, migrated store at `path`, and what the opening found."""
    notices: list[str] = []
    with contextlib.suppress(OSError):
        if path.stat().st_size == 0:
            notices.append(f"{path} was an empty file (0 bytes): starting with an empty store")
    try:
        return _open_checked(path, connect), notices
    except Damaged as damage:
        if damage.history_only:
            notices.append(_salvage(path, connect, damage.reason))
        elif reset:
            copy = _move_aside(path)
            notices.append(
                f"{path} could not be used ({damage.reason}): kept it as {copy.name} "
                "and started with an empty store (--reset-store)"
            )
        else:
            raise StoreError(
                f"{path} cannot be used as a store ({damage.reason}): pass --reset-store to "
                f"keep it as {path.name}.corrupt-<time> and start with an empty store"
            ) from None
    return _open_checked(path, connect), notices


def _open_checked(path: Path, connect: Connect) -> sqlite3.Connection:
    try:
        conn = connect(str(path))
    except sqlite3.DatabaseError as exc:
        raise Damaged(_reason(exc), history_only=False) from None
    try:
        _check(conn)
        schema.migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise Damaged(_reason(exc), history_only=False) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check(conn: sqlite3.Connection) -> None:
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(20)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems == ["ok"]:
        return
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    for table in CORE_TABLES:
        if table not in tables:
            continue
        try:
            verdict = [row[0] for row in conn.execute(f"PRAGMA quick_check('{table}')")]
            conn.execute(f"SELECT * FROM {table}").fetchall()
        except sqlite3.DatabaseError as exc:
            raise Damaged(f"damaged {table} table: {exc}", history_only=False) from None
        if verdict != ["ok"]:
            raise Damaged(f"damaged {table} table: {_first(verdict[0])}", history_only=False)
    raise Damaged(f"damaged: {_first(problems[0])}", history_only=True)


def _first(problem: str) -> str:
    """The first finding of a check, on one line (a check lists every page it doubts)."""
    lines = [line for line in problem.splitlines() if line and not line.startswith("***")]
    return " ".join((lines or [problem])[0].split())


def _reason(exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "not a database" in text:
        return "not a SQLite database"
    return text


def _salvage(path: Path, connect: Connect, reason: str) -> str:
    """Copy the work whole and the readable history into a fresh file that takes the damaged
    one's place; answer what was kept and lost."""
    fresh = path.with_name(path.name + ".rebuilding")
    for stale in (fresh, *(fresh.with_name(fresh.name + side) for side in SIDE_FILES)):
        stale.unlink(missing_ok=True)
    source = sqlite3.connect(str(path))
    target = connect(str(fresh))
    kept: dict[str, int] = {}
    try:
        schema.migrate(target, fresh)
        target.execute("BEGIN IMMEDIATE")
        for table in CORE_TABLES:
            _copy(source, target, table, partial=False)
        for table in HISTORY_TABLES:
            kept[table] = _copy(source, target, table, partial=True)
        target.execute("COMMIT")
    finally:
        source.close()
        target.close()
    copy = _move_aside(path)
    fresh.replace(path)
    return (
        f"{path}: the trace and log history was damaged ({reason}); state, streams, the queue "
        f"and dead letters are intact; kept the {kept['spans']} span(s) and {kept['logs']} log "
        f"record(s) still readable, the rest of the history is lost; the damaged file is kept "
        f"as {copy.name}"
    )


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, table: str, partial: bool) -> int:
    """Rows of `table` from the damaged file; with `partial`, as many as read before the
    damage (the work tables were checked whole, so they read to the end)."""
    try:
        cursor = source.execute(f"SELECT * FROM {table}")
    except sqlite3.DatabaseError:
        if partial:
            return 0
        raise
    columns = ", ".join(column[0] for column in cursor.description)
    marks = ", ".join("?" for _ in cursor.description)
    insert = f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})"
    count = 0
    while True:
        try:
            row = cursor.fetchone()
        except sqlite3.DatabaseError:
            if partial:
                return count
            raise
        if row is None:
            return count
        target.execute(insert, row)
        count += 1


def _move_aside(path: Path) -> Path:
    """Keep the unusable file (and its journal) beside the new one, stamped with the time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while copy.exists():
        counter += 1
        copy = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    for side in SIDE_FILES:
        journal = path.with_name(path.name + side)
        if journal.exists():
            journal.replace(copy.with_name(copy.name + side))
    path.replace(copy)
    return copy
