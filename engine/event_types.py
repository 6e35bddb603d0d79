"""The engine's events as data: each event type's name and the JSON payload it carries.

Apart from the hub (`engine.events`, which offers every name here too) because these
`TypedDict`s' annotations are read at run time (the payload tests check every event the engine
publishes against them), and the hub is compiled, which keeps none.
"""

from collections.abc import Sequence
from typing import Any, Final, Literal, NotRequired, TypedDict, cast, get_args

EventType = Literal[
    "log",
    "span.start",
    "span.end",
    "state.change",
    "stream.change",
    "step.loaded",
    "step.failed",
    "step.removed",
    "dlq.added",
    "dlq.removed",
    "server.started",
    "events.dropped",
    "store.health",
    "queue.warning",
    "queue.purged",
    "dlq.full",
]

LOG: Final = "log"
SPAN_START: Final = "span.start"
SPAN_END: Final = "span.end"
STATE_CHANGE: Final = "state.change"
STREAM_CHANGE: Final = "stream.change"
STEP_LOADED: Final = "step.loaded"
STEP_FAILED: Final = "step.failed"
STEP_REMOVED: Final = "step.removed"
DLQ_ADDED: Final = "dlq.added"
DLQ_REMOVED: Final = "dlq.removed"
SERVER_STARTED: Final = "server.started"
STORE_HEALTH: Final = "store.health"
"""The store stopped committing (disk full, I/O error) or commits again."""
QUEUE_WARNING: Final = "queue.warning"
"""A topic's queue grows fast, or a run was refused because it is full (`engine.queue_watch`)."""
QUEUE_PURGED: Final = "queue.purged"
"""Every delivery still queued for a topic was thrown away (`motia queue purge`)."""
DLQ_FULL: Final = "dlq.full"
"""The dead-letter queue passed `max_dead_letters` and its oldest items were dropped."""
EVENTS_DROPPED: Final = "events.dropped"
"""Never published: a websocket reader, or the tape's writer, fell behind and `count` events
were not delivered to it (the websocket sends it, `ThreadSubscription` buffers it in order)."""

EVENT_TYPES: Final[frozenset[str]] = frozenset(get_args(EventType))

STEP_CHANGES: Final[frozenset[EventType]] = frozenset({STEP_LOADED, STEP_FAILED, STEP_REMOVED})
"""The events after which the list of steps, flows and streams must be read again."""


# -- payloads: what `data` holds for each event type, in the JSON the API speaks -----------


class LogData(TypedDict):
    """A log record as Motia writes it; a step's own fields sit beside these keys."""

    level: str
    time: int
    msg: str
    traceId: str | None
    flows: Sequence[str]  # a shared tuple in process, which the collector need not track
    step: str | None
    spanId: NotRequired[str | None]
    logger: NotRequired[str]
    traceback: NotRequired[str]


class SpanData(TypedDict):
    """One step run (or a manual action) inside a trace; `span.start` and `span.end` both
    carry the whole span, with `status` "running" at the start."""

    spanId: str
    traceId: str
    parentId: str | None
    step: str
    kind: str
    attempt: int
    status: str
    start: float
    durationMs: float | None
    input: Any
    emits: list[dict[str, Any]]
    stateOps: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    deliveryId: NotRequired[str]
    output: NotRequired[Any]
    error: NotRequired[Any]
    topic: NotRequired[str]
    """The topic an event step's input came on."""
    rerunOf: NotRequired[str]
    """On a root span: the trace this trace re-ran."""
    rerunOfSpan: NotRequired[str]
    """With `rerunOf`, for a re-run from a span: that span."""
    imported: NotRequired[bool]
    worker: NotRequired[str]
    """The worker that ran it, when several share one store (its consumer name)."""


class StateChangeData(TypedDict):
    op: Literal["set", "delete", "clear"]
    group: str
    key: str | None
    traceId: str
    step: str
    value: NotRequired[Any]


class StreamChangeData(TypedDict):
    stream: str
    groupId: str
    id: str | None
    type: Literal["create", "update", "delete", "event"]
    data: Any
    timestamp: int
    traceId: str | None
    step: str | None


class StreamInfo(TypedDict):
    name: str
    file: str
    line: int
    storageType: str
    schema: Any


class StepLoadedData(TypedDict, total=False):
    """A step's introspection view (as `GET /__motia/steps` lists it), or only `stream` when
    the file loaded is a stream definition."""

    name: str
    type: str
    file: str
    line: int
    flows: list[str]
    stream: StreamInfo


class StepFailedData(TypedDict):
    file: str
    line: int
    message: str
    steps: list[str]
    """The steps the file held before it failed (they stay loaded)."""


class StepRemovedData(TypedDict):
    file: str
    name: NotRequired[str]
    stream: NotRequired[str]


class DeadLetterData(TypedDict):
    id: str
    topic: str
    step: str
    data: Any
    error: str
    traceback: str | None
    attempts: int
    traceId: str
    failedAt: float


class DeadLetterRemovedData(TypedDict):
    id: str


class ServerStartedData(TypedDict):
    url: str
    host: str
    port: int


class EventsDroppedData(TypedDict):
    count: int


class StoreHealthData(TypedDict):
    status: Literal["ok", "failing"]
    adapter: str
    location: str
    error: str | None
    since: float | None
    retryAt: float | None
    failedCommits: int
    warning: str | None
    cluster: NotRequired[dict[str, Any]]
    """A store shared by several workers: its connection, this worker, the live workers."""


class QueueWarningData(TypedDict):
    topic: str
    queued: int
    perSecond: float | None
    full: bool
    bound: int | None


class DeadLettersFullData(TypedDict):
    dropped: int
    """Dropped since the last report."""
    totalDropped: int
    held: int
    bound: int


class QueuePurgedData(TypedDict):
    topic: str
    purged: int


# -- events as every reader sees them: `EngineEvent.to_json()` and the events websocket -----


class LogEvent(TypedDict):
    type: Literal["log"]
    time: float
    data: LogData


class SpanStartEvent(TypedDict):
    type: Literal["span.start"]
    time: float
    data: SpanData


class SpanEndEvent(TypedDict):
    type: Literal["span.end"]
    time: float
    data: SpanData


class StateChangeEvent(TypedDict):
    type: Literal["state.change"]
    time: float
    data: StateChangeData


class StreamChangeEvent(TypedDict):
    type: Literal["stream.change"]
    time: float
    data: StreamChangeData


class StepLoadedEvent(TypedDict):
    type: Literal["step.loaded"]
    time: float
    data: StepLoadedData


class StepFailedEvent(TypedDict):
    type: Literal["step.failed"]
    time: float
    data: StepFailedData


class StepRemovedEvent(TypedDict):
    type: Literal["step.removed"]
    time: float
    data: StepRemovedData


class DeadLetterAddedEvent(TypedDict):
    type: Literal["dlq.added"]
    time: float
    data: DeadLetterData


class DeadLetterRemovedEvent(TypedDict):
    type: Literal["dlq.removed"]
    time: float
    data: DeadLetterRemovedData


class ServerStartedEvent(TypedDict):
    type: Literal["server.started"]
    time: float
    data: ServerStartedData


class EventsDroppedEvent(TypedDict):
    type: Literal["events.dropped"]
    time: float
    data: EventsDroppedData


class StoreHealthEvent(TypedDict):
    type: Literal["store.health"]
    time: float
    data: StoreHealthData


class QueueWarningEvent(TypedDict):
    type: Literal["queue.warning"]
    time: float
    data: QueueWarningData


class QueuePurgedEvent(TypedDict):
    type: Literal["queue.purged"]
    time: float
    data: QueuePurgedData


class DeadLettersFullEvent(TypedDict):
    type: Literal["dlq.full"]
    time: float
    data: DeadLettersFullData


WireEvent = (
    LogEvent
    | SpanStartEvent
    | SpanEndEvent
    | StateChangeEvent
    | StreamChangeEvent
    | StepLoadedEvent
    | StepFailedEvent
    | StepRemovedEvent
    | DeadLetterAddedEvent
    | DeadLetterRemovedEvent
    | ServerStartedEvent
    | EventsDroppedEvent
    | StoreHealthEvent
    | QueueWarningEvent
    | QueuePurgedEvent
    | DeadLettersFullEvent
)
"""One engine event as JSON; `type` tells which payload `data` is (mypy narrows on it)."""


def wire_event(value: object) -> WireEvent | None:
    """An event read off the wire, or None when it is not one of the engine's event types
    (a newer engine may send more): readers skip what they do not know."""
    if not isinstance(value, dict):
        return None
    if value.get("type") not in EVENT_TYPES or not isinstance(value.get("data"), dict):
        return None
    if not isinstance(value.get("time"), int | float):
        return None
    return cast(WireEvent, value)
