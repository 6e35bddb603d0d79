"""What the HTTP face answers by itself, in its one JSON error shape, and the health call.

Apart from `engine.http` so that serving `motia start` loads neither the introspection API
nor Starlette: the health call and a refused socket are answered here for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from engine import jsonio
from engine.overload import Unavailable
from engine.run_lifecycle import GENERIC_ERROR

if TYPE_CHECKING:
    from engine.runtime import Engine

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WriteWhole = Callable[[Send, int, bytes, bytes], bool]
"""A server's way to write a whole answer for a request's `send` (status, header lines, body),
or to say it cannot (False), when the caller sends the ASGI messages instead."""

_JSON = (b"content-type", b"application/json")


def error_body(message: str, details: Any = None, trace_id: str | None = None) -> bytes:
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    if trace_id:
        body["traceId"] = trace_id
    return jsonio.dumps_bytes(body)


async def send_json(
    send: Send, status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


def unavailable_status(exc: Exception) -> int:
    """503 for a run the engine could not give a thread or a queue slot to (the client may
    try again later), 500 for a handler's own failure."""
    return 503 if isinstance(exc, Unavailable) else 500


def health_body(engine: Engine, detailed: bool) -> tuple[int, dict[str, Any]]:
    """The health call's status code and body: status only, or with the store's details."""
    health = engine.store.health
    status = "ok" if health.ok else "failing"
    body: dict[str, Any] = {"status": status, "store": status}
    if detailed:
        body["details"] = {"store": health.to_json()}
    return (200 if health.ok else 503), body


async def serve_health(
    engine: Engine, introspection: Any, scope: Scope, receive: Receive, send: Send
) -> None:
    """Served also where the introspection API is off (`motia start` without a token): a load
    balancer needs the status; the details need the introspection token."""
    if introspection is not None:
        await introspection.health(scope, receive, send)
        return
    status, body = health_body(engine, detailed=False)
    await send_json(send, status, jsonio.dumps_bytes(body))


async def refuse_websocket(scope: Any, send: Any, status: int, message: str) -> None:
    """Refuse the upgrade with the real status (401, 403) where the server can say it; a
    bare close would reach every client as 403."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 4000 + status})
        return
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


async def answer_failure(send: Send, exc: BaseException, detailed: bool) -> None:
    """What escaped the app still gets the JSON shape, where no answer has started: 503 when
    the server stopped the request on shutting down, else 500 (with the cause in `motia
    dev` only). The caller re-raises, so uvicorn logs it and closes the connection."""
    if isinstance(exc, asyncio.CancelledError):
        status, message = 503, "the server shut down before answering; try again"
        extra = [(b"retry-after", b"1")]
    else:
        status, extra = 500, []
        message = f"internal error: {type(exc).__name__}: {exc}" if detailed else GENERIC_ERROR
    with contextlib.suppress(Exception):  # an answer was already started: nothing to add
        await send_json(send, status, error_body(message), extra)
