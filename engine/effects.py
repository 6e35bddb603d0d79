"""What a run does, as typed effects: the unit of work a `Persistence` adapter commits.

A run never writes SQL (or Redis commands): it collects effects, and the adapter turns a unit
of them into whatever its backend needs. State, queue, dead-letter and stream effects belong to
the attempt that made them and are committed together or not at all; spans and log records are
history (`HISTORY`), kept whatever the attempt's outcome and never a reason to fail a run.

Effects are small slotted objects holding JSON text, built on the hot path once per call (span
and log records are plain tuples: see `SpanRecord` and `LogRecord`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine import jsonio

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from engine.bus import Edge


class StateSet:
    __slots__ = ("group", "key", "raw")

    def __init__(self, group: str, key: str, raw: str) -> None:
        self.group = group
        self.key = key
        self.raw = raw


class StateDelete:
    __slots__ = ("group", "key")

    def __init__(self, group: str, key: str) -> None:
        self.group = group
        self.key = key


class StateClear:
    __slots__ = ("group",)

    def __init__(self, group: str) -> None:
        self.group = group


class EventQueued:
    """A delivery of an emitted event to one subscriber, queued until its run succeeds.

    The bus keeps the very object its emit queued as the delivery in memory (`bus.Delivery`):
    one object a delivery rather than two, each made on the hot path. What only the bus reads
    (`generation`, `lost`, `purged`) never reaches a store, and a retry's `attempt` and
    `not_before` are written with the attempt that failed (`DeliveryFailed`), whatever a row
    written meanwhile says."""

    __slots__ = (
        "attempt",
        "data_json",
        "edge",
        "generation",
        "id",
        "lost",
        "not_before",
        "parent_span",
        "purged",
        "seq",
        "step",
        "topic",
        "trace_id",
    )

    def __init__(
        self,
        id: str,
        seq: int,
        topic: str,
        step: str,
        data_json: str,
        trace_id: str,
        parent_span: str | None,
        attempt: int,
        not_before: float,
    ) -> None:
        self.id = id
        self.seq = seq
        self.topic = topic
        self.step = step
        self.data_json = data_json
        self.trace_id = trace_id
        self.parent_span = parent_span
        self.attempt = attempt
        self.not_before = not_before
        self.generation = 0
        """The bus's generation it was dispatched in (the bus's outages count them)."""
        self.edge: Edge | None = None
        """The subscription's queue the bus counts it on (`engine.bus.Edge`)."""
        self.lost = 0
        """Attempts in a row whose handler's process died (in memory only, like a crash)."""
        self.purged = False
        """Its topic's queue was purged: an attempt not begun is skipped, one running is the
        last."""

    @property
    def data(self) -> Any:
        return jsonio.loads(self.data_json)


class DeliveryDone:
    """The delivery's run succeeded (or its step is gone): it leaves the queue."""

    __slots__ = ("id",)

    def __init__(self, id: str) -> None:
        self.id = id


class DeliveryFailed:
    """An attempt failed and the delivery waits for its next one."""

    __slots__ = ("attempt", "id", "not_before")

    def __init__(self, id: str, attempt: int, not_before: float) -> None:
        self.id = id
        self.attempt = attempt
        self.not_before = not_before


class DeadLettered:
    """The last attempt failed: the delivery leaves the queue for the dead-letter queue."""

    __slots__ = (
        "attempts",
        "data_json",
        "error",
        "failed_at",
        "id",
        "step",
        "topic",
        "trace_id",
        "traceback",
    )

    def __init__(
        self,
        id: str,
        topic: str,
        step: str,
        data_json: str,
        error: str,
        traceback: str | None,
        attempts: int,
        trace_id: str,
        failed_at: float,
    ) -> None:
        self.id = id
        self.topic = topic
        self.step = step
        self.data_json = data_json
        self.error = error
        self.traceback = traceback
        self.attempts = attempts
        self.trace_id = trace_id
        self.failed_at = failed_at


class DeadLetterRemoved:
    __slots__ = ("id",)

    def __init__(self, id: str) -> None:
        self.id = id


class QueuePurged:
    """Every delivery of `topic` still queued leaves the queue, to every subscriber (a
    runaway step's backlog, thrown away on purpose)."""

    __slots__ = ("topic",)

    def __init__(self, topic: str) -> None:
        self.topic = topic


class StreamItemSet:
    __slots__ = ("group", "id", "raw", "stream")

    def __init__(self, stream: str, group: str, id: str, raw: str) -> None:
        self.stream = stream
        self.group = group
        self.id = id
        self.raw = raw


class StreamItemDelete:
    __slots__ = ("group", "id", "stream")

    def __init__(self, stream: str, group: str, id: str) -> None:
        self.stream = stream
        self.group = group
        self.id = id


SpanRecord = tuple[str, str, int, float, str, bool]
"""A span as the store writes it: span id, trace id, 1 when it is its trace's root (else 0),
start, the span as JSON, and `rewrite` when an earlier version of it may already be stored.
The root flag is an `int`, not a `bool`: SQLite's module binds only an exact `int`, `float`
or `str` directly, and any other value (a `bool`, `None`, `bytes`) goes through its adapter
lookup, which raises and formats an `AttributeError` for each one, on the writer thread with
the interpreter lock held: a tenth of the writer's instructions under the chain. A plain
tuple, as a log record is (see `LogRecord`), made once per run and waiting by the thousand for
its history batch: the collector untracks it at its first collection, where a slotted object
was walked at every one. Its first item, the span id, is a string (`is_span`)."""


LogRecord = tuple[float, int, str | None, str | None, str, str]
"""A log record as the store writes it: time, level, trace id, step, message and the record
as JSON. A plain tuple where the other effects are slotted objects: the collector untracks a
tuple of plain values at its first collection (a tuple, not an instance of a subclass of it),
and a busy step's records wait by the thousand on the loop and in the writer's queue, where
each slotted object was walked at every collection until it was written. A span record is a
tuple too: a log record's first item is its time, a number, where a span record's is its id."""


Effect = (
    StateSet
    | StateDelete
    | StateClear
    | EventQueued
    | DeliveryDone
    | DeliveryFailed
    | DeadLettered
    | DeadLetterRemoved
    | QueuePurged
    | StreamItemSet
    | StreamItemDelete
)
"""What an attempt changes: committed all together, or (a failed attempt) not at all."""

class TriggerRecord:
    """What started a trace, whole (`engine.triggers`), to send again; `size` bounds the store.

    `data` is its JSON text, or (`lazy`) what makes the trigger, called and encoded on first
    use: a store keeps only the newest triggers, so under load most are dropped before anyone
    needs their text. A lazy trigger holds only containers of its own (nothing a handler can
    change)."""

    __slots__ = ("_data", "_trigger", "time", "trace_id")

    def __init__(self, trace_id: str, time: float, data: str) -> None:
        self.trace_id = trace_id
        self.time = time
        self._data: str | None = data
        self._trigger: Callable[[], dict[str, Any]] | None = None

    @classmethod
    def lazy(
        cls, trace_id: str, time: float, make: Callable[[], dict[str, Any]]
    ) -> TriggerRecord:
        record = cls(trace_id, time, "")
        record._data = None
        record._trigger = make
        return record

    @property
    def data(self) -> str:
        self.encode()
        assert self._data is not None
        return self._data

    @property
    def size(self) -> int:
        return len(self.data)

    def encode(self) -> None:
        """Encode a lazy trigger now, on this thread."""
        if self._data is None:
            assert self._trigger is not None
            self._data = jsonio.dumps_lenient(self._trigger())
            self._trigger = None


History = SpanRecord | LogRecord | TriggerRecord
"""What happened: always kept, committed when the disk allows, never a reason to fail a run."""


def is_span(record: History) -> TypeIs[SpanRecord]:
    """Whether a history record is a span's (`SpanRecord`) rather than a log record's or a
    trigger."""
    return type(record) is tuple and type(record[0]) is str

STATE_EFFECTS = (StateSet, StateDelete, StateClear)
STREAM_EFFECTS = (StreamItemSet, StreamItemDelete)

