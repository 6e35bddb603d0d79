"""The `/__motia/` API: JSON views and controls of a running engine, and its events socket.

Remote clients (`motia tui --attach`, `motia emit`, scripts) see exactly what the workbench
sees. It is never readable from a web page: no CORS headers, a foreign `Origin` or `Host`
gets 403 (DNS rebinding), and a token, when set, is required on every call.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from engine import events as ev
from engine import jsonio, trace_io
from engine.http_answers import health_body, refuse_websocket
from engine.logs import LEVELS
from engine.openapi import openapi_document
from engine.origins import LOOPBACK_NAMES, WILDCARD_HOSTS, is_own_origin, parse_origin
from engine.overload import QueueFull
from engine.rerun import RerunError, Rerunner
from engine.run_lifecycle import GENERIC_ERROR
from engine.state import StateError
from engine.stores import StoreFailing

if TYPE_CHECKING:
    from engine.http import ASGIApp
    from engine.runtime import Engine

PREFIX = "/__motia"
EVENTS_SOCKET = f"{PREFIX}/events"
"""The one socket under the prefix; an upgrade to any other path there is 404, as elsewhere."""
_LOOPBACK_HOSTS = LOOPBACK_NAMES | {"[::1]"}


class BodyRefused(Exception):
    """A `/__motia/` request body the API will not read or cannot parse."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _time_window(params: Mapping[str, str]) -> tuple[float | None, float | None]:
    """`since` and `until` (epoch milliseconds, both included) of a log query."""
    bounds: list[float | None] = []
    for name in ("since", "until"):
        text = params.get(name) or None
        try:
            value = None if text is None else float(text)
        except ValueError:
            raise ValueError(f"{name} must be a time in epoch milliseconds") from None
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be a time in epoch milliseconds")
        bounds.append(value)
    return bounds[0], bounds[1]


def _error(status: int, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


TRACE_STATUSES = ("ok", "error", "running")
_TRACE_PARAMS = ("limit", "status", "step")
_LOG_PARAMS = ("traceId", "step", "level", "q", "limit", "since", "until")


class QueryRefused(Exception):
    """A query parameter of a list call that is unknown or out of range: a typo or a bad
    value answered with everything would look like a real, empty or full, answer."""


def _query(request: Request, known: tuple[str, ...]) -> dict[str, str]:
    """The call's parameters, an empty one as absent; an unknown name is refused."""
    params = request.query_params
    for name in params:
        if name not in known:
            raise QueryRefused(f"unknown query parameter {name!r}; known: {', '.join(known)}")
    return {name: value for name, value in params.items() if value}


def _limit(params: dict[str, str], default: int, most: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        raise QueryRefused(f"limit must be a whole number from 1 to {most}; got {raw!r}")
    return limit


def _unavailable(exc: StoreFailing) -> JSONResponse:
    response = _error(503, str(exc))
    response.headers["retry-after"] = str(max(1, round(exc.retry_after_s)))
    return response


class IntrospectionApi:
    """An ASGI app mounted at `/__motia`."""

    def __init__(self, engine: Engine, token: str | None, host: str) -> None:
        self.engine = engine
        self.token = token
        self._token_bytes = token.encode() if token is not None else b""
        self._host = host
        self._max_body = engine.settings.introspect_body_bytes
        self._detailed_errors = engine.mode == "dev"
        self.rerunner: Rerunner | None = None
        routes = [
            Route("/steps", self.steps),
            Route("/flows", self.flows),
            Route("/openapi.json", self.openapi),
            Route("/stats", self.stats),
            Route("/traces", self.traces),
            Route("/traces/import", self.trace_import, methods=["POST"]),
            Route("/traces/{trace_id}", self.trace),
            Route("/traces/{trace_id}/export", self.trace_export),
            Route("/traces/{trace_id}/rerun", self.trace_rerun, methods=["POST"]),
            Route("/logs", self.logs),
            Route("/logs/count", self.logs_count),
            Route("/state", self.state),
            Route("/state/{group}", self.state_group, methods=["GET", "DELETE"]),
            Route("/state/{group}/{key}", self.state_item, methods=["GET", "PUT", "DELETE"]),
            Route("/streams", self.streams),
            Route("/streams/{name}/{group}", self.stream_group),
            Route("/dlq", self.dlq),
            Route("/dlq/{item_id}/retry", self.dlq_retry, methods=["POST"]),
            Route("/dlq/{item_id}", self.dlq_delete, methods=["DELETE"]),
            Route("/queues/{topic:path}", self.queue_purge, methods=["DELETE"]),
            Route("/emit", self.emit, methods=["POST"]),
            Route("/cron/{name}/trigger", self.cron_trigger, methods=["POST"]),
            WebSocketRoute(EVENTS_SOCKET[len(PREFIX) :], self.events),
        ]
        self._app = Starlette(
            routes=routes,
            exception_handlers={HTTPException: self._http_error, Exception: self._crash},
        )

    @staticmethod
    async def _http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own 404 and 405, in the JSON error shape."""
        assert isinstance(exc, HTTPException)
        response = _error(
            exc.status_code, f"{exc.detail}: {request.method} {PREFIX}{request.url.path}"
        )
        response.headers.update(exc.headers or {})
        return response

    async def _crash(self, request: Request, exc: Exception) -> Response:
        """A failure of the API itself: 500 JSON (with the cause in `motia dev` only; the
        server log has it either way)."""
        if self._detailed_errors:
            return _error(500, f"{PREFIX}{request.url.path} failed: {type(exc).__name__}: {exc}")
        return _error(500, GENERIC_ERROR)

    async def _json_body(self, request: Request) -> Any:
        """The body as JSON, refused past `introspect_body_bytes` before it is all read."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            raise BodyRefused(413, self._too_big())
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max_body:
                raise BodyRefused(413, self._too_big())
            chunks.append(chunk)
        try:
            value = json.loads(b"".join(chunks))
            field = jsonio.wide_integer_field(value)
        except ValueError as exc:
            raise BodyRefused(400, f"malformed JSON body: {exc}") from None
        except RecursionError:
            raise BodyRefused(400, "malformed JSON body: nested too deeply") from None
        if field is not None:
            raise BodyRefused(400, f"request body: {jsonio.WideInteger(field)}")
        return value

    def _too_big(self) -> str:
        return (
            f"request body over the limit of {self._max_body} bytes (setting introspect_body_bytes)"
        )

    def serve_reruns(self, app: ASGIApp) -> None:
        """Re-run api traces through `app`, the ASGI app this API is mounted in."""
        self.rerunner = Rerunner(self.engine, app)

    async def health(self, scope: Any, receive: Any, send: Any) -> None:
        """`GET /__motia/health`: status for anyone (load balancers), details with the token."""
        status, body = health_body(self.engine, self._refusal(scope) is None)
        await JSONResponse(body, status_code=status)(scope, receive, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        refusal = self._refusal(scope)
        if refusal is not None:
            status, message = refusal
            if scope["type"] == "websocket":
                await refuse_websocket(scope, send, status, message)
                return
            await _error(status, message)(scope, receive, send)
            return
        if scope["type"] == "websocket" and scope["path"] != EVENTS_SOCKET:
            await refuse_websocket(scope, send, 404, f"no socket at {scope['path']}")
            return
        scope = dict(scope)
        scope["path"] = scope["path"][len(PREFIX) :] or "/"
        scope["root_path"] = scope.get("root_path", "") + PREFIX
        await self._app(scope, receive, send)

    # -- security --------------------------------------------------------------------

    def _allowed_hosts(self, port: int | None) -> set[str] | None:
        if self._host in WILDCARD_HOSTS:
            return None
        names = _LOOPBACK_HOSTS if self._host in _LOOPBACK_HOSTS else {self._host}
        hosts = set(names)
        if port is not None:
            hosts |= {f"{name}:{port}" for name in names}
        return hosts

    def _refusal(self, scope: Any) -> tuple[int, str] | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        server = scope.get("server")
        allowed = self._allowed_hosts(server[1] if server else None)
        host = headers.get("host")
        if allowed is not None and host is not None and host not in allowed:
            return 403, f"host {host!r} is not this server (DNS rebinding protection)"
        origin = headers.get("origin")
        if origin is not None:
            parsed = parse_origin(origin)
            if parsed is None or not is_own_origin(parsed, scope, self._host):
                return 403, "cross-origin requests to /__motia are refused"
        if self.token is not None:
            supplied = None
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                supplied = auth[7:].strip().encode("latin-1")
            elif scope["type"] == "websocket":
                query = scope.get("query_string", b"")
                match = re.search(rb"(?:^|&)token=([^&]*)", query)
                supplied = unquote_to_bytes(match.group(1)) if match else None
            if supplied is None or not hmac.compare_digest(supplied, self._token_bytes):
                return 401, "missing or wrong introspection token"
        return None

    # -- views ----------------------------------------------------------------------

    async def steps(self, request: Request) -> Response:
        return JSONResponse(self.engine.steps_json())

    async def flows(self, request: Request) -> Response:
        return JSONResponse(self.engine.flows_json())

    async def openapi(self, request: Request) -> Response:
        """The api steps loaded right now as an OpenAPI 3.1 document, served from this host."""
        document = openapi_document(
            self.engine.steps.values(),
            title=self.engine.project_dir.name,
            server_url=f"{request.url.scheme}://{request.url.netloc}",
        )
        return JSONResponse(document)

    async def stats(self, request: Request) -> Response:
        data = self.engine.stats_json()
        data["cron"] = self.engine.cron.next_fires()
        return JSONResponse(data)

    async def traces(self, request: Request) -> Response:
        try:
            params = _query(request, _TRACE_PARAMS)
            limit = _limit(params, 100, 10_000)
        except QueryRefused as exc:
            return _error(400, str(exc))
        status = params.get("status")
        if status is not None and status not in TRACE_STATUSES:
            return _error(
                400, f"status must be one of {', '.join(TRACE_STATUSES)}; got {status!r}"
            )
        return JSONResponse(
            {"traces": await self.engine.traces.recent(limit, status, params.get("step"))}
        )

    async def trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        trace = await self.engine.traces.find(trace_id)
        if trace is None:
            return _error(404, f"no trace {trace_id}")
        return JSONResponse(trace)

    async def trace_export(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        document = await trace_io.export(self.engine, trace_id)
        if document is None:
            return _error(404, f"no trace {trace_id}")
        return JSONResponse(document)

    async def trace_import(self, request: Request) -> Response:
        try:
            document = await self._json_body(request)
        except BodyRefused as exc:
            return _error(exc.status, str(exc))
        try:
            trace_id = await trace_io.import_into(self.engine, document)
        except trace_io.TraceFileError as exc:
            return _error(exc.status, exc.message)
        return JSONResponse({"traceId": trace_id, "imported": True}, status_code=201)

    async def trace_rerun(self, request: Request) -> Response:
        """`{"headers"?: {...}}` re-runs the trace; with `"fromSpan"` and `"input"`, that
        span's step alone with that input."""
        if self.rerunner is None:
            return _error(503, "this server does not re-run traces")
        try:
            body = (
                {}
                if request.headers.get("content-length") == "0"
                else await self._json_body(request)
            )
        except BodyRefused as exc:
            return _error(exc.status, str(exc))
        headers = body.get("headers") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(headers or {}, dict) or not all(
            isinstance(v, str) for v in (headers or {}).values()
        ):
            return _error(
                400, 'rerun takes {"headers"?: {name: string}, "fromSpan"?: id, "input"?: any}'
            )
        trace_id = request.path_params["trace_id"]
        try:
            if body.get("fromSpan"):
                if "input" not in body:
                    return _error(400, "a re-run from a span needs its \"input\"")
                answer = await self.rerunner.rerun_from(
                    trace_id, str(body["fromSpan"]), body["input"], headers
                )
            else:
                answer = await self.rerunner.rerun(trace_id, headers)
        except RerunError as exc:
            return _error(exc.status, exc.message, exc.details)
        except StoreFailing as exc:
            return _unavailable(exc)
        return JSONResponse(answer)

    async def logs(self, request: Request) -> Response:
        try:
            params = _query(request, _LOG_PARAMS)
            limit = _limit(params, 500, 100_000)
        except QueryRefused as exc:
            return _error(400, str(exc))
        level = params.get("level")
        if level is not None and level not in LEVELS:
            return _error(400, f"level must be one of {', '.join(LEVELS)}; got {level!r}")
        try:
            since, until = _time_window(params)
        except ValueError as exc:
            return _error(400, str(exc))
        filters = (params.get("traceId"), params.get("step"), level, params.get("q"))
        records = await self.engine.logs.find(*filters, limit=limit, since=since, until=until)
        return JSONResponse({"logs": records})

    async def logs_count(self, request: Request) -> Response:
        """How many records the store holds in a time window (the Logs pane's gap line)."""
        try:
            since, until = _time_window(_query(request, ("since", "until")))
        except (QueryRefused, ValueError) as exc:
            return _error(400, str(exc))
        return JSONResponse({"count": await self.engine.logs.count(since, until)})

    async def state(self, request: Request) -> Response:
        return JSONResponse({"groups": self.engine.state.groups()})

    async def state_group(self, request: Request) -> Response:
        group = request.path_params["group"]
        if request.method == "DELETE":
            try:
                if not self.engine.delete_state(group, None):
                    return _error(404, f"no state group {group!r}")
            except StoreFailing as exc:
                return _unavailable(exc)
            return Response(status_code=204)
        items = self.engine.state.groups().get(group)
        if items is None:
            return _error(404, f"no state group {group!r}")
        return JSONResponse(items)

    async def state_item(self, request: Request) -> Response:
        group, key = request.path_params["group"], request.path_params["key"]
        if request.method == "PUT":
            try:
                value = await self._json_body(request)
            except BodyRefused as exc:
                return _error(exc.status, str(exc))
            try:
                done = self.engine.set_state(group, key, value)
                if done is not None:
                    await done
            except StateError as exc:
                return _error(400, str(exc))
            except StoreFailing as exc:
                return _unavailable(exc)
            return JSONResponse(value)
        if request.method == "DELETE":
            try:
                if not self.engine.delete_state(group, key):
                    return _error(404, f"no state {group}/{key}")
            except StoreFailing as exc:
                return _unavailable(exc)
            return Response(status_code=204)
        value = self.engine.state.get(group, key)
        if value is None:
            return _error(404, f"no state {group}/{key}")
        return JSONResponse(value)

    async def streams(self, request: Request) -> Response:
        store = self.engine.stream_store
        return JSONResponse(
            {
                "streams": [
                    {**definition.to_json(self.engine.project_dir), "groups": store.groups(name)}
                    for name, definition in self.engine.stream_definitions.items()
                ]
            }
        )

    async def stream_group(self, request: Request) -> Response:
        name, group = request.path_params["name"], request.path_params["group"]
        if name not in self.engine.stream_definitions:
            return _error(404, f"no stream {name!r}")
        items = self.engine.executor.stream_get_group(None, name, group)
        if asyncio.iscoroutine(items):
            items = await items
        return JSONResponse({"items": items})

    async def dlq(self, request: Request) -> Response:
        return JSONResponse({"items": list(self.engine.bus.dlq.values())})

    async def dlq_retry(self, request: Request) -> Response:
        try:
            trace_id = self.engine.retry_dead_letter(request.path_params["item_id"])
        except KeyError as exc:
            return _error(404, f"cannot retry: {exc.args[0]}")
        except StoreFailing as exc:
            return _unavailable(exc)
        return JSONResponse({"traceId": trace_id}, status_code=202)

    async def dlq_delete(self, request: Request) -> Response:
        try:
            done = self.engine.remove_dead_letter(request.path_params["item_id"])
            if done is not None:
                await done
        except KeyError:
            return _error(404, "no such dead-letter item")
        except StoreFailing as exc:
            return _unavailable(exc)
        return Response(status_code=204)

    async def queue_purge(self, request: Request) -> Response:
        """`DELETE /__motia/queues/{topic}`: throw away every delivery still queued for the
        topic (a runaway's backlog); answers how many went."""
        topic = request.path_params["topic"]
        try:
            purged, done = self.engine.purge_queue(topic)
            if done is not None:
                await done
        except StoreFailing as exc:
            return _unavailable(exc)
        return JSONResponse({"topic": topic, "purged": purged})

    async def emit(self, request: Request) -> Response:
        try:
            body = await self._json_body(request)
        except BodyRefused as exc:
            return _error(exc.status, str(exc))
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("topic"), str)
            or not body["topic"]
        ):
            return _error(400, 'emit takes {"topic": string, "data": any}')
        try:
            trace_id = await self.engine.emit_committed(body["topic"], body.get("data"))
        except TypeError as exc:
            return _error(400, str(exc))
        except QueueFull as exc:
            return _error(503, str(exc))
        except StoreFailing as exc:
            return _unavailable(exc)
        return JSONResponse({"traceId": trace_id}, status_code=202)

    async def cron_trigger(self, request: Request) -> Response:
        try:
            trace_id = self.engine.trigger_cron(request.path_params["name"])
        except KeyError as exc:
            return _error(404, exc.args[0])
        except StoreFailing as exc:
            return _unavailable(exc)
        return JSONResponse({"traceId": trace_id}, status_code=202)

    async def events(self, websocket: WebSocket) -> None:
        """Every engine event as JSON; a reader too slow to keep up is told what it lost."""
        await websocket.accept()
        subscription = self.engine.events.subscribe(maxsize=20_000, cluster=True)
        closed = asyncio.ensure_future(self._wait_closed(websocket))
        try:
            while not closed.done():
                waiter = asyncio.ensure_future(subscription.wait())
                await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                dropped = subscription.take_dropped()
                if dropped:
                    await websocket.send_text(
                        json.dumps(
                            {"type": ev.EVENTS_DROPPED, "time": 0, "data": {"count": dropped}}
                        )
                    )
                for event in subscription.drain():
                    await websocket.send_text(json.dumps(event.to_json(), default=repr))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            subscription.close()
            closed.cancel()

    @staticmethod
    async def _wait_closed(websocket: WebSocket) -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
        except (WebSocketDisconnect, RuntimeError):
            return
