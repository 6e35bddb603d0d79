"""Every worker's engine events, fanned out through Redis to the workers someone watches.

A workbench or an events socket attached to one worker of a cluster must show the whole
cluster live. The state, stream and dead-letter changes already travel with each commit (the
changes channel); what a worker does besides, its spans, log records and queue warnings, it
adds to one capped stream (`PREFIX:events`, `XADD MAXLEN ~ redis_events_kept`) while the
cluster is watched, and each watched worker reads that stream and hands the others' events to
its `cluster` readers (`EventHub.relay`).

"Watched" is a key with a short expiry that every worker with a `cluster` reader renews
(`PREFIX:watched`): nobody watching, no worker pays a Redis write per event. A worker skips
its own entries, and its forwarder reads only its own events (relayed ones never reach a
non-`cluster` reader), so nothing loops and nothing arrives twice. Both sides are bounded:
the forwarder's window on the hub drops the oldest past `WINDOW` and says how many it lost
in the stream, and the readers count such losses as dropped events, to reload from the
stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from engine import events as ev
from engine import jsonio
from engine.events import EngineEvent, EventHub, Subscription
from engine.stores.redis.consumer import stop_if_cancelled

_log = logging.getLogger("motia.store")

RELAYED = frozenset({ev.SPAN_START, ev.SPAN_END, ev.LOG, ev.QUEUE_WARNING, ev.QUEUE_PURGED})
"""What the events stream carries: the changes channel carries the rest already."""
WINDOW = 10_000
"""Events the forwarder holds between two writes before it drops the oldest."""
WATCH_TTL_MS = 5_000
CHECK_S = 1.0
"""How often a worker renews its watch and looks whether anyone watches."""
LOCAL_CHECK_S = 0.1
"""How often it looks whether a reader of its own came or went (no Redis call)."""
READ_BLOCK_MS = 1_000
READ_COUNT = 1_000


class EventFanout:
    """This worker's side of the cluster's events stream: forwarder and reader."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, worker: str, kept: int, hub: EventHub
    ) -> None:
        self._redis = client
        self._key = f"{prefix}:events"
        self._watched_key = f"{prefix}:watched"
        self._worker = worker
        self._kept = kept
        self._hub = hub
        self._window: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sharing: asyncio.Task[None] | None = None
        self._reading: asyncio.Task[None] | None = None
        self.watched = False
        """Whether some worker of the cluster has a `cluster` reader (then this one shares)."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._tasks.append(loop.create_task(self._watch()))

    async def stop(self) -> None:
        for task in (*self._tasks, self._sharing, self._reading):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (*self._tasks, self._sharing, self._reading) if t is not None),
            return_exceptions=True,
        )
        self._close_window()

    # -- who watches -----------------------------------------------------------------------

    async def _watch(self) -> None:
        """Renew this worker's watch while it has readers; share while anyone watches."""
        since_check = CHECK_S
        readers = 0
        while True:
            now_readers = self._hub.cluster_readers
            if since_check >= CHECK_S or (now_readers and not readers):
                since_check = 0.0
                try:
                    await self._check(now_readers)
                except (RedisError, OSError) as exc:
                    stop_if_cancelled()
                    _log.debug("redis events watch: %s", exc)
            readers = now_readers
            await asyncio.sleep(LOCAL_CHECK_S)
            since_check += LOCAL_CHECK_S

    async def _check(self, readers: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        if readers:
            pipe.set(self._watched_key, self._worker, px=WATCH_TTL_MS)
        pipe.exists(self._watched_key)
        replies = await pipe.execute()
        self.watched = bool(replies[-1])
        if self.watched and self._sharing is None:
            self._window = self._hub.subscribe(WINDOW, RELAYED)
            self._sharing = asyncio.get_running_loop().create_task(self._share(self._window))
        elif not self.watched and self._sharing is not None:
            self._sharing.cancel()
            self._sharing = None
            self._close_window()
        if readers and self._reading is None:
            start = await self._newest_id()
            self._reading = asyncio.get_running_loop().create_task(self._read(start))
        elif not readers and self._reading is not None:
            self._reading.cancel()
            self._reading = None

    def _close_window(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None

    # -- sharing this worker's events --------------------------------------------------------

    async def _share(self, window: Subscription) -> None:
        lost = 0
        while True:
            await window.wait()
            lost += window.take_dropped()
            batch = window.drain()
            try:
                await self._add(batch, lost)
                lost = 0
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                _log.debug("redis events share: %s", exc)
                lost += len(batch)
                await asyncio.sleep(0.2)

    async def _add(self, batch: list[EngineEvent], lost: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        if lost:
            pipe.xadd(self._key, {"w": self._worker, "lost": lost},
                      maxlen=self._kept, approximate=True)
        for event in batch:
            pipe.xadd(self._key, {"w": self._worker, "e": _encoded(event)},
                      maxlen=self._kept, approximate=True)
        await pipe.execute()

    # -- reading the others' ---------------------------------------------------------------

    async def _newest_id(self) -> str:
        newest = await self._redis.xrevrange(self._key, count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def _read(self, last: str) -> None:
        while True:
            try:
                reply: Any = await self._redis.xread(
                    {self._key: last}, count=READ_COUNT, block=READ_BLOCK_MS
                )
            except (RedisError, OSError) as exc:
                stop_if_cancelled()
                _log.debug("redis events read: %s", exc)
                self._hub.lost(1)  # the gap is unknown: the readers reload
                await asyncio.sleep(0.2)
                with contextlib.suppress(RedisError, OSError):
                    last = await self._newest_id()
                continue
            for _stream, entries in reply or []:
                before = last
                for entry_id, fields in entries:
                    last = entry_id
                    self._relay(fields)
                if len(entries) >= READ_COUNT:
                    await self._check_gap(before)

    async def _check_gap(self, before: str) -> None:
        """Behind by a full batch: if the stream's cap trimmed entries after `before`, they
        never reached this worker's readers, who reload."""
        try:
            info: Any = await self._redis.xinfo_stream(self._key)
        except (RedisError, OSError):
            stop_if_cancelled()
            return
        deleted = str(info.get("max-deleted-entry-id") or "0-0")
        if _entry_order(deleted) > _entry_order(before):
            self._hub.lost(1)

    def _relay(self, fields: dict[str, Any]) -> None:
        origin = fields.get("w")
        if origin == self._worker or not origin:
            return
        if "lost" in fields:
            self._hub.lost(int(fields["lost"]))
            return
        try:
            event = ev.wire_event(jsonio.loads(fields.get("e", "")))
        except ValueError:
            return
        if event is not None and event["type"] in RELAYED:
            self._hub.relay(event["type"], event["time"], dict(event["data"]), origin)


def _entry_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def _encoded(event: EngineEvent) -> bytes:
    """The event as the events socket sends it; a span's data is encoded already."""
    if event.encoded is not None:
        head = jsonio.dumps_bytes({"type": event.type, "time": event.time})
        return head[:-1] + b',"data":' + event.encoded + b"}"
    return jsonio.dumps_lenient_bytes(event.to_json())
