"""The `Persistence` protocol: what the engine asks of a store, whatever the backend.

The engine hands an adapter units of work (typed effects, never SQL) and history (spans and
log records), reads state and stream items through it, claims queued deliveries from it at
start and after an outage, asks it whether a cron tick is this process's to run, and queries
it for older traces and logs. The embedded adapters (`sqlite`, `memory`) answer every call
locally; a networked one (Redis) may answer the state and stream reads with awaitables, which
the context awaits for the handler, and keeps a run-local cache in the run's own overlay.

An adapter that cannot write fails stop: `health` turns failing, every unit from the failed
commit on is refused (`StoreFailing`), and the adapter retries on its own until a commit
succeeds again, telling the engine through the `on_health` callback each time it changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.effects import DeadLettered, Effect, EventQueued, History
from engine.events import EventHub


class StoreError(RuntimeError):
    """A store this version cannot open."""


class StoreFailing(RuntimeError):
    """A unit of work the store did not commit: the run that made it has failed."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class TriggerLimits:
    """How many triggers (`engine.triggers`) a store keeps: the newest `count`, at most
    `bytes` of them; the oldest go first."""

    count: int = 1_000
    bytes: int = 100 * 1024 * 1024


@dataclass(slots=True)
class StoreHealth:
    """Whether the store commits, and since when it does not."""

    adapter: str
    location: str
    ok: bool = True
    error: str | None = None
    since: float | None = None
    retry_at: float | None = None
    failed_commits: int = 0
    warning: str | None = None
    """Something the operator should know at start (a 2xx that would not survive a crash)."""
    details: dict[str, Any] | None = None
    """What a shared store knows of the cluster (its connection, this worker, the others)."""

    def retry_after_s(self) -> float:
        if self.retry_at is None:
            return 1.0
        return max(1.0, self.retry_at - time.time())

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            "adapter": self.adapter,
            "location": self.location,
            "error": self.error,
            "since": None if self.since is None else self.since * 1000,
            "retryAt": None if self.retry_at is None else self.retry_at * 1000,
            "failedCommits": self.failed_commits,
            "warning": self.warning,
            **({"cluster": self.details} if self.details is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    """A step subscribed to a topic, as a shared queue needs to know it."""

    topic: str
    step: str
    fifo: bool
    visibility_timeout_s: float


HealthListener = Callable[[StoreHealth], None]
Deliver = Callable[[EventQueued], None]
RemoteListener = Callable[[str, dict[str, Any]], None]
"""Hears what another process sharing the store did: ("state" | "stream" | "dlq.added" |
"dlq.removed", the change as the engine announces it)."""
MaybeAwaitable = Any
"""A value, or (from a networked adapter) an awaitable of it."""


class Persistence(Protocol):
    """A store the engine commits units of work to and reads from."""

    health: StoreHealth
    epoch: int
    """Counts the outages: a run begun in an earlier epoch read values that may be gone."""
    notices: list[str]
    """What opening the store found and did (an empty file, history it could not save), for
    the engine to log as warnings once its log is up."""
    shared_queue: bool
    """Whether several processes share the queue: then the store's consumer hands this
    process its deliveries (`serve`), and emitted events are not dispatched from memory."""
    worker: str | None
    """The name this process goes by among the processes sharing the store (its consumer
    name), recorded on every span it runs; None for a store of its own."""

    # -- life cycle ----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, on_health: HealthListener) -> None: ...

    async def close(self) -> None:
        """Commit everything handed over, then release the backend."""
        ...

    # -- units of work -------------------------------------------------------------------

    def commit(
        self, effects: Sequence[Effect], durable: bool, epoch: int
    ) -> asyncio.Future[None] | None:
        """Apply a unit (visible to every read at once) and commit it; with `durable`, a
        future that resolves once it is committed or raises `StoreFailing`. Raises
        `StoreFailing` at once while the store fails or when `epoch` is not the current one."""
        ...

    def record(self, history: History) -> None:
        """Keep a span or a log record; written when the store can, never failing a run."""
        ...

    def settled(self) -> Awaitable[None]:
        """Resolves once everything handed over so far has been committed or refused."""
        ...

    # -- reads: committed values plus the units still on their way ------------------------

    def state_get(self, group: str, key: str) -> MaybeAwaitable: ...

    def state_group(self, group: str) -> MaybeAwaitable: ...

    def state_groups(self) -> dict[str, dict[str, str]]: ...

    def stream_get(self, stream: str, group: str, item_id: str) -> MaybeAwaitable: ...

    def stream_group(self, stream: str, group: str) -> MaybeAwaitable: ...

    def stream_groups(self, stream: str) -> list[str]: ...

    # -- deliveries and cron ---------------------------------------------------------------

    def claim_queued(self) -> list[EventQueued]:
        """The committed deliveries still queued, for this process to run (at start and
        after an outage); they leave the queue through `DeliveryDone` effects."""
        ...

    def queue_depths(self) -> dict[tuple[str, str], int]:
        """How many committed deliveries each (topic, subscribing step) has queued (what
        `motia queue purge` reports on a store no server is running on)."""
        ...

    def dead_letters(self) -> list[DeadLettered]: ...

    def claim_tick(self, step: str, tick: float) -> MaybeAwaitable:
        """Whether this process runs the cron tick of `step` scheduled at `tick` (a bool,
        or an awaitable of one from a shared store, which lets one process in)."""
        ...

    def subscribe(self, subscriptions: Sequence[Subscription]) -> None:
        """The steps and the topics they take, whenever they change."""
        ...

    def serve(self, deliver: Deliver) -> None:
        """With a shared queue: start handing this process deliveries it has claimed."""
        ...

    def stop_claiming(self) -> None:
        """Take no more deliveries (a draining process finishes what it holds)."""
        ...

    def broadcast(self, notice: tuple[str, dict[str, Any]]) -> None:
        """A change the last unit made, for the other processes sharing the store to
        announce; it travels with that unit and is dropped with it."""
        ...

    def listen(self, on_remote: RemoteListener) -> None: ...

    def share_events(self, hub: EventHub) -> None:
        """Fan this process's engine events out to the others sharing the store, and theirs
        in to the hub's `cluster` readers (`EventHub.relay`)."""
        ...

    # -- history ---------------------------------------------------------------------------

    def recent_spans(self, traces: int) -> list[str]:
        """The spans (JSON) of the newest `traces` traces, oldest first (start-up)."""
        ...

    def trace_spans(self, trace_id: str) -> list[str]:
        """One trace's spans, oldest first; blocking, so call it in a thread."""
        ...

    def trigger(self, trace_id: str) -> str | None:
        """The trigger (JSON) a trace was started by, while the store still keeps it;
        blocking, so call it in a thread."""
        ...

    def recent_logs(self, count: int) -> list[str]:
        """The newest `count` log records (JSON), oldest first (start-up)."""
        ...

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
        """Matching records, oldest first, the newest `limit` of them, with a time in
        [since, until] when given (milliseconds); blocking."""
        ...

    def count_logs(self, since: float | None, until: float | None) -> int:
        """How many records have a time in [since, until] (an open end when None);
        blocking."""
        ...


def resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def failing_error(health: StoreHealth) -> StoreFailing:
    return StoreFailing(
        f"the store cannot write ({health.error}); try again later", health.retry_after_s()
    )


def unit_effects(units: Sequence[tuple[Any, ...]]) -> list[Effect]:
    return [effect for unit in units for effect in unit[1]]


class LocalQueue:
    """The sharing calls of an adapter whose queue belongs to one process: its bus dispatches
    from memory, every cron tick is its own, and nobody else needs to hear its changes."""

    shared_queue = False
    worker: str | None = None

    def claim_tick(self, step: str, tick: float) -> bool:
        return True

    def subscribe(self, subscriptions: Sequence[Subscription]) -> None:
        """The bus dispatches in memory; the store needs no subscriptions."""

    def serve(self, deliver: Deliver) -> None:
        """Deliveries come from memory and from `claim_queued` at start."""

    def stop_claiming(self) -> None:
        """Nothing is claimed from elsewhere."""

    def broadcast(self, notice: tuple[str, dict[str, Any]]) -> None:
        """No other process shares this store."""

    def listen(self, on_remote: RemoteListener) -> None:
        """No other process shares this store."""

    def share_events(self, hub: EventHub) -> None:
        """No other process shares this store."""
