"""This worker as a consumer of the project's topic streams.

One stream per topic, one consumer group per subscribing step, this worker one consumer in
each. The reader takes new entries (after its own pending ones, following a reconnect) as
long as it has fewer than `MAX_CLAIMS` not yet run (so that the other workers get their
share) and fewer than `MAX_ACKING` run and settled by a unit not yet committed: it reads the
next entries while the units of the last ones are on their way to Redis. An
entry addressed to another step of the same topic (a retry, a dead letter sent again) is
acknowledged and skipped by the others' groups.

The keeper, once a second: renews this worker's heartbeat key (it expires after
`heartbeat_s`, and with it the worker counts as dead), takes over the entries pending with
consumers whose heartbeat has expired, and those pending longer than their step's
`visibilityTimeout`; it holds each fifo step's cluster lock it can get (only its holder reads
that step, one entry at a time); and the mover puts due retries back on their streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from engine import jsonio
from engine.stores.base import Deliver, Subscription
from engine.stores.redis import scripts
from engine.stores.redis.line import round_trip
from engine.stores.redis.units import Claim, queued_from

if TYPE_CHECKING:
    from engine.stores.redis.store import RedisStore

_log = logging.getLogger("motia.store")

MAX_CLAIMS = 512
MAX_ACKING = 4_096
READ_CHUNK = 128
KEEPER_S = 1.0
MOVER_S = 0.05
IDLE_WAIT_S = 0.25
DEAD_MIN_IDLE_MS = 1_000
"""A dead worker's entry is taken only once it has been idle this long, so that two workers
taking over from the same dead one cannot both take it (the first resets its idle time)."""


@dataclass(slots=True)
class Group:
    step: str
    fifo: bool
    visibility_ms: int
    streams: list[str] = field(default_factory=list)


class Consumer:
    """Reads, reclaims and hands deliveries to the engine for one worker."""

    def __init__(self, store: RedisStore, client: aioredis.Redis, prefix: str, beat_s: float):
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.started = time.time()
        self._store = store
        self._redis = client
        self._prefix = prefix
        self._beat_s = beat_s
        self._groups: dict[str, Group] = {}
        self._created: set[tuple[str, str]] = set()
        self._deliver: Deliver | None = None
        self._claiming = True
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._reading: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._fifo_held: set[str] = set()
        self._move = client.register_script(scripts.MOVE_DUE)
        self._give_back = client.register_script(scripts.GIVE_BACK)
        self._renew = client.register_script(scripts.RENEW_LOCK)
        self.live: list[dict[str, Any]] = []
        self._alive: set[str] = set()
        self.pending: dict[str, int] = {}
        self.server: str = ""

    # -- wiring --------------------------------------------------------------------------

    def subscribe(self, subscriptions: Sequence[Subscription]) -> None:
        groups: dict[str, Group] = {}
        for sub in subscriptions:
            group = groups.get(sub.step)
            if group is None:
                group = groups[sub.step] = Group(
                    sub.step, sub.fifo, int(sub.visibility_timeout_s * 1000)
                )
            group.streams.append(self.stream_key(sub.topic))
        self._groups = groups
        self.wake()

    def stream_key(self, topic: str) -> str:
        return f"{self._prefix}:topic:{topic}"

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._tasks.append(loop.create_task(self._keeper()))
        self._tasks.append(loop.create_task(self._mover()))

    def serve(self, deliver: Deliver) -> None:
        """Start the reader (once: after an outage it resumes by itself)."""
        self._deliver = deliver
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._reader())
            self._tasks.append(self._reading)

    def stop_claiming(self) -> None:
        self._claiming = False
        self.wake()

    async def stop(self) -> None:
        self._claiming = False
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def wake(self) -> None:
        self._wake.set()

    def claims_changed(self) -> None:
        if self._room_to_read():
            self._room.set()

    def _room_to_read(self) -> int:
        """How many entries the next read may take: none until `READ_CHUNK` have room, while
        this worker holds claims (a busy worker reads in a few large reads, not one per
        finished run)."""
        store = self._store
        room = min(MAX_CLAIMS - len(store.claims), MAX_ACKING - store.acking)
        return room if room >= READ_CHUNK or (room > 0 and not store.claims) else 0

    # -- reading -------------------------------------------------------------------------

    async def _reader(self) -> None:
        own_pending = True
        while self._claiming and not self._stopping:
            if not self._store.health.ok:
                own_pending = True
                await asyncio.sleep(0.1)
                continue
            room = self._room_to_read()
            if room <= 0:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), IDLE_WAIT_S)
                continue
            self._wake.clear()
            try:
                await self._create_groups()
                got = await self._read("0" if own_pending else ">", room)
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    self._created.clear()  # Redis lost its groups (restarted empty)
                else:
                    await asyncio.sleep(0.1)
                continue
            if own_pending:
                own_pending = False
                continue
            if not got:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_WAIT_S)

    async def _create_groups(self) -> None:
        for group in list(self._groups.values()):
            for stream in group.streams:
                if (stream, group.step) in self._created:
                    continue
                try:
                    await self._redis.xgroup_create(stream, group.step, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._created.add((stream, group.step))

    def _readable(self, group: Group) -> bool:
        if not group.fifo:
            return True
        if group.step not in self._fifo_held:
            return False
        return not any(claim.group == group.step for claim in self._store.claims.values())

    async def _read(self, start: str, room: int) -> int:
        groups = [group for group in self._groups.values() if self._readable(group)]
        if not groups:
            return 0
        commands = [
            (
                "XREADGROUP", "GROUP", group.step, self.name, "COUNT", 1 if group.fifo else room,
                "STREAMS", *group.streams, *[start] * len(group.streams),
            )
            for group in groups
        ]
        replies = await round_trip(self._redis.connection_pool, commands)
        taken = 0
        for group, reply in zip(groups, replies, strict=True):
            for stream, entries in _stream_entries(reply):
                found = [(entry_id, _fields(raw)) for entry_id, raw in entries]
                taken += await self._take(group, stream, found)
        return taken

    async def _take(self, group: Group, stream: str, entries: list[Any]) -> int:
        """Hand the entries addressed to this group's step to the engine; acknowledge the
        others (and entries deleted since they were read)."""
        skip: list[str] = []
        taken = 0
        claims = self._store.claims
        step = group.step
        topic = stream[len(self._prefix) + 7 :]
        for entry_id, fields in entries:
            if not fields or fields.get("step") != step:
                skip.append(entry_id)
                continue
            if fields["id"] in claims:
                continue
            queued = queued_from(topic, step, fields)
            if group.fifo:
                held = await self._redis.hget(f"{self._prefix}:attempts", queued.id)
                if held is not None:
                    queued.attempt = int(held)
            claims[queued.id] = Claim(stream, step, entry_id, queued, group.fifo)
            taken += 1
            if self._deliver is not None:
                self._deliver(queued)
        if skip:
            await self._redis.xack(stream, group.step, *skip)
        return taken

    # -- keeping -------------------------------------------------------------------------

    async def _keeper(self) -> None:
        while not self._stopping:
            try:
                await self._beat()
                if self._claiming:
                    await self._hold_fifo_locks()
                    if self._deliver is not None and self._store.health.ok:
                        await self._reclaim()
                self._store.health.details = self.details()
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                _log.debug("redis keeper: %s", exc)
            await asyncio.sleep(KEEPER_S)

    async def _beat(self) -> None:
        key = f"{self._prefix}:worker:{self.name}"
        info = {
            "name": self.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": self.started * 1000,
            "claimed": len(self._store.claims),
            "draining": not self._claiming,
            "beat": time.time() * 1000,
        }
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(key, jsonio.dumps(info), px=int(self._beat_s * 1000))
        pipe.sadd(f"{self._prefix}:workers", self.name)
        pipe.smembers(f"{self._prefix}:workers")
        replies = await pipe.execute()
        names = sorted(replies[2])
        values = await self._redis.mget([f"{self._prefix}:worker:{n}" for n in names])
        live: list[dict[str, Any]] = []
        for value in values:
            if value is not None:
                live.append(jsonio.loads(value))
        self.live = live
        self._alive = {worker["name"] for worker in live}
        pending: dict[str, int] = {}
        for group in self._groups.values():
            for stream in group.streams:
                if (stream, group.step) in self._created:
                    summary = await self._redis.xpending(stream, group.step)
                    pending[group.step] = pending.get(group.step, 0) + int(summary["pending"])
        self.pending = pending

    async def _hold_fifo_locks(self) -> None:
        for group in self._groups.values():
            if not group.fifo:
                continue
            key = f"{self._prefix}:fifo:{group.step}"
            held = await self._renew(keys=[key], args=[self.name, int(self._beat_s * 1000)])
            if held:
                if group.step not in self._fifo_held:
                    self._fifo_held.add(group.step)
                    self.wake()
            else:
                self._fifo_held.discard(group.step)

    async def _reclaim(self) -> None:
        alive = self._alive
        for group in list(self._groups.values()):
            if group.fifo and group.step not in self._fifo_held:
                continue
            for stream in group.streams:
                if (stream, group.step) not in self._created:
                    continue
                for consumer in await self._redis.xinfo_consumers(stream, group.step):
                    name = consumer["name"]
                    if name == self.name or name in alive:
                        continue
                    await self._take_over(group, stream, name, int(consumer["pending"]))
                if not group.fifo:
                    reply = await self._redis.xautoclaim(
                        stream, group.step, self.name, group.visibility_ms, "0-0", count=100
                    )
                    await self._take(group, stream, reply[1])

    async def _take_over(self, group: Group, stream: str, dead: str, pending: int) -> None:
        """A dead worker's entries: claimed here, run again (same attempt number)."""
        if pending:
            rows = await self._redis.xpending_range(stream, group.step, "-", "+", 100, dead)
            ids: list[Any] = [row["message_id"] for row in rows]
            if ids:
                claimed = await self._redis.xclaim(
                    stream, group.step, self.name, DEAD_MIN_IDLE_MS, ids
                )
                await self._take(group, stream, claimed)
            return
        await self._redis.xgroup_delconsumer(stream, group.step, dead)
        await self._redis.srem(f"{self._prefix}:workers", dead)

    async def _mover(self) -> None:
        while not self._stopping:
            try:
                if self._store.health.ok:
                    await self._move(args=[self._prefix])
            except (RedisError, OSError):
                stop_if_cancelled()
            await asyncio.sleep(MOVER_S)

    # -- leaving -------------------------------------------------------------------------

    async def give_back(self, claims: list[Claim]) -> int:
        """Hand unfinished entries back to their streams at once (a draining worker)."""
        if not claims:
            return 0
        rows = [[c.stream_key, c.group, c.entry_id] for c in claims]
        try:
            given = await self._give_back(args=[self._prefix, self.name, jsonio.dumps(rows)])
        except (RedisError, OSError) as exc:
            _log.warning("could not hand back %d entries: %s", len(claims), exc)
            return 0
        return int(given)

    async def leave(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(f"{self._prefix}:worker:{self.name}")
            await self._redis.srem(f"{self._prefix}:workers", self.name)
            for group in self._groups.values():
                key = f"{self._prefix}:fifo:{group.step}"
                if group.step in self._fifo_held and await self._redis.get(key) == self.name:
                    await self._redis.delete(key)

    def details(self) -> dict[str, Any]:
        return {
            "redis": "connected" if self._store.health.ok else "unreachable",
            "consumer": self.name,
            "claimed": len(self._store.claims),
            "pending": dict(self.pending),
            "workers": list(self.live),
            "draining": not self._claiming,
        }


def stop_if_cancelled() -> None:
    """redis-py may turn the cancellation of a command into a connection error: a loop that
    catches those must not go on when its task is being cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _stream_entries(reply: Any) -> list[tuple[str, list[Any]]]:
    """XREADGROUP's raw answer as (stream, entries) pairs: a map of them in RESP3, a list of
    [stream, entries] in RESP2, none when nothing was read."""
    if isinstance(reply, dict):
        return list(reply.items())
    return [(stream, entries) for stream, entries in reply or []]


def _fields(raw: list[str] | None) -> dict[str, str]:
    """An entry's fields from their flat list (none for an entry deleted since it was read);
    the three of an event (`units`) written out, a third of the cost of slicing and zipping
    once for each entry read."""
    if not raw:
        return {}
    if len(raw) == 6:
        return {raw[0]: raw[1], raw[2]: raw[3], raw[4]: raw[5]}
    return dict(zip(raw[::2], raw[1::2], strict=True))
