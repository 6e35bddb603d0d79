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
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from engine import events as ev
from engine import trace_io
from engine.events import Subscription, WireEvent
from engine.overload import QueueFull
from engine.rerun import RerunError, Rerunner
from engine.server import build_server
from engine.settings import Settings
from engine.state import StateError
from engine.stores import StoreFailing
from motia_tui.tape import tape_for

FEED_SIZE = 50_000
"""Events a feed buffers between two ticks before it starts dropping the oldest."""
CONNECTING, CONNECTED, RECONNECTING, DISCONNECTED = (
    "connecting", "connected", "reconnecting", "disconnected",
)
"""The states of an attached workbench's link to its engine (`RemoteSource.link`)."""
DISCONNECTED_AFTER_S = 5.0
"""A link down this long shows as disconnected (it keeps retrying every 2 s)."""


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

    def drain(self) -> list[WireEvent]:
        """Everything buffered since the last drain, oldest first."""
        ...

    def take_dropped(self) -> int:
        """Events lost to overflow since the last call; non-zero means reload from the source."""
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


async def _send(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: str | None
) -> Answer:
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

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    def drain(self) -> list[WireEvent]:
        return [event.to_json() for event in self._subscription.drain()]

    def take_dropped(self) -> int:
        return self._subscription.take_dropped()

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
        return _LocalFeed(self.engine.events.subscribe(maxsize=self.feed_size, cluster=True))

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
        return await self.engine.logs.find(
            trace_id or None, step or None, level or None, q or None, limit=limit,
            since=since, until=until,
        )

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
        return await _send(self._client, method, path, headers, body)

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


# -- an engine reached over the network ---------------------------------------------------


class BufferedFeed:
    """A feed that fills a buffer as events arrive and wakes the one reader waiting on it;
    the remote and the replay feeds differ only in what fills it."""

    def __init__(self) -> None:
        self.buffer: deque[WireEvent] = deque()
        self.dropped = 0
        self.closed = False
        self._wakeup = asyncio.Event()

    def _wake(self) -> None:
        self._wakeup.set()

    def drain(self) -> list[WireEvent]:
        events = list(self.buffer)
        self.buffer.clear()
        return events

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped

    async def wait(self) -> None:
        while not self.buffer and not self.dropped and not self.closed:
            self._wakeup.clear()
            await self._wakeup.wait()


class _RemoteFeed(BufferedFeed):
    """The `events` websocket, reconnecting after a drop; a gap counts as dropped events."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__()
        self.url = url
        self.headers = headers
        self.connected = False
        self.ever_connected = False
        self.down_since: float | None = None
        """Monotonic time the link went down (None while up)."""
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        delay = 0.1
        while not self.closed:
            try:
                async with connect(
                    self.url, additional_headers=self.headers, max_size=None
                ) as socket:
                    self.connected = self.ever_connected = True
                    self.down_since = self.last_error = None
                    delay = 0.1
                    self._offer_gap()
                    async for message in socket:
                        self._receive(message)
                self.last_error = "the engine closed the connection"
            except InvalidStatus as exc:
                self.last_error = f"the engine answered {exc.response.status_code}"
                if exc.response.status_code in (401, 403):
                    self.closed = True
                    self._went_down()
                    self._wake()
                    return
            except (OSError, WebSocketException) as exc:
                self.last_error = str(exc) or type(exc).__name__
            self._went_down()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _went_down(self) -> None:
        self.connected = False
        if self.down_since is None:
            self.down_since = time.monotonic()

    @property
    def link(self) -> str:
        if self.connected:
            return CONNECTED
        if self.closed or (
            self.down_since is not None
            and time.monotonic() - self.down_since >= DISCONNECTED_AFTER_S
        ):
            return DISCONNECTED
        return RECONNECTING if self.ever_connected else CONNECTING

    def _offer_gap(self) -> None:
        """Whatever happened while disconnected is unknown: tell the reader to reload."""
        self.dropped += 1
        self._wake()

    def _receive(self, message: str | bytes) -> None:
        try:
            event = ev.wire_event(json.loads(message))
        except ValueError:
            event = None
        if event is None:
            return
        if event["type"] == ev.EVENTS_DROPPED:
            self.dropped += int(event["data"].get("count", 1))
        else:
            if len(self.buffer) >= FEED_SIZE:
                self.buffer.popleft()
                self.dropped += 1
            self.buffer.append(event)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()
        if self._task is not None:
            self._task.cancel()


class RemoteSource:
    """An engine served elsewhere (`motia dev --no-tui`, `motia start --introspect-token`)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        self.base = urlunsplit((parts.scheme, parts.netloc, "", "", "")).rstrip("/")
        self.label = self.base
        self.token = token
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._api = httpx.AsyncClient(base_url=f"{self.base}/__motia/", headers=auth, timeout=30)
        self._app = httpx.AsyncClient(base_url=self.base, timeout=30)
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        query = f"?token={quote(token, safe='')}" if token else ""
        self._events_url = f"{ws_scheme}://{parts.netloc}/__motia/events{query}"
        self._auth = auth
        self._feeds: list[_RemoteFeed] = []
        self._stopped = False

    async def start(self) -> None:
        """Check that the engine answers, so a wrong address or token fails at once."""
        await self.steps()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for feed in self._feeds:
            feed.close()
        tasks = [f._task for f in self._feeds if f._task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._feeds.clear()
        await self._api.aclose()
        await self._app.aclose()

    def subscribe(self) -> _RemoteFeed:
        feed = _RemoteFeed(self._events_url, dict(self._auth))
        feed.start()
        self._feeds.append(feed)
        return feed

    @property
    def link(self) -> str:
        """How the events websocket stands: connecting, connected, reconnecting (just
        dropped) or disconnected (down for a while, or refused); it retries until stopped."""
        return self._feeds[0].link if self._feeds else CONNECTING

    @property
    def link_error(self) -> str | None:
        return self._feeds[0].last_error if self._feeds else None

    def _check_link(self, what: str) -> None:
        """Refuse at once to send while the link is down, instead of waiting for a timeout
        or acting on an engine the workbench can no longer see."""
        link = self.link
        if link in (RECONNECTING, DISCONNECTED):
            reason = f" ({self.link_error})" if self.link_error else ""
            raise SourceError(
                f"not sent: {what} needs the link to {self.base}, which is {link}{reason}; "
                "it works again once the workbench reconnects",
                503,
            )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        if method != "GET":
            self._check_link(f"{method} /__motia/{path}")
        content = None if body is None else json.dumps(body)
        headers = {"content-type": "application/json"} if content is not None else None
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self._api.request(
                method, path, params=query, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise SourceError(f"{self.base}: {exc or type(exc).__name__}", 502) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            details = None
            try:
                answer = response.json()
                message = answer.get("error", response.text)
                details = answer.get("details")
            except (ValueError, AttributeError):
                message = response.text or response.reason_phrase
            raise SourceError(
                f"{method} /__motia/{path}: {message}", response.status_code, details
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def _object(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """An answer that must be a JSON object: anything else is the wrong server."""
        data = await self._call(method, path, params=params, body=body)
        if not isinstance(data, dict):
            raise SourceError(f"{method} /__motia/{path}: the answer is not a JSON object", 502)
        return data

    async def _items(
        self, path: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        items = (await self._object("GET", path, params=params)).get(key)
        if not isinstance(items, list):
            raise SourceError(f"GET /__motia/{path}: the answer has no {key!r} list", 502)
        return items

    async def _trace_id(self, path: str, body: Any = None) -> str:
        trace_id = (await self._object("POST", path, body=body)).get("traceId")
        if not isinstance(trace_id, str):
            raise SourceError(f"POST /__motia/{path}: the answer has no trace id", 502)
        return trace_id

    async def steps(self) -> dict[str, Any]:
        return await self._object("GET", "steps")

    async def flows(self) -> dict[str, Any]:
        return await self._object("GET", "flows")

    async def stats(self) -> dict[str, Any]:
        return await self._object("GET", "stats")

    async def traces(
        self, limit: int = 200, status: str | None = None, step: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"limit": limit, "status": status, "step": step}
        return await self._items("traces", "traces", params)

    async def trace(self, trace_id: str) -> dict[str, Any] | None:
        path = f"traces/{quote(trace_id, safe='')}"
        data = await self._call("GET", path, missing_ok=True)
        if data is not None and not isinstance(data, dict):
            raise SourceError(f"GET /__motia/{path}: the answer is not a JSON object", 502)
        return data

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
        params = {"traceId": trace_id, "step": step, "level": level, "q": q, "limit": limit,
                  "since": _number(since), "until": _number(until)}
        return await self._items("logs", "logs", params)

    async def count_logs(self, since: float | None = None, until: float | None = None) -> int:
        params = {"since": _number(since), "until": _number(until)}
        count = (await self._object("GET", "logs/count", params=params)).get("count")
        if not isinstance(count, int):
            raise SourceError("GET /__motia/logs/count: the answer has no count", 502)
        return count

    async def state(self) -> dict[str, dict[str, Any]]:
        groups = (await self._object("GET", "state")).get("groups")
        if not isinstance(groups, dict):
            raise SourceError("GET /__motia/state: the answer has no 'groups' object", 502)
        return groups

    async def set_state(self, group: str, key: str, value: Any) -> None:
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise SourceError(f"state values must be JSON: {exc}", 400) from None
        await self._call("PUT", f"state/{_segment(group)}/{_segment(key)}", body=value)

    async def delete_state(self, group: str, key: str | None) -> bool:
        path = f"state/{_segment(group)}" + ("" if key is None else f"/{_segment(key)}")
        try:
            await self._call("DELETE", path)
        except SourceError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def streams(self) -> list[dict[str, Any]]:
        return await self._items("streams", "streams")

    async def stream_group(self, name: str, group: str) -> list[dict[str, Any]]:
        path = f"streams/{_segment(name)}/{_segment(group)}"
        return await self._items(path, "items")

    async def dlq(self) -> list[dict[str, Any]]:
        return await self._items("dlq", "items")

    async def retry_dlq(self, item_id: str) -> str:
        return await self._trace_id(f"dlq/{_segment(item_id)}/retry")

    async def drop_dlq(self, item_id: str) -> None:
        await self._call("DELETE", f"dlq/{_segment(item_id)}")

    async def purge_queue(self, topic: str) -> int:
        answer = await self._object("DELETE", f"queues/{_segment(topic)}")
        return int(answer.get("purged", 0))

    async def emit(self, topic: str, data: Any) -> str:
        return await self._trace_id("emit", {"topic": topic, "data": data})

    async def trigger_cron(self, name: str) -> str:
        return await self._trace_id(f"cron/{_segment(name)}/trigger")

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: str | None
    ) -> Answer:
        self._check_link(f"{method} {path}")
        return await _send(self._app, method, path, headers, body)

    @property
    def project_dir(self) -> Path:
        """The current folder: an attached workbench has no project folder of its own."""
        return Path.cwd()

    async def rerun(
        self, trace_id: str, span_id: str | None, input_: Any, headers: dict[str, str]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"headers": headers}
        if span_id is not None:
            body.update(fromSpan=span_id, input=input_)
        return await self._object("POST", f"traces/{_segment(trace_id)}/rerun", body=body)

    async def cluster(self) -> dict[str, Any] | None:
        """From the health call, which answers 503 (with its details) while the store fails."""
        try:
            response = await self._api.get("health")
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceError(f"GET /__motia/health: {exc or type(exc).__name__}", 502) from None
        store = (answer.get("details") or {}).get("store") if isinstance(answer, dict) else None
        cluster = store.get("cluster") if isinstance(store, dict) else None
        return cluster if isinstance(cluster, dict) else None

    async def export_trace(self, trace_id: str) -> dict[str, Any] | None:
        path = f"traces/{_segment(trace_id)}/export"
        data = await self._call("GET", path, missing_ok=True)
        if data is not None and not isinstance(data, dict):
            raise SourceError(f"GET /__motia/{path}: the answer is not a JSON object", 502)
        return data


def _segment(value: str) -> str:
    return quote(value, safe="")


def _number(value: float | None) -> str | None:
    """A time bound as the API reads it (`repr` keeps every digit of a float)."""
    return None if value is None else repr(value)
