"""The embedded SQLite adapter: one file, one writer thread, group commits, off the event loop.

State and stream items are served from memory (`Planes`), loaded at start. A unit of work
applies to memory's pending layer at once and waits on the loop for a couple of milliseconds
(or until a caller needs it durable), so that work which undoes itself meanwhile never reaches
the disk. The writer thread then takes every unit waiting and commits them in one
transaction, so many small runs share one fsync and the loop never waits on the disk.

History (spans, log records, triggers) waits apart from units of work, half a second or
`HISTORY_ROWS` rows, and goes to the writer in a transaction of its own: a transaction of a
thousand spans costs the writer far less per span than one of a few hundred (SQLite rewrites
the index pages each commit touched), and every span it writes takes the interpreter lock from
the loop. Log records wait as their fields in one flat list, and go to the writer as one
tuple of them (`FlatRows`), not as the tuple each came as: under a flood thousands wait at a
time, and as tuples they were most of what each young collection walked (one tracked object
a record, where the batch is one in all, untracked at the first collection that meets it).
Units of work never carry history along, so their commits stay small and a 2xx waits only for
its own effects. Triggers (whole requests, kept for re-runs) are netted as they wait: only
the newest `trigger_store` of them can be kept, so under load most are never handed to the
writer; and they wait longer, half a second after a quiet spell but `TRIGGER_DELAY_S` after
the last were written, so a busy server encodes and writes its newest thousand every two
seconds rather than every half second. After a crash the last half second of spans and log
records may be missing, and the last two seconds of triggers, never an effect.

When a commit fails (disk full, read-only file, I/O error) the store fails stop: the units in
that transaction and every one after it fail, memory drops its pending layer, and new units
are refused until a probe commit succeeds; the probes back off from a quarter of a second to
five seconds. History (spans, logs) of a failed transaction is kept (bounded) and written with
the probe that succeeds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.effects import DeadLettered, Effect, EventQueued, History, TriggerRecord
from engine.stores.base import (
    HealthListener,
    LocalQueue,
    StoreError,
    StoreFailing,
    StoreHealth,
    TriggerLimits,
    failing_error,
    resolve,
)
from engine.stores.layered import Planes
from engine.stores.sqlite.opening import open_store_file
from engine.stores.sqlite.plan import LOG_WIDTH, FlatRows, plan
from engine.stores.sqlite.plan import run as run_calls
from engine.stores.sqlite.schema import TRACE_KEY, of_traces, trace_key
from engine.stores.sqlite.triggers import TriggerFile, trigger_path

_log = logging.getLogger("motia.store")

FLUSH_DELAY_S = 0.002
FLUSH_UNITS = 2_000
HISTORY_DELAY_S = 0.5
HISTORY_ROWS = 5_000
"""Spans and log records waiting on the loop that are written at once, not at the end of the
delay."""
TRIGGER_DELAY_S = 2.0
"""Triggers go at most this often: under load each write of them replaces the thousand the
last one wrote (only the newest `trigger_store` are kept), so every write saved is a thousand
triggers neither encoded on the loop nor written. A re-run reads them after `settled()`."""
CACHE_KIB = 8_192
"""The writer's page cache: the span and queue indexes take random inserts, so a cache that
holds them saves a read system call per insert. Log records are appended and never read
back by the writer, and under a flood they filled a cache of 32 MiB whole: the workbench's
RSS was 20 to 30 MB higher for no less writer CPU a record than with this one."""
READ_CACHE_KIB = 1_024
"""A reader's page cache: each read opens a connection of its own, and the Logs pane's
counts and read-backs by time scan the whole log table (no index on time), so a reader with
the writer's cache filled all 32 MiB of it for one query (RSS +34 MB for the scan, at 40%
more CPU than with this one)."""
PRUNE_EVERY = 2_000
PROBE_FIRST_S = 0.25
PROBE_MAX_S = 5.0
HISTORY_KEPT = 100_000
"""History waiting through an outage, at most (rows); the oldest goes first beyond it."""

Waiting = History | FlatRows
"""History as it waits for the writer: a span or a trigger, or a batch of log records."""
Unit = tuple[int, Sequence[Effect], "asyncio.Future[None] | None"]
"""A unit's sequence number (0 when it wrote nothing to memory, so its commit settles
nothing there), its effects and the future of a caller waiting for it. Only a unit that
needs its commit told (a sequence number or a future) is kept as one: most (a delivery queued
and another done) need nothing, and their effects wait in one flat list with everyone's, so
no tuple and no list a run stays alive, for the collector to walk, until the writer is done."""
_STOP = object()
_PROBE = object()


def _rows(item: Waiting) -> int:
    """The rows a waiting item writes: a batch's records, else one."""
    return len(item) if type(item) is FlatRows else 1


def connect(path: str, uri: bool = False, cache_kib: int = CACHE_KIB) -> sqlite3.Connection:
    conn = sqlite3.connect(path, uri=uri, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    return conn


def connect_reader(path: str) -> sqlite3.Connection:
    """A connection for one read beside the writer, with a reader's small page cache."""
    return connect(path, cache_kib=READ_CACHE_KIB)


class SqliteStore(LocalQueue, Planes):
    """Owns the database file; reads at start-up, writes through the writer thread."""

    def __init__(
        self,
        path: Path,
        trace_limit: int,
        log_limit: int,
        reset: bool = False,
        triggers: TriggerLimits | None = None,
    ) -> None:
        super().__init__()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path} cannot be created: {exc.strerror}") from None
        self.path = path
        self.health = StoreHealth("sqlite", str(path))
        self.epoch = 0
        self._trace_limit = trace_limit
        self._log_limit = log_limit
        self._conn, self.notices = open_store_file(path, connect, reset)
        self._load()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_health: HealthListener | None = None
        self._seq = 0
        self._effects: list[Effect] = []
        self._units: list[Unit] = []
        self._waiting = 0
        """Units whose effects wait in `_effects`."""
        self._history: list[Waiting] = []
        self._log_fields: list[Any] = []
        """The waiting log records' fields, `LOG_WIDTH` a record, in order."""
        self._history_rows = 0
        """Spans and log records waiting on the loop."""
        limits = triggers or TriggerLimits()
        self._waiting_triggers: deque[TriggerRecord] = deque(maxlen=limits.count)
        """Triggers waiting on the loop; the oldest fall out once the newest would trim them."""
        self._flush_timer: asyncio.TimerHandle | None = None
        self._history_timer: asyncio.TimerHandle | None = None
        self._trigger_timer: asyncio.TimerHandle | None = None
        self._triggers_due = 0.0
        """The loop's time before which triggers wait (`TRIGGER_DELAY_S` after the last)."""
        self._probe_timer: asyncio.TimerHandle | None = None
        self._probe_delay = PROBE_FIRST_S
        # Owned by the writer thread:
        self._broken = threading.Event()
        self._unwritten_history: deque[Waiting] = deque()
        self._unwritten_rows = 0
        self._writes_since_prune = 0
        self._triggers = TriggerFile(trigger_path(path), limits, connect, connect_reader)

    def _load(self) -> None:
        state, streams = self.state.committed, self.streams.committed
        for group, key, raw in self._conn.execute("SELECT grp, key, value FROM state"):
            state.setdefault(group, {})[key] = raw
        for stream, group, item_id, raw in self._conn.execute(
            "SELECT stream, grp, id, value FROM stream_items"
        ):
            streams.setdefault((stream, group), {})[item_id] = raw

    # -- life cycle ----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, on_health: HealthListener) -> None:
        self._loop = loop
        self._on_health = on_health
        self._thread = threading.Thread(target=self._run, name="motia-store-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        self._flush(history=True, triggers=True)
        if self._probe_timer is not None:
            self._probe_timer.cancel()
        if self._thread is not None:
            self._queue.put(_STOP)
            thread, self._thread = self._thread, None
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 30)
        self._conn.close()
        self._triggers.close()

    # -- units of work ---------------------------------------------------------------------

    def commit(
        self, effects: Sequence[Effect], durable: bool, epoch: int
    ) -> asyncio.Future[None] | None:
        if not self.health.ok:
            raise failing_error(self.health)
        if epoch != self.epoch:
            raise StoreFailing("the run began before the store's last outage")
        self._seq += 1
        seq = self._seq
        if not self.apply_pending(effects, seq):
            seq = 0
        loop = self._loop
        if loop is None:
            self._write(effects, [])
            if seq:
                self.settle(effects, seq)
            return _done_future() if durable else None
        self._effects.extend(effects)
        self._waiting += 1
        if durable:
            done = loop.create_future()
            self._units.append((seq, effects, done))
            self._flush()
            return done
        if seq:
            self._units.append((seq, effects, None))
        if self._waiting >= FLUSH_UNITS:
            self._flush()
        elif self._flush_timer is None:
            self._flush_timer = loop.call_later(FLUSH_DELAY_S, self._flush)
        return None

    def record(self, history: History) -> None:
        if self._loop is None:
            self._write([], [history])
            return
        loop = self._loop
        if isinstance(history, TriggerRecord):
            self._waiting_triggers.append(history)
            if self._trigger_timer is None:
                due = max(loop.time() + HISTORY_DELAY_S, self._triggers_due)
                self._trigger_timer = loop.call_at(due, self._flush, False, True)
            return
        if type(history[0]) is str:  # a SpanRecord
            self._history.append(history)
        else:
            self._log_fields.extend(history)
        self._history_rows += 1
        if self._history_rows >= HISTORY_ROWS:
            self._flush(history=True)
        elif self._history_timer is None:
            self._history_timer = loop.call_later(HISTORY_DELAY_S, self._flush, True)

    def settled(self) -> asyncio.Future[None]:
        loop = self._loop or asyncio.get_running_loop()
        done = loop.create_future()
        if self._thread is None:
            done.set_result(None)
            return done
        self._units.append((0, (), done))
        self._flush(history=True, triggers=True)
        return done

    def _flush(self, history: bool = False, triggers: bool = False) -> None:
        """Hand the waiting units to the writer (their effects in order, and the units among
        them to tell), with `history` the waiting spans and log records too, and with
        `triggers` the waiting triggers."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        kept: list[Waiting] = []
        if history:
            if self._history_timer is not None:
                self._history_timer.cancel()
                self._history_timer = None
            kept = self._history
            self._history = []
            self._history_rows = 0
            if self._log_fields:
                kept.append(FlatRows(tuple(self._log_fields), LOG_WIDTH))
                self._log_fields = []
        if triggers:
            if self._trigger_timer is not None:
                self._trigger_timer.cancel()
                self._trigger_timer = None
            if self._waiting_triggers:
                for record in self._waiting_triggers:
                    record.encode()  # here: the writer's Python work would cost the loop double
                kept.extend(self._waiting_triggers)
                self._waiting_triggers.clear()
                if self._loop is not None:
                    self._triggers_due = self._loop.time() + TRIGGER_DELAY_S
        if self._waiting or self._units or kept:
            self._queue.put((self._effects, self._units, kept))
            self._effects, self._units, self._waiting = [], [], 0

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            items = [item]
            while len(items) < 5_000:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            effects: list[Effect] = []
            units: list[Unit] = []
            stop = probe = False
            for item in items:
                if item is _STOP:
                    stop = True
                elif item is _PROBE:
                    probe = True
                else:
                    effects.extend(item[0])
                    units.extend(item[1])
                    self._keep_unwritten(item[2])
            if self._broken.is_set():
                if effects or units:
                    self._post(self._failed, units, None)
                if probe:
                    self._probe()
            else:
                self._commit(effects, units)
            if stop:
                if not self._broken.is_set():
                    self._prune()
                return

    def _keep_unwritten(self, history: list[Waiting]) -> None:
        """Hold history until a commit writes it, the oldest let go past `HISTORY_KEPT` rows."""
        unwritten = self._unwritten_history
        unwritten.extend(history)
        self._unwritten_rows += sum(map(_rows, history))
        while self._unwritten_rows > HISTORY_KEPT:
            self._unwritten_rows -= _rows(unwritten.popleft())

    def _written(self) -> None:
        self._unwritten_history.clear()
        self._unwritten_rows = 0

    def _commit(self, effects: list[Effect], units: list[Unit]) -> None:
        history = list(self._unwritten_history)
        try:
            self._write(effects, history)
        except sqlite3.Error as exc:
            _log.error("store commit failed: %s", exc)
            self._broken.set()
            self._post(self._failed, units, exc)
            return
        self._written()
        self._post(self._committed, units)
        if self._writes_since_prune >= PRUNE_EVERY:
            self._writes_since_prune = 0
            self._prune()

    def _probe(self) -> None:
        """While broken: write the waiting history and one small row; success ends it."""
        history = list(self._unwritten_history)
        try:
            self._write((), history, probe=True)
        except sqlite3.Error as exc:
            self._post(self._probe_failed, exc)
            return
        self._written()
        self._post(self._recovered)

    def _write(
        self, effects: Sequence[Effect], history: Sequence[Waiting], probe: bool = False
    ) -> None:
        conn = self._conn
        kept = [item for item in history if type(item) is TriggerRecord]
        calls = plan(
            itertools.chain(effects, (item for item in history if type(item) is not TriggerRecord))
        )
        if not calls and not probe:
            self._triggers.write(kept)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._writes_since_prune += run_calls(conn, calls)
            if probe:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)",
                    (str(time.time()),),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    _log.exception("store rollback failed")
            raise
        self._triggers.write(kept)

    def _post(self, callback: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def _prune(self) -> None:
        """Keep the configured number of traces and log records; drop the oldest. A span
        starts no earlier than its trace's root (on the engine's clock), so the spans of the
        kept traces are all newer than the newest root let go, and every span as old as that
        root goes: the roots past the limit, their spans, and any span whose trace was let go
        before it was written (a run that outlived its trace's retention). One range of
        `spans_roots` per value of `root`, with no lookup of each trace's spans (a third of
        the prune's cost)."""
        try:
            row = self._conn.execute(
                "SELECT start FROM spans WHERE root = 1 ORDER BY start DESC LIMIT 1 OFFSET ?",
                (self._trace_limit,),
            ).fetchone()
            if row is not None:
                self._conn.execute(
                    "DELETE FROM spans WHERE root IN (0, 1) AND start <= ?", (row[0],)
                )
            row = self._conn.execute("SELECT max(id) FROM logs").fetchone()
            if row and row[0] is not None and row[0] > self._log_limit:
                self._conn.execute("DELETE FROM logs WHERE id <= ?", (row[0] - self._log_limit,))
        except sqlite3.Error:
            _log.exception("store prune failed")

    # -- back on the loop ------------------------------------------------------------------

    def _committed(self, units: list[Unit]) -> None:
        for seq, effects, done in units:
            if seq:
                self.settle(effects, seq)
            if done is not None:
                resolve(done, None)

    def _failed(self, units: list[Unit], error: BaseException | None) -> None:
        health = self.health
        if health.ok:
            health.ok = False
            health.error = str(error) if error is not None else "commit failed"
            health.since = time.time()
            health.failed_commits += 1
            self.epoch += 1
            self.drop_pending()
            self._probe_delay = PROBE_FIRST_S
            self._schedule_probe()
            self._tell()
        refusal = failing_error(health)
        for _seq, _effects, done in units:
            if done is not None:
                resolve(done, refusal if _effects else None)

    def _schedule_probe(self) -> None:
        assert self._loop is not None
        self.health.retry_at = time.time() + self._probe_delay
        self._probe_timer = self._loop.call_later(self._probe_delay, self._queue.put, _PROBE)
        self._probe_delay = min(PROBE_MAX_S, self._probe_delay * 2)

    def _probe_failed(self, error: BaseException) -> None:
        self.health.error = str(error)
        self.health.failed_commits += 1
        self._schedule_probe()

    def _recovered(self) -> None:
        self._broken.clear()
        health = self.health
        health.ok = True
        health.error = None
        health.since = None
        health.retry_at = None
        self._tell()

    def _tell(self) -> None:
        if self._on_health is not None:
            self._on_health(self.health)

    # -- reads -----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        """A connection of its own for reads beside the writer (WAL lets them overlap)."""
        return connect_reader(str(self.path))

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        conn = self._conn if self._thread is None else self._reader()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            if conn is not self._conn:
                conn.close()

    def claim_queued(self) -> list[EventQueued]:
        return [
            EventQueued(*row)
            for row in self._select(
                "SELECT id, seq, topic, step, data, trace_id, parent_span, attempt, not_before "
                "FROM queue ORDER BY seq"
            )
        ]

    def queue_depths(self) -> dict[tuple[str, str], int]:
        return {
            (topic, step): count
            for topic, step, count in self._select(
                "SELECT topic, step, count(*) FROM queue GROUP BY topic, step"
            )
        }

    def dead_letters(self) -> list[DeadLettered]:
        return [
            DeadLettered(*row)
            for row in self._select(
                "SELECT id, topic, step, data, error, traceback, attempts, trace_id, failed_at "
                "FROM dlq ORDER BY failed_at"
            )
        ]

    def recent_spans(self, traces: int) -> list[str]:
        return [
            data
            for (data,) in self._select(
                "SELECT data FROM spans WHERE "
                + of_traces(
                    "SELECT trace_id FROM spans WHERE root = 1 ORDER BY start DESC LIMIT ?1"
                )
                + " ORDER BY start",
                (traces,),
            )
        ]

    def trace_spans(self, trace_id: str) -> list[str]:
        return [
            data
            for (data,) in self._select(
                f"SELECT data FROM spans WHERE {TRACE_KEY} = ? AND +trace_id = ? ORDER BY start",
                (trace_key(trace_id), trace_id),
            )
        ]

    def trigger(self, trace_id: str) -> str | None:
        return self._triggers.read(trace_id, own_connection=self._thread is not None)

    def recent_logs(self, count: int) -> list[str]:
        rows = self._select("SELECT record FROM logs ORDER BY id DESC LIMIT ?", (count,))
        return [record for (record,) in reversed(rows)]

    def query_logs(
        self,
        trace_id: str | None,
        step: str | None,
        level: int | None,
        text: str | None,
        limit: int,
        since: float | None = None,
        until: float | None = None,
    ) -> list[str]:
        clauses, params = _time_clauses(since, until)
        if trace_id:
            clauses.append("trace_id = ?")
            params.append(trace_id)
        if step:
            clauses.append("step = ?")
            params.append(step)
        if level:
            clauses.append("level >= ?")
            params.append(level)
        if text:
            clauses.append("(msg LIKE ? OR record LIKE ?)")
            params.extend([f"%{text}%"] * 2)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._select(
            f"SELECT record FROM logs {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [record for (record,) in reversed(rows)]

    def count_logs(self, since: float | None, until: float | None) -> int:
        clauses, params = _time_clauses(since, until)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        ((count,),) = self._select(f"SELECT count(*) FROM logs {where}", tuple(params))
        return int(count)


def _time_clauses(since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("time >= ?")
        params.append(since)
    if until is not None:
        clauses.append("time <= ?")
        params.append(until)
    return clauses, params


def _done_future() -> asyncio.Future[None]:
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future
