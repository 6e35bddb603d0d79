"""Where the workbench's data comes from: an engine in this process, or one reached over HTTP.

Panes never touch engine internals; they talk to an `EngineSource`. Every method answers the
same JSON shapes as the `/__motia/` introspection API, so a pane cannot tell whether it is
looking at its own engine (`LocalSource`) or attached to a remote one (`RemoteSource`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from engine import trace_io
from engine.events import WireEvent, WireSubscription
from engine.logs import listed
from engine.overload import QueueFull
from engine.rerun import RerunError, Rerunner
from engine.server import build_server
from engine.settings import Settings
from engine.state import StateError
from engine.stores import StoreFailing
from motia_tui.tape import tape_for

FEED_SIZE = 50_000
"""Events a feed buffers between two ticks before it starts dropping the oldest."""

class SourceError(Exception):
    """A call the engine refused or could not answer; `status` mirrors the API's HTTP code."""

    def __init__(self, message: str, status: int = 500, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details
        """The API's `details` (a re-run's 428 names the credentials it `needs`)."""


class EventFeed(Protocol):
    """A bounded window on the engine event stream, read in coalesced batches."""

    def drain(self, limit: int | None = None, starts: bool = True) -> list[WireEvent]:
        """Everything buffered since the last drain, oldest first; with `limit`, the oldest
        `limit` of it. Without `starts` the reader has no use for this drain's `span.start`s:
        a feed that would make them then may leave them out (not counted in `limit`)."""
        ...

    def take_dropped(self) -> int:
        """Events lost to overflow since the last call; non-zero means reload from the source."""
        ...

    def take_rewound(self) -> bool:
        """Whether the source went back in time since the last call (a replay's cursor moved
        back): what a pane holds may lie ahead of it, so it starts again from the source."""
        ...

    async def wait(self) -> None:
        """Return once at least one event is buffered."""
        ...

    def close(self) -> None: ...


class HttpAnswer(Protocol):
    status: int
    headers: dict[str, str]
    body: str
    elapsed_ms: float
    trace_id: str | None


class EngineSource(Protocol):
    """What every pane may ask of an engine. Failures raise `SourceError`."""

    @property
    def label(self) -> str:
        """The server address shown in the header, e.g. `http://127.0.0.1:3000`."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self) -> EventFeed: ...

    async def steps(self) -> dict[str, Any]: ...

    async def flows(self) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]: ...

    async def traces(self, limit: int = 200, status: str | None = None,
                     step: str | None = None) -> list[dict[str, Any]]: ...

    async def trace(self, trace_id: str) -> dict[str, Any] | None: ...

    async def logs(self, trace_id: str | None = None, step: str | None = None,
                   level: str | None = None, q: str | None = None,
                   limit: int = 10_000, since: float | None = None,
                   until: float | None = None) -> list[dict[str, Any]]:
        """Matching records, oldest first, the newest `limit`; `since` and `until` bound
        their time (epoch milliseconds, both included)."""
        ...

    async def count_logs(self, since: float | None = None, until: float | None = None) -> int:
        """How many records the engine's store holds with a time in [since, until]."""
        ...

    async def state(self) -> dict[str, dict[str, Any]]: ...

    async def set_state(self, group: str, key: str, value: Any) -> None: ...

    async def delete_state(self, group: str, key: str | None) -> bool:
        """True when something was deleted."""
        ...

    async def streams(self) -> list[dict[str, Any]]: ...

    async def stream_group(self, name: str, group: str) -> list[dict[str, Any]]: ...

    async def dlq(self) -> list[dict[str, Any]]: ...

    async def retry_dlq(self, item_id: str) -> str: ...

    async def drop_dlq(self, item_id: str) -> None:
        """Drop a dead letter; the engine records the drop as a manual trace."""
        ...

    async def purge_queue(self, topic: str) -> int:
        """Throw away every event still queued for a topic; answers how many went."""
        ...

    async def emit(self, topic: str, data: Any) -> str: ...

    async def trigger_cron(self, name: str) -> str: ...

    async def request(self, method: str, path: str, headers: dict[str, str],
                      body: str | None) -> HttpAnswer:
        """Send a request to the project's HTTP server (the Endpoints pane's send)."""
        ...

    @property
    def project_dir(self) -> Path:
        """Where files made from the engine's traces go (tests, exports)."""
        ...

    async def rerun(self, trace_id: str, span_id: str | None, input_: Any,
                    headers: dict[str, str]) -> dict[str, Any]:
        """Re-run a trace (or, with `span_id`, that span with `input_`): `{"traceId", ...}`."""
        ...

    async def export_trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as an export document (`engine.trace_io`), None when there is none."""
        ...

    async def cluster(self) -> dict[str, Any] | None:
        """The cluster the engine is a worker of, as its health call says it (this worker's
        consumer name, the live workers, the pending counts); None when its store is its
        own."""
        ...


@dataclass(slots=True)
class Answer:
    """A response from the project's HTTP server, as the Endpoints pane shows it."""

    status: int
    headers: dict[str, str]
    body: str
    elapsed_ms: float
    trace_id: str | None


async def send_request(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: str | None
) -> Answer:
    """One request to the engine's HTTP app, in process or over the network, as an `Answer`;
    a request that gets no answer is a `SourceError` (502)."""
    started = time.perf_counter()
    try:
        response = await client.request(
            method, url, headers=headers, content=body.encode() if body is not None else None
        )
    except httpx.HTTPError as exc:
        raise SourceError(f"{method} {url}: {exc or type(exc).__name__}", 502) from None
    return Answer(
        status=response.status_code,
        headers=dict(response.headers),
        body=response.text,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        trace_id=response.headers.get("x-trace-id"),
    )


# -- an engine in this process ------------------------------------------------------------


class _LocalFeed:
    """The engine's own subscription, handing out JSON-shaped events."""

    def __init__(self, subscription: WireSubscription) -> None:
        self._subscription = subscription

    def drain(self, limit: int | None = None, starts: bool = True) -> list[WireEvent]:
        return self._subscription.drain_wire(limit, starts)

    def take_dropped(self) -> int:
        return self._subscription.take_dropped()

    def take_rewound(self) -> bool:
        return False  # a running engine only goes forward

    async def wait(self) -> None:
        await self._subscription.wait()

    def close(self) -> None:
        self._subscription.close()


class LocalSource:
    """Owns an engine and its uvicorn server, both running in the caller's event loop."""

    def __init__(
        self,
        project_dir: Path | str,
        settings: Settings,
        host: str,
        port: int,
        *,
        watch: bool = True,
        feed_size: int = FEED_SIZE,
    ) -> None:
        served = dataclasses.replace(settings, host=host, port=port)
        self.feed_size = feed_size
        """Events the workbench's feed holds between two ticks."""
        self.server = build_server(project_dir, served, "dev", watch=watch)
        self.engine = self.server.engine
        self.tape = tape_for(self.engine)
        self._client: httpx.AsyncClient | None = None
        self._started = False
        self._rerunner = Rerunner(self.engine, self.server.app)

    @property
    def label(self) -> str:
        return self.server.url

    async def start(self) -> None:
        await self.server.start()
        if self.tape is not None:
            self.tape.start()
        self._started = True
        self._client = httpx.AsyncClient(base_url=self.server.url, timeout=30)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self.server.stop()
        if self.tape is not None:
            await self.tape.stop()

    def subscribe(self) -> _LocalFeed:
        return _LocalFeed(self.engine.events.subscribe_wire(self.feed_size, cluster=True))

    async def steps(self) -> dict[str, Any]:
        return self.engine.steps_json()

    async def flows(self) -> dict[str, Any]:
        return self.engine.flows_json()

    async def stats(self) -> dict[str, Any]:
        data = self.engine.stats_json()
        data["cron"] = self.engine.cron.next_fires()
        copy: dict[str, Any] = json.loads(json.dumps(data))
        return copy

    async def traces(
        self, limit: int = 200, status: str | None = None, step: str | None = None
    ) -> list[dict[str, Any]]:
        return await self.engine.traces.recent(limit, status or None, step or None)

    async def trace(self, trace_id: str) -> dict[str, Any] | None:
        if not self._started:
            return self.engine.traces.get(trace_id)
        return await self.engine.traces.find(trace_id)

    async def logs(
        self,
        trace_id: str | None = None,
        step: str | None = None,
        level: str | None = None,
        q: str | None = None,
        limit: int = 10_000,
        since: float | None = None,
        until: float | None = None,
    ) -> list[dict[str, Any]]:
        found = await self.engine.logs.find(
            trace_id or None, step or None, level or None, q or None, limit=limit,
            since=since, until=until,
        )
        return [listed(record) for record in found]  # as the API answers

    async def count_logs(self, since: float | None = None, until: float | None = None) -> int:
        return await self.engine.logs.count(since, until)

    async def state(self) -> dict[str, dict[str, Any]]:
        return self.engine.state.groups()

    async def set_state(self, group: str, key: str, value: Any) -> None:
        try:
            done = self.engine.set_state(group, key, value)
            if done is not None:
                await done
        except StateError as exc:
            raise SourceError(str(exc), 400) from None
        except StoreFailing as exc:
            raise SourceError(str(exc), 503) from None

    async def delete_state(self, group: str, key: str | None) -> bool:
        try:
            return self.engine.delete_state(group, key)
        except StoreFailing as exc:
            raise SourceError(str(exc), 503) from None

    async def streams(self) -> list[dict[str, Any]]:
        engine = self.engine
        return [
            {**definition.to_json(engine.project_dir), "groups": engine.stream_store.groups(name)}
            for name, definition in engine.stream_definitions.items()
        ]

    async def stream_group(self, name: str, group: str) -> list[dict[str, Any]]:
        if name not in self.engine.stream_definitions:
            raise SourceError(f"no stream {name!r}", 404)
        items = self.engine.executor.stream_get_group(None, name, group)
        if asyncio.iscoroutine(items):
            items = await items
        return list(items)

    async def dlq(self) -> list[dict[str, Any]]:
        return list(self.engine.bus.dlq.values())

    async def retry_dlq(self, item_id: str) -> str:
        try:
            return self.engine.retry_dead_letter(item_id)
        except KeyError as exc:
            raise SourceError(f"cannot retry: {exc.args[0]}", 404) from None
        except StoreFailing as exc:
            raise SourceError(str(exc), 503) from None

    async def drop_dlq(self, item_id: str) -> None:
        try:
            done = self.engine.remove_dead_letter(item_id)
        except KeyError:
            raise SourceError("no such dead-letter item", 404) from None
        except StoreFailing as exc:
            raise SourceError(str(exc), 503) from None
        if done is not None:
            await done

    async def purge_queue(self, topic: str) -> int:
        try:
            purged, done = self.engine.purge_queue(topic)
        except StoreFailing as exc:
            raise SourceError(str(exc), 503) from None
        if done is not None:
            await done
        return purged

    async def emit(self, topic: str, data: Any) -> str:
        try:
            return self.engine.emit(topic, data)
        except (StoreFailing, QueueFull) as exc:
            raise SourceError(str(exc), 503) from None

    async def trigger_cron(self, name: str) -> str:
        try:
            return self.engine.trigger_cron(name)
        except KeyError as exc:
            raise SourceError(exc.args[0], 404) from None
        except StoreFailing as exc:
            raise SourceError(str(exc), 503) from None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: str | None
    ) -> Answer:
        if self._client is None:
            raise SourceError("the server is not running", 503)
        return await send_request(self._client, method, path, headers, body)

    @property
    def project_dir(self) -> Path:
        return self.engine.project_dir

    async def rerun(
        self, trace_id: str, span_id: str | None, input_: Any, headers: dict[str, str]
    ) -> dict[str, Any]:
        try:
            if span_id is None:
                return await self._rerunner.rerun(trace_id, headers)
            return await self._rerunner.rerun_from(trace_id, span_id, input_, headers)
        except RerunError as exc:
            raise SourceError(exc.message, exc.status, exc.details) from None
        except StoreFailing as exc:
            raise SourceError(str(exc), 503) from None

    async def export_trace(self, trace_id: str) -> dict[str, Any] | None:
        return await trace_io.export(self.engine, trace_id)

    async def cluster(self) -> dict[str, Any] | None:
        store = self.engine.store
        if store.worker is None:
            return None
        details = store.health.details
        if details is None:  # before the first heartbeat
            return {"consumer": store.worker, "workers": [], "pending": {}}
        return dict(details)


# -- a feed filled from outside the engine (the remote and the replay sources) --------------


class BufferedFeed:
    """A feed that fills a buffer as events arrive and wakes the one reader waiting on it;
    the remote and the replay feeds differ only in what fills it."""

    def __init__(self) -> None:
        self.buffer: deque[WireEvent] = deque()
        self.dropped = 0
        self.rewound = False
        self.closed = False
        self._wakeup = asyncio.Event()

    def _wake(self) -> None:
        self._wakeup.set()

    def drain(self, limit: int | None = None, starts: bool = True) -> list[WireEvent]:
        """`starts` aside: the events came made, and leaving some out would cost a pass."""
        buffer = self.buffer
        if limit is None or limit >= len(buffer):
            events = list(buffer)
            buffer.clear()
            return events
        return [buffer.popleft() for _ in range(limit)]

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped

    def take_rewound(self) -> bool:
        rewound, self.rewound = self.rewound, False
        return rewound

    async def wait(self) -> None:
        while not self.buffer and not self.dropped and not self.closed:
            self._wakeup.clear()
            await self._wakeup.wait()
