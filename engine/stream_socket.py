"""The stream socket: Motia's real-time stream protocol on `/`, for Motia's published clients.

A client joins groups and items; it gets a sync of what is there, then every change as it
happens. One listener on the stream store routes each change through an index keyed by
(stream, group, id-or-None) to the connections that joined the group or the item, once per
connection: Motia's clients fan a message out to item and group subscriptions themselves, so
a second copy would only double custom events. The listener never waits. Each connection owns
a bounded queue drained by its own writer task; a connection whose queue fills (a reader too
slow or gone) is dropped and closed with 1013, so a step writing to a stream never waits on a
socket. The client reconnects, joins again and gets a fresh sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from engine.http import Receive, Scope, Send, parse_query
from engine.origins import OriginPolicy
from engine.run_lifecycle import GENERIC_ERROR
from engine.stream_auth import StreamAuth
from engine.streams import EVENT

if TYPE_CHECKING:
    from engine.runtime import Engine

Key = tuple[str, str, str | None]

QUEUE_FRAMES = 10_000
QUEUE_CHARS = 16 * 1024 * 1024
MAX_SUBSCRIPTIONS = 10_000
CLOSE_TIMEOUT_S = 1.0
TRY_AGAIN_LATER = 1013
GOING_AWAY = 1001


class Connection:
    """One client socket: its auth context, its subscriptions and its send queue."""

    __slots__ = (
        "chars",
        "close_code",
        "close_reason",
        "context",
        "finished",
        "frames",
        "keys",
        "ready",
        "send",
        "subscriptions",
        "writer",
    )

    def __init__(self, send: Send, context: Any) -> None:
        self.send = send
        self.context = context
        self.frames: deque[str] = deque()
        self.chars = 0
        self.ready = asyncio.Event()
        self.subscriptions: dict[str, Key] = {}
        self.keys: Counter[Key] = Counter()
        self.close_code: int | None = None
        self.close_reason = ""
        self.writer: asyncio.Future[None] | None = None
        self.finished = asyncio.Event()

    @property
    def open(self) -> bool:
        return self.close_code is None


class StreamSocket:
    """The ASGI app for WebSocket connections on `/`."""

    def __init__(self, engine: Engine, origins: OriginPolicy) -> None:
        self.engine = engine
        self.auth = StreamAuth(engine)
        self.origins = origins
        self.queue_frames = QUEUE_FRAMES
        self.queue_chars = QUEUE_CHARS
        self.connections: set[Connection] = set()
        self.dropped = 0
        self._index: dict[Key, set[Connection]] = {}
        self._group_stamps: dict[tuple[str, str], int] = {}
        engine.stream_store.listeners.append(self._on_change)

    def subscribers(self, stream: str, group: str, item_id: str | None = None) -> int:
        """How many connections follow a group (or one item): for views and tests."""
        return len(self._index.get((stream, group, item_id), ()))

    # -- connection life cycle ------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = _headers(scope)
        if not self.origins.allows(headers.get("origin"), scope):
            await _refuse(
                scope,
                send,
                403,
                "this origin may not open the stream socket (setting allowed_origins)",
            )
            await _linger(receive)
            return
        query = parse_query(scope.get("query_string", b""))
        admission = await self.auth.authenticate(headers, query)
        if admission.status is not None:
            reason = admission.message
            if admission.status >= 500 and self.engine.mode == "start":
                reason = GENERIC_ERROR
            await _refuse(scope, send, admission.status, reason)
            await _linger(receive)
            return
        offered = scope.get("subprotocols") or []
        try:
            await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
        except OSError:
            return
        conn = Connection(send, admission.context)
        self.connections.add(conn)
        conn.writer = asyncio.ensure_future(self._write(conn))
        reader = asyncio.ensure_future(self._read(conn, receive))
        try:
            await asyncio.wait({conn.writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._forget(conn)
            reader.cancel()
            conn.writer.cancel()
            await asyncio.gather(reader, conn.writer, return_exceptions=True)
            if conn.close_code is not None:
                await _close(send, conn.close_code, conn.close_reason)
            self.connections.discard(conn)
            conn.finished.set()

    async def close_all(self) -> None:
        """Tell every client the server is going away, without waiting on any that hangs."""
        closing = list(self.connections)
        for conn in closing:
            self._drop(conn, GOING_AWAY, "server shutting down")
        if closing:
            waits = [asyncio.ensure_future(conn.finished.wait()) for conn in closing]
            _, pending = await asyncio.wait(waits, timeout=CLOSE_TIMEOUT_S * 2)
            for waiter in pending:
                waiter.cancel()

    def _drop(self, conn: Connection, code: int, reason: str) -> None:
        """Stop sending to a connection at once; its handler closes it."""
        if not conn.open:
            return
        conn.close_code, conn.close_reason = code, reason
        self._forget(conn)
        conn.frames.clear()
        conn.chars = 0
        if conn.writer is not None:
            conn.writer.cancel()

    def _forget(self, conn: Connection) -> None:
        for key in conn.keys:
            subscribers = self._index.get(key)
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self._index[key]
        conn.keys.clear()
        conn.subscriptions.clear()

    # -- sending --------------------------------------------------------------------------

    def _push(self, conn: Connection, frame: str) -> bool:
        """Queue a frame; False when the connection has fallen too far behind."""
        if len(conn.frames) >= self.queue_frames or conn.chars + len(frame) > self.queue_chars:
            return False
        conn.frames.append(frame)
        conn.chars += len(frame)
        conn.ready.set()
        return True

    def _send_or_drop(self, conn: Connection, frame: str) -> None:
        if conn.open and not self._push(conn, frame):
            self._overflow(conn)

    def _overflow(self, conn: Connection) -> None:
        behind = len(conn.frames)
        self._drop(conn, TRY_AGAIN_LATER, "client too slow: send queue full")
        self.dropped += 1
        self.engine.executor.system_log.warn(
            f"stream client dropped: {behind} messages waiting (a reader too slow or gone)"
        )

    @staticmethod
    async def _write(conn: Connection) -> None:
        frames = conn.frames
        while True:
            while not frames:
                conn.ready.clear()
                await conn.ready.wait()
            frame = frames.popleft()
            conn.chars -= len(frame)
            try:
                await conn.send({"type": "websocket.send", "text": frame})
            except (OSError, RuntimeError):
                return

    # -- receiving ------------------------------------------------------------------------

    async def _read(self, conn: Connection, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", errors="replace")
            try:
                request = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(request, dict):
                continue
            kind, data = request.get("type"), request.get("data")
            if kind == "join":
                await self._join(conn, data)
            elif kind == "leave":
                self._leave(conn, data)

    async def _join(self, conn: Connection, data: Any) -> None:
        parsed = _subscription(data)
        if parsed is None:
            return
        name, group, item_id, sub_id = parsed
        public = {"streamName": name, "groupId": group}
        if item_id is not None:
            public["id"] = item_id
        definition = self.engine.stream_definitions.get(name)
        if definition is None:
            self._refuse_join(conn, parsed, f"no stream named {name!r}", known=False)
            return
        if sub_id not in conn.subscriptions and len(conn.subscriptions) >= MAX_SUBSCRIPTIONS:
            self._refuse_join(conn, parsed, f"over {MAX_SUBSCRIPTIONS} subscriptions")
            return
        reason = await self.auth.can_access(definition, public, conn.context)
        if reason is not None:
            self._refuse_join(conn, parsed, reason)
            return
        executor = self.engine.executor
        try:
            if item_id is None:
                value = executor.stream_get_group(None, name, group)
            else:
                value = executor.stream_get(None, name, group, item_id)
            if asyncio.iscoroutine(value):
                value = await value
        except Exception as exc:
            self._refuse_join(conn, parsed, f"could not read the stream: {exc}")
            return
        if not conn.open:
            return
        if sub_id in conn.subscriptions:
            self._unsubscribe(conn, sub_id)
        message: dict[str, Any] = {"streamName": name, "groupId": group}
        if item_id is None:
            message["timestamp"] = self._group_stamp(name, group)
            message["event"] = {"type": "sync", "data": list(value or [])}
        else:
            message["id"] = item_id
            message["timestamp"] = self.engine.stream_store.stamp(name, group, item_id)
            message["event"] = {"type": "sync", "data": value}
        self._send_or_drop(conn, _encode(message))
        if conn.open:
            self._subscribe(conn, sub_id, (name, group, item_id))

    def _group_stamp(self, name: str, group: str) -> int:
        """A group sync's timestamp: never older than a change the client already applied."""
        stamp = self.engine.stream_store.stamp(name, group, None)
        return max(stamp, self._group_stamps.get((name, group), 0))

    def _refuse_join(
        self,
        conn: Connection,
        parsed: tuple[str, str, str | None, str],
        reason: str,
        *,
        known: bool = True,
    ) -> None:
        name, group, item_id, sub_id = parsed
        message: dict[str, Any] = {"streamName": name, "groupId": group}
        if item_id is not None:
            message["id"] = item_id
        message["timestamp"] = (
            self.engine.stream_store.stamp(name, group, item_id)
            if known
            else int(time.time() * 1000)
        )
        message["event"] = {
            "type": "error",
            "data": {"subscriptionId": sub_id, "message": reason},
        }
        self._send_or_drop(conn, _encode(message))

    def _leave(self, conn: Connection, data: Any) -> None:
        parsed = _subscription(data)
        if parsed is not None and parsed[3] in conn.subscriptions:
            self._unsubscribe(conn, parsed[3])

    def _subscribe(self, conn: Connection, sub_id: str, key: Key) -> None:
        conn.subscriptions[sub_id] = key
        conn.keys[key] += 1
        if conn.keys[key] == 1:
            self._index.setdefault(key, set()).add(conn)

    def _unsubscribe(self, conn: Connection, sub_id: str) -> None:
        key = conn.subscriptions.pop(sub_id)
        conn.keys[key] -= 1
        if conn.keys[key] > 0:
            return
        del conn.keys[key]
        subscribers = self._index.get(key)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self._index[key]

    # -- routing changes ------------------------------------------------------------------

    def _on_change(self, change: dict[str, Any]) -> None:
        """Route one stream change; runs inside the step's call, so it only queues."""
        name = change["stream"]
        group = str(change["groupId"])
        raw_id = change.get("id")
        item_id = None if raw_id is None or raw_id == "" else str(raw_id)
        stamp = change["timestamp"]
        if stamp > self._group_stamps.get((name, group), 0):
            self._group_stamps[(name, group)] = stamp
        group_subs = self._index.get((name, group, None))
        item_subs = self._index.get((name, group, item_id)) if item_id is not None else None
        if not group_subs and not item_subs:
            return
        frame = _change_frame(name, group, item_id, change)
        if frame is None:
            return
        late: list[Connection] = []
        if group_subs:
            for conn in group_subs:
                if not self._push(conn, frame):
                    late.append(conn)
        if item_subs:
            for conn in item_subs:
                if group_subs and conn in group_subs:
                    continue
                if not self._push(conn, frame):
                    late.append(conn)
        for conn in late:
            self._overflow(conn)


def _change_frame(name: str, group: str, item_id: str | None, change: dict[str, Any]) -> str | None:
    message: dict[str, Any] = {"streamName": name, "groupId": group}
    if item_id is not None:
        message["id"] = item_id
    message["timestamp"] = change["timestamp"]
    kind = change["type"]
    data = change["data"]
    if kind == EVENT:
        message["event"] = {"type": "event", "event": data}
    else:
        if data is None:
            data = {"id": item_id}
        message["event"] = {"type": kind, "data": data}
    try:
        return _encode(message)
    except (TypeError, ValueError):
        return None


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def _subscription(data: Any) -> tuple[str, str, str | None, str] | None:
    """(stream, group, id or None, subscription id) from a join or leave, or None if unusable."""
    if not isinstance(data, dict):
        return None
    name, group, item_id = data.get("streamName"), data.get("groupId"), data.get("id")
    if not isinstance(name, str) or not name or group is None or isinstance(group, dict | list):
        return None
    group = str(group)
    if item_id is None or item_id == "" or isinstance(item_id, dict | list | bool):
        item_id = None
    else:
        item_id = str(item_id)
    sub_id = data.get("subscriptionId")
    if not isinstance(sub_id, str) or not sub_id:
        sub_id = f"{name}\x00{group}\x00{item_id or ''}"
    return name, group, item_id, sub_id


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """Answer the upgrade request with an HTTP error, where the server supports it."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


async def _linger(receive: Receive) -> None:
    """Return once the refused socket is gone, not before.

    Uvicorn reports the refusal's own disconnect at once, and logs an unfinished handshake as
    an error if the app returns before the connection is really lost (its second disconnect).
    """
    disconnects = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            while disconnects < 2:
                if (await receive())["type"] == "websocket.disconnect":
                    disconnects += 1


async def _close(send: Send, code: int, reason: str) -> None:
    """Close with a code, or abort a connection whose reader has stopped reading for good.

    A close frame queues behind everything the client has not read; when the transport stays
    full past the timeout, only aborting frees it. ASGI has no abort, so this reaches for the
    transport of the server protocol behind `send` (uvicorn's), where there is one.
    """
    try:
        await asyncio.wait_for(
            send({"type": "websocket.close", "code": code, "reason": reason}), CLOSE_TIMEOUT_S
        )
    except TimeoutError:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        abort = getattr(transport, "abort", None)
        if callable(abort):
            abort()
    except (OSError, RuntimeError):
        return
