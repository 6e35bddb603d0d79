"""An engine reached over HTTP: the `/__motia/` introspection API and its events socket,
answering what `LocalSource` answers in process, with a link that reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from engine import events as ev
from motia_tui.source import FEED_SIZE, Answer, BufferedFeed, SourceError, send_request

CONNECTING, CONNECTED, RECONNECTING, DISCONNECTED = (
    "connecting", "connected", "reconnecting", "disconnected",
)
"""The states of an attached workbench's link to its engine (`RemoteSource.link`)."""
DISCONNECTED_AFTER_S = 5.0
"""A link down this long shows as disconnected (it keeps retrying every 2 s)."""



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
        self._lose_held(1)
        self._wake()

    def _lose_held(self, count: int) -> None:
        """A loss: the events still held came before it, and go with it, so that what the
        reader drains after a loss all came after it (the Logs pane's gap line ends at the
        first record drained)."""
        self.dropped += count + len(self.buffer)
        self.buffer.clear()

    def _receive(self, message: str | bytes) -> None:
        try:
            event = ev.wire_event(json.loads(message))
        except ValueError:
            event = None
        if event is None:
            return
        if event["type"] == ev.EVENTS_DROPPED:
            self._lose_held(int(event["data"].get("count", 1)))
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
        return await send_request(self._app, method, path, headers, body)

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
