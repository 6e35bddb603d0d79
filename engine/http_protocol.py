"""uvicorn's httptools connection with the limits it lacks, and JSON for what it answers itself.

uvicorn bounds neither the size of a request head (httptools buffers a header of any size)
nor the time a client may take to send it (its keep-alive timer is reset by every byte, so a
client trickling one byte at a time holds a connection for ever), and it answers a request it
cannot parse with text. This subclass counts the bytes of each head as they arrive (431
above `max_header_bytes`), gives each head `header_timeout_s` from the connection's accept or
the request's first byte (408, or a plain close when nothing was sent), gives each body
`body_timeout_s` from the end of its head (408 while no answer has started, else a close;
a client trickling a body would otherwise hold the connection and the handler waiting for
it), answers 503 to every request on a connection past `max_connections`, and writes every
such answer in the server's one JSON error shape; so does its websockets connection for a
refused handshake. A head that is complete costs nothing more than uvicorn's own. It also
sends each answer's head with its body in one write (`HeadWithBody`), lets the api router
hand it a whole answer at once (`write_whole`), builds no access line its logger would drop,
and closes a keep-alive connection left idle for uvicorn's `timeout_keep_alive` (5 s) from its
sweep, within a second of it, instead of arming and cancelling a timer for every answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import Response

from engine import jsonio

LINGER_S = 1.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int
    header_timeout_s: float
    max_connections: int
    body_timeout_s: float = 60.0


def error_response(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 answer in the JSON error shape, closing the connection."""
    body = jsonio.dumps_bytes({"error": message})
    head = [STATUS_LINE[status]]
    for name, value in default_headers:
        head.extend([name, b": ", value, b"\r\n"])
    head.extend(
        [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )
    return b"".join(head)


async def _too_many_connections(scope: Any, receive: Any, send: Any) -> None:
    body = jsonio.dumps_bytes(
        {"error": "too many open connections (setting max_connections); try again later"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HeadWithBody:
    """A response's connection as uvicorn's request cycle writes to it: the head is held until
    the body's first write, and both go in one, as Node's server sends them. uvicorn writes
    them apart, and each write is a system call and a TCP segment (the socket has no delay,
    and on loopback the sender's thread also pays the kernel's delivery to the client). Every
    response but a HEAD's writes its body, even an empty one; an interim answer (`100
    Continue`) goes at once, and a close sends a head still held first."""

    __slots__ = ("_held", "_sent", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._sent = False

    def write(self, data: bytes) -> None:
        if self._sent:
            self._transport.write(data)
        elif self._held is not None:
            self._sent = True
            self._transport.write(self._held + data)
            self._held = None
        elif data.startswith(b"HTTP/1.1 1"):
            self._transport.write(data)
        else:
            self._held = data

    def write_whole(self, data: bytes) -> None:
        """A whole answer, head and body, that nothing is held for."""
        self._sent = True
        self._transport.write(data)

    def close(self) -> None:
        if self._held is not None:
            self.write(b"")
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class _DefaultLines:
    """The server's default headers (the date; uvicorn makes a new list of them every second)
    as the lines of a head, made once for each list; None when one of them is not valid."""

    __slots__ = ("_lines", "_made_from")

    def __init__(self) -> None:
        self._made_from: list[tuple[bytes, bytes]] | None = None
        self._lines: bytes | None = None

    def __call__(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        if headers is not self._made_from:
            valid = not any(HEADER_RE.search(n) or HEADER_VALUE_RE.search(v) for n, v in headers)
            self._lines = (
                b"".join(b"%b: %b\r\n" % (n.lower(), v) for n, v in headers) if valid else None
            )
            self._made_from = headers
        return self._lines


_default_lines = _DefaultLines()


def write_whole(send: Any, status: int, lines: bytes, body: bytes) -> bool:
    """Answer a request whose ASGI `send` is this server's, in one write and without the two
    messages: the status line, the server's default headers, `lines` (header lines the caller
    made, each valid by construction, with no `connection` or `transfer-encoding` among them
    and a `content-length` wherever a body may go) and `body`. uvicorn's own `send` checks
    every header of every answer against two regular expressions and builds the head
    from a list. False, with nothing written, where that does not apply (another server, an
    answer already begun, a connection gone or whose writes are paused, an access log to
    write): the caller then sends its messages."""
    cycle = getattr(send, "__self__", None)
    if (
        type(cycle) is not RequestResponseCycle
        or cycle.response_started
        or cycle.disconnected
        or cycle.flow.write_paused
        or cycle.access_log
    ):
        return False
    defaults = _default_lines(cycle.default_headers)
    if defaults is None:
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    keep_alive = cycle.keep_alive
    data = b"%b%b%b%b\r\n%b" % (
        STATUS_LINE[status], defaults, lines, b"" if keep_alive else b"connection: close\r\n", body
    )
    transport = cycle.transport
    if isinstance(transport, HeadWithBody):
        transport.write_whole(data)
    else:
        transport.write(data)
    cycle.response_complete = True
    cycle.message_event.set()
    if not keep_alive:
        transport.close()
    cycle.on_response()
    return True


@mypyc_attr(allow_interpreted_subclasses=True)
class GuardedHttpProtocol(HttpToolsProtocol):
    """One client connection; `limits` is set on the subclass `guarded_protocol` makes.

    A request costs a few attribute writes: the head's clock and the idle connection's are
    timestamps that one sweep per server reads a few times a second (a timer per request
    would cost more than the rest of this class: uvicorn's keep-alive timer, armed after each
    answer and cancelled by the next request, cost 2.1 us a request), and a head is measured
    exactly only when the bytes it came in could exceed the limit. A body's clock costs the
    request nothing: the sweep notes the first time it sees a request still waiting for its
    body, so it starts within one sweep of the head's end."""

    limits: ClassVar[ConnectionLimits]
    _sweeping: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn builds each request's access line (its client address, its quoted path)
        # whenever the access logger has a handler, whatever `access_log` says, and only then
        # asks the logger, which drops it below INFO: 2 us of the loop a request.
        self.access_log = self.config.access_log and self.access_logger.isEnabledFor(
            logging.INFO
        )
        self._head_since: float | None = None
        self._in_head = False
        self._head_bytes = 0
        self._chunk = 0
        self._refused = False
        self._body_cycle: Any = None
        self._body_seen = 0.0
        self._idle_since: float | None = None
        """When the last answer of a keep-alive connection was done, while no request follows."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.app = _too_many_connections
        self._head_since = self.loop.time()
        cls = type(self)
        if not cls._sweeping:
            cls._sweeping = True
            self.loop.call_later(cls._sweep_every(), cls._sweep, self.loop, self.connections)

    @classmethod
    def _sweep_every(cls) -> float:
        return min(1.0, cls.limits.header_timeout_s / 4, cls.limits.body_timeout_s / 4)

    @classmethod
    def _sweep(cls, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        """Time out the heads and bodies that are late and the connections idle too long; run
        while the server has connections."""
        now = loop.time()
        deadline = now - cls.limits.header_timeout_s
        body_deadline = now - cls.limits.body_timeout_s
        for connection in list(connections):
            since = getattr(connection, "_head_since", None)
            if since is not None and since <= deadline:
                connection._head_late()
            idle = getattr(connection, "_idle_since", None)
            if idle is not None and idle <= now - connection.timeout_keep_alive:
                connection._idle_since = None
                connection.timeout_keep_alive_handler()
            cycle = getattr(connection, "cycle", None)
            if cycle is None or not cycle.more_body or cycle.disconnected:
                continue
            if connection._body_cycle is not cycle:
                connection._body_cycle = cycle
                connection._body_seen = now
            elif connection._body_seen <= body_deadline:
                connection._body_late(cycle)
        if connections:
            loop.call_later(cls._sweep_every(), cls._sweep, loop, connections)
        else:
            cls._sweeping = False

    def data_received(self, data: bytes) -> None:
        self._idle_since = None
        if self._refused:
            return
        self._chunk = len(data)
        super().data_received(data)
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_big_head()

    def on_response_complete(self) -> None:
        """uvicorn's, with the idle connection's clock for the sweep in place of its timer."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_since = self.loop.time()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        if self._head_since is None:
            self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_since = None
        limit = self.limits.max_header_bytes
        if self._head_bytes + self._chunk > limit and self._head_size() > limit:
            self._refuse_big_head()
            return
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not before and cycle is not None and self.scope["method"] != "HEAD":
            cycle.transport = HeadWithBody(self.transport)  # type: ignore[assignment]

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) for name, value in self.headers)

    def _refuse_big_head(self) -> None:
        self._refuse(
            431,
            f"request head over the limit of {self.limits.max_header_bytes} bytes "
            "(setting max_header_bytes)",
        )

    def handle_websocket_upgrade(self) -> None:
        if self.app is _too_many_connections:
            self._refuse(503, "too many open connections (setting max_connections)")
            return
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def _head_late(self) -> None:
        self._head_since = None
        if self.transport.is_closing():
            return
        if not self._in_head:
            self.transport.close()
            return
        self._refuse(
            408,
            f"request head not received within {self.limits.header_timeout_s:g}s "
            "(setting header_timeout_s)",
        )

    def _body_late(self, cycle: Any) -> None:
        """408 while nothing was answered (the handler waiting for the body is told the client
        went away, so it ends at once); a close when an answer has started."""
        self._body_cycle = None
        if self.transport.is_closing():
            return
        if cycle.response_started:
            cycle.transport.close()  # a head held for its body (`HeadWithBody`) goes first
            return
        self._refuse(
            408,
            f"request body not received within {self.limits.body_timeout_s:g}s "
            "(setting body_timeout_s)",
        )
        cycle.disconnected = True
        cycle.message_event.set()

    def _refuse(self, status: int, message: str) -> None:
        """Answer, then read and drop what the client still sends for a moment before closing:
        closing with unread bytes makes the kernel reset the connection, and the client
        would lose the answer."""
        self._head_since = None
        self._in_head = False
        if self.transport.is_closing() or self._refused:
            return
        self._refused = True
        self.transport.write(error_response(status, message, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


class JsonWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets connection, whose refused handshakes (a malformed upgrade, a
    failure before the app accepted) answer in the JSON error shape instead of text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_reject = self.conn.reject

        def reject(status: Any, text: str) -> Response:
            plain = plain_reject(status, text)
            body = jsonio.dumps_bytes({"error": text or plain.reason_phrase})
            headers = Headers(
                [
                    ("Date", plain.headers["Date"]),
                    ("Connection", "close"),
                    ("Content-Length", str(len(body))),
                    ("Content-Type", "application/json"),
                ]
            )
            return Response(plain.status_code, plain.reason_phrase, headers, body)

        self.conn.reject = reject  # type: ignore[method-assign]


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """The protocol class for one server, carrying that server's limits."""
    return type("EngineHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})
