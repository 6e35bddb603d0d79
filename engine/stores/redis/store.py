"""The Redis adapter: several workers, one project, one Redis holding the truth.

State lives in a hash per group and stream items in a hash per stream group; every worker
serves reads from a mirror of them (`Planes`), loaded at start and kept current by the
changes each commit publishes. Redis delivers those messages in commit order on one
connection, so the mirror's committed layer follows Redis exactly; a worker's own unit shows
in its pending layer from the moment the run ends until its message comes back. A write on
another worker is therefore visible here within one pub/sub hop.

Units go to Redis in batches through one script (engine.stores.redis.scripts.COMMIT): while
one batch is on its way the next one gathers, so a busy worker pays one round trip for many
runs, and a backlog goes in several batches at once on one connection, applied in the order
they were made (engine.stores.redis.line). Spans and log records ride along with a batch
only every `HISTORY_EVERY_S` (or once `HISTORY_BATCH` have gathered, or when the store
settles): history is written in fewer, larger pieces than effects, so a crash can lose the
last moments of history, never an effect. When Redis cannot be reached the store fails stop
as the SQLite store does: the units in flight and after fail, the mirror drops its pending
layer, and a probe with backoff reconnects, reloads the mirror and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from engine import jsonio
from engine.effects import (
    DeadLettered,
    DeadLetterRemoved,
    Effect,
    EventQueued,
    History,
)
from engine.events import EventHub
from engine.stores.base import (
    Deliver,
    HealthListener,
    RemoteListener,
    StoreError,
    StoreFailing,
    StoreHealth,
    Subscription,
    TriggerLimits,
    failing_error,
    resolve,
)
from engine.stores.layered import Planes
from engine.stores.redis import history, scripts
from engine.stores.redis.consumer import Consumer, stop_if_cancelled
from engine.stores.redis.depths import queue_depths
from engine.stores.redis.fanout import EventFanout
from engine.stores.redis.line import Command, Line
from engine.stores.redis.units import Claim, build_unit, dead_letter_from

_log = logging.getLogger("motia.store")

BATCH_UNITS = 1_000
IN_FLIGHT = 4
BEHIND_UNITS = 100
PROBE_FIRST_S = 0.25
PROBE_MAX_S = 5.0
HISTORY_KEPT = 100_000
HISTORY_EVERY_S = 0.1
HISTORY_BATCH = 5_000

Unit = tuple[int, Sequence[Effect], "asyncio.Future[None] | None", list[Any], list[Any]]
"""seq, effects, the future of a durable commit, the script's form, the notices it carries."""


def durability_warning(config: dict[str, str]) -> str | None:
    """What Redis's persistence settings mean for a 2xx, when it is less than "kept"."""
    if config.get("appendonly") == "unknown":
        return (
            "Redis refuses CONFIG GET, so its persistence is unknown: a 2xx survives a Redis "
            "restart only with appendonly yes (appendfsync always for every write)"
        )
    if config.get("appendonly") != "yes":
        return (
            "Redis runs without its append-only file (appendonly no): a 2xx is not kept "
            "through a Redis restart or crash"
        )
    if config.get("appendfsync") == "everysec":
        return (
            "Redis syncs its append-only file once a second (appendfsync everysec): a Redis "
            "crash can lose the last second of 2xx answers"
        )
    if config.get("appendfsync") == "no":
        return (
            "Redis leaves syncing its append-only file to the OS (appendfsync no): a machine "
            "crash can lose 2xx answers"
        )
    return None


class RedisStore(Planes):
    """State, streams, queue, dead letters and history in one Redis, shared by workers."""

    shared_queue = True

    def __init__(
        self,
        url: str,
        prefix: str,
        trace_limit: int,
        log_limit: int,
        heartbeat_s: float = 10.0,
        triggers: TriggerLimits | None = None,
        events_kept: int = 10_000,
    ) -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        self.health = StoreHealth("redis", f"{_safe(url)} prefix {prefix!r}")
        self.epoch = 0
        self._trace_limit = trace_limit
        self._log_limit = log_limit
        self._trigger_limits = triggers or TriggerLimits()
        self._events_kept = events_kept
        self._fanout: EventFanout | None = None
        self._seq = 0
        self._applied_seq = 0
        self._dead: dict[str, DeadLettered] = {}
        self.notices: list[str] = []
        """Opening a Redis store has nothing to tell; what its settings mean for a 2xx is
        `health.warning`, kept for the health call too."""
        self._sync: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
        """Blocking reads (start-up, history queries); replies decoded to `str`."""
        try:
            self._sync.ping()
            self.health.warning = durability_warning(_persistence(self._sync))
            self._install(_fetch(self._sync, prefix))
        except RedisError as exc:
            self._sync.close()
            raise StoreError(f"cannot use Redis at {_safe(url)}: {exc}") from None
        self._redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5
        )
        self._line: Line[list[Unit]] = Line(
            self._redis.connection_pool, IN_FLIGHT, self._answered, self._broken
        )
        self.claims: dict[str, Claim] = {}
        self.acking = 0
        """Acknowledgements in units gathered or on their way: entries still held in Redis
        after their claim left `claims` (bounded apart from the claims)."""
        self.consumer = Consumer(self, self._redis, prefix, heartbeat_s)
        self.worker: str | None = self.consumer.name
        self.health.details = self.consumer.details()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_health: HealthListener | None = None
        self._on_remote: RemoteListener | None = None
        self._units: list[Unit] = []
        self._open_unit: list[Any] | None = None
        """The notices of the unit that this turn of the loop broadcasts with."""
        self._history: list[History] = []
        self._history_at = 0.0
        """When history was last sent (monotonic); 0 makes what has gathered due at once."""
        self._history_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._probe_delay = PROBE_FIRST_S
        self._closing = False

    # -- loading -------------------------------------------------------------------------

    def _install(self, snapshot: Snapshot) -> None:
        """Redis's committed values become the mirror's; pending writes of units already
        applied (whose change message a gap may have swallowed) are settled by it."""
        state, streams, dead = snapshot
        self.state.committed = state
        self.streams.committed = streams
        self._dead = dead
        self.state.forget_pending_upto(self._applied_seq)
        self.streams.forget_pending_upto(self._applied_seq)

    # -- life cycle ----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, on_health: HealthListener) -> None:
        self._loop = loop
        self._on_health = on_health
        self._tasks = [
            loop.create_task(self._flusher()),
            loop.create_task(self._listen_changes()),
        ]
        self.consumer.start(loop)

    async def close(self) -> None:
        self._closing = True
        await self.consumer.stop()
        if self._fanout is not None:
            await self._fanout.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled(), 10)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._history_timer is not None:
            self._history_timer.cancel()
        if self.health.ok:
            await self.consumer.give_back(list(self.claims.values()))
            await self.consumer.leave()
        await self._line.close()
        await self._redis.aclose()
        self._sync.close()

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
        self.apply_pending(effects, seq)
        for effect in effects:
            if type(effect) is DeadLettered:
                self._dead[effect.id] = effect
            elif type(effect) is DeadLetterRemoved:
                self._dead.pop(effect.id, None)
        loop = self._loop or asyncio.get_running_loop()
        done = loop.create_future() if durable else None
        notices: list[Any] = []
        wire = build_unit(seq, effects, self.claims)
        if wire[1]:  # claims left: room for the reader
            self.acking += len(wire[1])
            self.consumer.claims_changed()
        self._units.append((seq, effects, done, wire, notices))
        self._open(notices)
        return done

    def _open(self, unit: list[Any]) -> None:
        """The unit that notices broadcast in this turn of the loop travel with."""
        if self._open_unit is None and self._loop is not None:
            self._loop.call_soon(self._close_unit)
        self._open_unit = unit
        self._idle.clear()
        self._wake.set()

    def _close_unit(self) -> None:
        self._open_unit = None

    def record(self, history_item: History) -> None:
        self._history.append(history_item)
        if len(self._history) > HISTORY_KEPT:
            del self._history[: len(self._history) - HISTORY_KEPT]
        self._idle.clear()
        if self._history_timer is None or len(self._history) >= HISTORY_BATCH:
            self._wake.set()

    def broadcast(self, notice: tuple[str, dict[str, Any]]) -> None:
        if self._open_unit is None:
            notices: list[Any] = []
            self._units.append((0, (), None, [0, [], [], "", ""], notices))
            self._open(notices)
        assert self._open_unit is not None
        self._open_unit.append(notice)

    def listen(self, on_remote: RemoteListener) -> None:
        self._on_remote = on_remote

    def share_events(self, hub: EventHub) -> None:
        assert self._loop is not None and self.worker is not None
        self._fanout = EventFanout(self._redis, self.prefix, self.worker, self._events_kept, hub)
        self._fanout.start(self._loop)

    async def settled(self) -> None:
        if self._loop is None:
            return
        while self._units or self._history or not self._idle.is_set():
            self._history_at = 0.0
            self._wake.set()
            await self._idle.wait()
            await asyncio.sleep(0)
            if not self.health.ok:
                return

    async def _flusher(self) -> None:
        """A batch goes out as soon as it gathers when none is on the wire, and behind
        others (up to `IN_FLIGHT`, `Line`) once `BEHIND_UNITS` have gathered: a backlog
        travels in several batches at once, and a trickle in few, larger ones rather than
        in a round trip per unit."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.health.ok:
                self._refuse(self._units)
                self._units = []
                self._idle.set()
                continue
            while self._sendable():
                units, self._units = self._units[:BATCH_UNITS], self._units[BATCH_UNITS:]
                kept = self._due_history()
                if not units and not kept:
                    break
                self._idle.clear()
                await self._line.send(units, self._commands(units, kept))
            if not len(self._line):  # else the next answer looks again
                self._after()

    def _sendable(self) -> bool:
        if not self.health.ok or self._line.full():
            return False
        return not len(self._line) or len(self._units) >= BEHIND_UNITS

    def _after(self) -> None:
        """Wake the flusher for what has gathered, or say the store is idle."""
        if self._units or (self._history and self._history_timer is None):
            self._wake.set()
        elif not len(self._line):
            self._idle.set()

    def _due_history(self) -> history.Batch:
        """The history to send with this batch: none until it is due, and then a wake-up
        is set for when it will be."""
        if not self._history:
            return history.Batch(())
        wait = self._history_at + HISTORY_EVERY_S - time.monotonic()
        if wait > 0 and len(self._history) < HISTORY_BATCH:
            if self._history_timer is None and self._loop is not None:
                self._history_timer = self._loop.call_later(wait, self._history_due)
            return history.Batch(())
        kept = history.Batch(self._history)
        self._history = []
        self._history_at = time.monotonic()
        return kept

    def _history_due(self) -> None:
        self._history_timer = None
        self._idle.clear()
        self._wake.set()

    def _commands(self, units: list[Unit], kept: history.Batch) -> list[Command]:
        """The batch's script call and its history's writes. The scripts travel whole
        (`EVAL`, not `EVALSHA`): a Redis that forgot its scripts (restarted empty, or told
        to flush them) runs them all the same, so no batch is refused and sent again out of
        its order."""
        commands: list[Command] = []
        if units:
            commands.append(("EVAL", scripts.COMMIT, 0, self._batch(units)))
        history.write(
            commands,
            self.prefix,
            (self._trace_limit, self._log_limit, self._trigger_limits),
            kept,
        )
        return commands

    def _batch(self, units: list[Unit]) -> bytes:
        """The commit script's argument: `[prefix, consumer, unit, ...]`."""
        wires: list[Any] = [self.prefix, self.consumer.name]
        for _seq, _effects, _done, wire, notices in units:
            if notices:  # values the run's writes already checked as JSON
                wire[4] = jsonio.dumps_bytes(notices)[1:-1].decode()
            wires.append(wire)
        return orjson.dumps(wires)

    def _answered(self, units: list[Unit], replies: list[Any]) -> None:
        statuses = replies[0] if units else []
        for (seq, effects, done, wire, _notices), status in zip(units, statuses, strict=True):
            self._applied_seq = max(seq, self._applied_seq)
            self.acking -= len(wire[1])
            if not status:
                self.discard(effects, seq)
                if done is not None:
                    resolve(done, StoreFailing("another worker took this delivery over"))
                continue
            if done is not None:
                resolve(done, None)
        self.consumer.claims_changed()
        self._after()

    def _broken(self, batches: list[list[Unit]], error: BaseException) -> None:
        self._failed([unit for units in batches for unit in units], error)

    def _refuse(self, units: list[Unit]) -> None:
        refusal = failing_error(self.health)
        for _seq, _effects, done, wire, _notices in units:
            self.acking -= len(wire[1])
            if done is not None:
                resolve(done, refusal)

    # -- the changes channel ---------------------------------------------------------------

    async def _listen_changes(self) -> None:
        """Follow every worker's commits in Redis's order; reload after a gap."""
        channel = f"{self.prefix}:changes"
        gap = False
        while not self._closing:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                if gap:
                    await self._reload()
                gap = True
                while not self._closing:
                    message = await pubsub.get_message(timeout=1.0)
                    stop_if_cancelled()
                    if message is not None:
                        self._changed(jsonio.loads(message["data"]))
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                if self._closing:
                    return
                if self.health.ok:
                    self._failed([], exc)
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _reload(self) -> None:
        """The committed layer again from Redis (after the changes channel had a gap)."""
        self._install(await asyncio.to_thread(_fetch, self._sync, self.prefix))

    def _changed(self, message: dict[str, Any]) -> None:
        ours = message.get("w") == self.consumer.name
        changes = message.get("o") or []
        for op, seq in changes:
            self._settle_op(op, seq if ours else 0)
        if message.get("q"):
            self.consumer.wake()
        if ours or self._on_remote is None:
            return
        for kind, change in message.get("n") or []:
            self._on_remote(kind, change)

    def _settle_op(self, op: list[Any], seq: int) -> None:
        kind = op[0]
        if kind == "s":
            self.state.settle_put(op[1], op[2], op[3], seq)
        elif kind == "d":
            self.state.settle_put(op[1], op[2], None, seq)
        elif kind == "c":
            self.state.settle_clear(op[1], seq)
        elif kind == "i":
            self.streams.settle_put((op[1], op[2]), op[3], op[4], seq)
        elif kind == "j":
            self.streams.settle_put((op[1], op[2]), op[3], None, seq)
        elif kind == "x":
            dead = dead_letter_from(op[2])
            self._dead[dead.id] = dead
            if seq == 0 and self._on_remote is not None:
                self._on_remote("dlq.added", {"id": dead.id, "raw": op[2]})
        elif kind == "y":
            self._dead.pop(op[1], None)
            if seq == 0 and self._on_remote is not None:
                self._on_remote("dlq.removed", {"id": op[1]})

    # -- failing and recovering ----------------------------------------------------------

    def _failed(self, units: list[Unit], error: BaseException) -> None:
        health = self.health
        if health.ok:
            _log.error("redis commit failed: %s", error)
            health.ok = False
            health.error = f"Redis: {error}"
            health.since = time.time()
            health.failed_commits += 1
            self.epoch += 1
            self.drop_pending()
            self.claims.clear()
            self._probe_delay = PROBE_FIRST_S
            assert self._loop is not None
            self._tasks.append(self._loop.create_task(self._probe()))
            self._tell()
        self._refuse(units)
        self._refuse(self._units)
        self._units = []
        self._idle.set()

    async def _probe(self) -> None:
        while not self._closing:
            self.health.retry_at = time.time() + self._probe_delay
            await asyncio.sleep(self._probe_delay)
            self._probe_delay = min(PROBE_MAX_S, self._probe_delay * 2)
            try:
                # Connections pooled before the outage are dead: a restarted Redis closes
                # them, and the first commit on one would fail the store again at once.
                await self._redis.connection_pool.disconnect()
                self._sync.connection_pool.disconnect()
                await self._redis.ping()
                await self._reload()
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                self.health.error = f"Redis: {exc}"
                self.health.failed_commits += 1
                continue
            health = self.health
            health.ok = True
            health.error = None
            health.since = None
            health.retry_at = None
            self._tell()
            return

    def _tell(self) -> None:
        if self._on_health is not None:
            self._on_health(self.health)

    # -- deliveries and cron -------------------------------------------------------------

    def claim_queued(self) -> list[EventQueued]:
        """The shared queue hands deliveries out through `serve`, never all at once."""
        return []

    def queue_depths(self) -> dict[tuple[str, str], int]:
        """Committed entries still on each topic's stream (undelivered or pending with some
        worker) plus retries waiting for their time, counted per addressed step (blocking)."""
        try:
            return queue_depths(self._sync, self.prefix)
        except RedisError as exc:
            raise StoreFailing(f"Redis: {exc}") from None

    def dead_letters(self) -> list[DeadLettered]:
        return sorted(self._dead.values(), key=lambda dead: dead.failed_at)

    def subscribe(self, subscriptions: Sequence[Subscription]) -> None:
        self.consumer.subscribe(subscriptions)

    def serve(self, deliver: Deliver) -> None:
        self.consumer.serve(deliver)

    def stop_claiming(self) -> None:
        self.consumer.stop_claiming()

    async def claim_tick(self, step: str, tick: float) -> bool:
        """The first worker to set the tick's key runs it: the key names the scheduled time,
        not anyone's clock, so a worker whose clock lags finds the key taken."""
        key = f"{self.prefix}:cron:{step}:{int(tick * 1000)}"
        try:
            return bool(await self._redis.set(key, self.consumer.name, nx=True, ex=600))
        except (RedisError, OSError):
            return False

    # -- history -------------------------------------------------------------------------

    def recent_spans(self, traces: int) -> list[str]:
        return history.recent_spans(self._sync, self.prefix, traces)

    def trace_spans(self, trace_id: str) -> list[str]:
        return history.trace_spans(self._sync, self.prefix, trace_id)

    def trigger(self, trace_id: str) -> str | None:
        return history.trigger(self._sync, self.prefix, trace_id)

    def recent_logs(self, count: int) -> list[str]:
        return history.recent_logs(self._sync, self.prefix, count)

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
        return history.query_logs(
            self._sync, self.prefix, trace_id, step, level, text, limit, since, until
        )

    def count_logs(self, since: float | None, until: float | None) -> int:
        return history.count_logs(self._sync, self.prefix, since, until)


Snapshot = tuple[
    dict[str, dict[str, str]], dict[tuple[str, str], dict[str, str]], dict[str, DeadLettered]
]


def _fetch(client: Any, prefix: str) -> Snapshot:
    """Every state group, stream group and dead letter Redis holds (blocking)."""
    p = prefix
    state: dict[str, dict[str, str]] = {}
    for group in client.smembers(f"{p}:state-groups"):
        items = client.hgetall(f"{p}:state:{group}")
        if items:
            state[group] = items
    streams: dict[tuple[str, str], dict[str, str]] = {}
    for stream in client.smembers(f"{p}:item-streams"):
        for group in client.smembers(f"{p}:item-groups:{stream}"):
            items = client.hgetall(f"{p}:items:{stream}:{group}")
            if items:
                streams[(stream, group)] = items
    dead = {}
    for _entry, fields in client.xrange(f"{p}:dlq"):
        letter = dead_letter_from(fields["d"])
        dead[letter.id] = letter
    return state, streams, dead


def _persistence(client: Any) -> dict[str, str]:
    """Redis's persistence settings; a Redis that refuses CONFIG (managed services often do)
    answers nothing, and the warning says it could not tell."""
    try:
        found: dict[str, str] = {}
        for name in ("appendonly", "appendfsync"):
            found.update(client.config_get(name))
        return found
    except RedisError:
        return {"appendonly": "unknown"}


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
