"""The HTTP face of a project: one route per api step, plus the engine's own endpoints.

Api requests are served by a lean ASGI router rather than per-request Starlette objects,
because this is the hot path the benchmarks compare with a bare Starlette route. The router
rebuilds its table when the engine's steps change, so hot reload never restarts the server.
Every error the server answers itself has one JSON shape: `{"error", "details"?, "traceId"?}`
(`engine.http_answers`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Collection
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from engine import jsonio, triggers
from engine.cors import CorsPolicy, grants
from engine.http_answers import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    WriteWhole,
    answer_failure,
    error_body,
    refuse_websocket,
    send_json,
    serve_health,
    unavailable_status,
)
from engine.masking import visible_headers
from engine.overload import Unavailable
from engine.records import ApiRequest, AttrDict, wrap
from engine.run_lifecycle import GENERIC_ERROR, error_info
from engine.runs import HandlerLost
from engine.span_bounds import cut_body, cut_headers
from engine.steps import Step, path_pattern
from engine.stores import StoreFailing, failing_error

if TYPE_CHECKING:
    from engine.runtime import Engine

NO_BODY_STATUSES = {204, 304}
_WITHOUT_BODY = frozenset({"GET", "HEAD"})
_BAD_HEADER = re.compile(r"[^!#$%&'*+\-.^_`|~0-9a-z]")


class RequestError(Exception):
    """A request the server refuses before any handler runs."""

    def __init__(self, status: int, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


class BodyRejected(RequestError):
    """A body `bodySchema` refuses: answered 400 and traced, so the Traces pane shows why the
    request never reached its handler."""

    def __init__(self, details: list[Any], span_input: dict[str, Any]) -> None:
        super().__init__(400, "request body does not match the schema", details)
        self.problems = details
        self.span_input = span_input


class BodyCheckFailed(Exception):
    """A `bodySchema` model whose own code raised (not a validation error): the step's
    failure, answered 500 and traced like a handler that raises."""

    def __init__(self, cause: Exception, span_input: dict[str, Any]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.span_input = span_input


class _Route:
    __slots__ = ("names", "pattern", "step")

    def __init__(self, step: Step) -> None:
        self.step = step
        self.pattern, self.names = path_pattern(step.path or "/")


class ApiRouter:
    """Dispatches requests to api steps."""

    def __init__(
        self, engine: Engine, cors_origins: str | None, write_whole: WriteWhole | None = None
    ) -> None:
        self._engine = engine
        self._executor = engine.executor
        self._max_body = engine.settings.max_body_bytes
        self._span_bytes = engine.settings.span_body_bytes
        self._cors = CorsPolicy(cors_origins)
        self._write_whole = write_whole
        self._cors_lines = self._cors.fixed_lines
        self._version = -1
        self._static: dict[str, dict[str, Step]] = {}
        self._dynamic: list[_Route] = []
        self._check_responses = engine.mode == "dev"
        self._detailed = engine.mode == "dev"  # `motia start` keeps the cause in its log

    def _refresh(self) -> None:
        static: dict[str, dict[str, Step]] = {}
        dynamic: list[_Route] = []
        for step in self._engine.registry.steps.values():
            if step.type != "api" or step.path is None or step.method is None:
                continue
            if ":" in step.path:
                dynamic.append(_Route(step))
            else:
                key = step.path.rstrip("/") or "/"
                static.setdefault(key, {})[step.method] = step
        self._static, self._dynamic = static, dynamic
        self._version = self._engine.registry.version

    def match(self, method: str, path: str) -> tuple[Step | None, dict[str, str], set[str]]:
        """The step for a request, its path params, and the methods the path allows."""
        if self._version != self._engine.registry.version:
            self._refresh()
        allowed: set[str] = set()
        by_method = self._static.get(path.rstrip("/") or "/")
        if by_method:
            step = by_method.get(method) or (by_method.get("GET") if method == "HEAD" else None)
            if step is not None:
                return step, {}, allowed
            allowed.update(by_method)
        for route in self._dynamic:
            found = route.pattern.match(path)
            if found is None:
                continue
            step_method = route.step.method
            if step_method == method or (method == "HEAD" and step_method == "GET"):
                return route.step, dict(zip(route.names, found.groups(), strict=True)), allowed
            allowed.add(step_method or "")
        return None, {}, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request, read, run and answered in this one coroutine: each await of another
        coroutine on this path costs a frame per request. What escapes still gets the JSON
        shape (`answer_failure`), and is raised again for uvicorn to log."""
        try:
            method: str = scope["method"]
            path: str = scope["path"]
            step, path_params, allowed = self.match(method, path)
            cors = self._cors.headers(scope)
            if step is None:
                await self._no_route(send, method, path, allowed, cors)
                return
            health = self._engine.store.health
            if not health.ok:
                await self._unavailable(send, failing_error(health), cors)
                return
            try:
                raw = b"" if method in _WITHOUT_BODY else await self._read_body(scope, receive)
                request, span_input, headers, visible = self._request(scope, raw, step, path_params)
            except BodyRejected as rejected:
                trace_id = self._executor.rejected(
                    step, rejected.span_input, rejected.message, rejected.problems
                )
                await send_json(
                    send,
                    rejected.status,
                    error_body(rejected.message, rejected.details, trace_id),
                    [(b"x-trace-id", trace_id.encode()), *cors],
                )
                return
            except RequestError as refused:
                answer = error_body(refused.message, refused.details)
                await send_json(send, refused.status, answer, cors)
                return
            except BodyCheckFailed as check_failed:
                run = self._executor.begin(step, "api", check_failed.span_input)
                trace_header = (b"x-trace-id", run.trace_id.encode())
                await self._failed(
                    run,
                    check_failed.cause,
                    send,
                    [trace_header, *cors],
                    f"{step.name}'s bodySchema check",
                )
                return
            executor = self._executor
            run = executor.begin(step, "api", span_input)
            query_string: bytes = scope.get("query_string", b"")
            triggers.record_request(
                self._engine.store,
                run.trace_id,
                partial(triggers.api_trigger, method, path, query_string, headers, visible, raw),
            )
            trace_header = (b"x-trace-id", run.trace_id.encode())
            try:
                result = await executor.invoke(step, run, (request,))
                status, extra, body, typed = self._response(result)
                encoded, content_type = encode_body(body)
            except HandlerLost as lost:
                await self._lost(run, lost, send, [trace_header, *cors])
                return
            except Exception as failure:
                await self._failed(run, failure, send, [trace_header, *cors], step.name)
                return
            limit = self._span_bytes
            kept = _loggable(body) if len(encoded) <= limit else cut_body(encoded, limit)
            executor.end(run, output={"status": status, "body": kept})
            if self._check_responses and step.response_schemas:
                self._check_response(step, run, status, body)
            try:
                done = executor.finish(run, True, durable=True)
                if done is not None:
                    await done
            except StoreFailing as failing:
                executor.step_logger(run).error(f"{step.name}'s effects were not kept: {failing}")
                executor.refused(run, failing)
                await self._unavailable(send, failing, [trace_header, *cors], run.trace_id)
                return
            length = len(encoded) if method == "HEAD" or status not in NO_BODY_STATUSES else None
            if status in NO_BODY_STATUSES or method == "HEAD":
                encoded = b""
            whole, cors_lines = self._write_whole, self._cors_lines
            if whole is not None and cors_lines is not None and not extra:
                lines = b"x-trace-id: %b\r\n%b%b%b" % (
                    trace_header[1],
                    cors_lines,
                    b"content-type: %b\r\n" % content_type if content_type else b"",
                    b"" if length is None else b"content-length: %d\r\n" % length,
                )
                if whole(send, status, lines, encoded):
                    return
            out = [trace_header, *cors] if cors else [trace_header]
            if content_type and not typed:
                out.append((b"content-type", content_type))
            if extra:
                out.extend(extra)
            if length is not None:
                out.append((b"content-length", b"%d" % length))
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": encoded})
        except BaseException as escaped:
            await answer_failure(send, escaped, self._detailed)
            raise

    async def _no_route(
        self,
        send: Send,
        method: str,
        path: str,
        allowed: Collection[str],
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        """404, 405 with the methods the path allows, or 204 for a CORS preflight."""
        if method == "OPTIONS" and allowed and grants(cors):
            await send({"type": "http.response.start", "status": 204, "headers": cors})
            await send({"type": "http.response.body", "body": b""})
            return
        if allowed:
            await send_json(
                send,
                405,
                error_body(f"method {method} not allowed for {path}", sorted(allowed)),
                [(b"allow", ", ".join(sorted(allowed)).encode()), *cors],
            )
        else:
            await send_json(send, 404, error_body(f"no route for {method} {path}"), cors)

    async def _unavailable(
        self, send: Send, exc: StoreFailing, extra: list[tuple[bytes, bytes]], trace_id: str = ""
    ) -> None:
        """503: nothing of the request was kept, and it may be sent again later; `extra`
        carries the answer's CORS headers."""
        retry_after = str(max(1, round(exc.retry_after_s))).encode()
        await send_json(
            send,
            503,
            error_body(str(exc), trace_id=trace_id or None),
            [(b"retry-after", retry_after), *extra],
        )

    async def _lost(
        self, run: Any, exc: HandlerLost, send: Send, extra: list[tuple[bytes, bytes]]
    ) -> None:
        """The handler's process died: nothing of the request was kept (api runs are not
        retried), and the client may send it again once the worker is back."""
        executor = self._executor
        error = error_info(exc, executor.project_dir)
        executor.log_failure(run, f"{run.step_name} was not answered: {exc}", error)
        executor.end(run, error=error)
        with contextlib.suppress(StoreFailing):
            executor.finish(run, False)
        await send_json(
            send,
            503,
            error_body(f"{run.step_name} was not answered: {exc}", trace_id=run.trace_id),
            [(b"retry-after", b"1"), *extra],
        )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise RequestError(400, "invalid Content-Length header") from None
                if declared > self._max_body:
                    raise RequestError(
                        413,
                        f"request body over the limit of {self._max_body} "
                        "bytes (setting max_body_bytes)",
                    )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "client disconnected")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self._max_body:
                    raise RequestError(
                        413,
                        f"request body over the limit of {self._max_body} "
                        "bytes (setting max_body_bytes)",
                    )
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _request(
        self, scope: Scope, raw: bytes, step: Step, path_params: dict[str, str]
    ) -> tuple[ApiRequest, dict[str, Any], dict[str, str], dict[str, str]]:
        """The request, what its span keeps of it, its headers, and those but credentials."""
        headers: dict[str, str] = {}
        header_bytes = 0
        for raw_name, raw_value in scope["headers"]:
            header_bytes += len(raw_name) + len(raw_value)
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if raw:
            raw_text = raw.decode("utf-8", errors="replace")
            body = parse_body(raw, raw_text, headers.get("content-type", ""))
        else:
            raw_text, body = "", {}
        query_string = scope.get("query_string", b"")
        query = parse_query(query_string) if query_string else {}
        visible = visible_headers(headers)
        span_input = self._span_input(scope, path_params, query, body, raw, visible, header_bytes)
        if step.body_schema is not None:
            try:
                problems = step.body_schema.errors(body)
            except RecursionError:
                raise RequestError(400, "request body nested too deeply to check") from None
            except Exception as exc:
                raise BodyCheckFailed(exc, span_input) from exc
            if problems:
                raise BodyRejected(problems, span_input)
        request = ApiRequest(
            body=wrap(body),
            pathParams=AttrDict(path_params),
            queryParams=AttrDict(query),
            headers=AttrDict(headers),
            rawBody=raw_text,
            method=scope["method"],
            path=scope["path"],
        )
        return request, span_input, headers, visible

    def _span_input(
        self,
        scope: Scope,
        path_params: dict[str, str],
        query: dict[str, Any],
        body: Any,
        raw: bytes,
        visible: dict[str, str],
        header_bytes: int,
    ) -> dict[str, Any]:
        """The request as its span keeps it: body and headers (`visible`: no credentials)
        cut past `span_body_bytes`."""
        limit = self._span_bytes
        shown: dict[str, Any] = visible
        if header_bytes > limit:
            shown = cut_headers(visible, header_bytes, limit)
        return {
            "method": scope["method"],
            "path": scope["path"],
            "pathParams": path_params,
            "queryParams": query,
            "body": body if len(raw) <= limit else cut_body(raw, limit),
            "headers": shown,
        }

    async def _failed(
        self, run: Any, exc: Exception, send: Send, extra: list[tuple[bytes, bytes]], what: str
    ) -> None:
        """The step's code raised: the span ends with the error, the log keeps the traceback
        and the client gets 500 (503 for want of capacity) in the JSON shape."""
        executor = self._executor
        error = error_info(exc, executor.project_dir)
        executor.log_failure(run, f"{what} failed: {error['message']}", error)
        executor.end(run, error=error)
        with contextlib.suppress(StoreFailing):
            executor.finish(run, False)
        # A refusal for want of capacity is the engine's, not the handler's: no secret.
        detailed = self._detailed or isinstance(exc, Unavailable)
        message = f"{what} failed: {error['message']}" if detailed else GENERIC_ERROR
        await send_json(
            send, unavailable_status(exc), error_body(message, trace_id=run.trace_id), extra
        )

    @staticmethod
    def _response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], Any, bool]:
        """Status, headers, body, and whether the headers name a content type."""
        if not isinstance(result, dict):
            raise TypeError(
                f"handler returned {type(result).__name__}, not a response dict "
                '{"status": int, "body": ...}'
            )
        status = result.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise TypeError(f"handler response has no valid integer 'status' (got {status!r})")
        raw_headers = result.get("headers")
        if not raw_headers:
            return status, [], result.get("body"), False
        if not isinstance(raw_headers, dict):
            raise TypeError("handler response 'headers' must be a dict")
        headers = []
        typed = False
        for key, value in raw_headers.items():
            name, text = str(key).lower(), str(value)
            if name == "content-length":
                continue
            typed = typed or name == "content-type"
            if not name or _BAD_HEADER.search(name):
                raise ValueError(f"handler response header name {name!r} is not a valid name")
            if "\r" in text or "\n" in text or "\0" in text:
                raise ValueError(
                    f"handler response header {name!r} holds a line break or NUL "
                    "(it would inject headers)"
                )
            headers.append((name.encode("latin-1"), text.encode("latin-1")))
        return status, headers, result.get("body"), typed

    def _check_response(self, step: Step, run: Any, status: int, body: Any) -> None:
        if status not in step.response_schemas:
            return
        schema = step.response_schemas[status]
        try:
            problems = schema.errors(body) if schema is not None else []
        except Exception as exc:  # the model's own code: a warning, as a mismatch is
            self._executor.step_logger(run).warn(
                f"{step.name}'s responseSchema for {status} raised {type(exc).__name__}: {exc}"
            )
            return
        if problems:
            self._executor.step_logger(run).warn(
                f"{step.name} answered {status} with a body that does not match its responseSchema",
                {"details": problems},
            )


def _loggable(body: Any) -> Any:
    if isinstance(body, bytes):
        return f"<{len(body)} bytes>"
    return body


def encode_body(body: Any) -> tuple[bytes, bytes | None]:
    """A `str` or `bytes` body as it is, anything else as JSON; None as nothing. A body
    JSON cannot carry (a set, a Decimal, an object) raises TypeError naming its type."""
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, b"application/octet-stream"
    if isinstance(body, str):
        return body.encode(), b"text/plain; charset=utf-8"
    try:
        return jsonio.dumps_bytes(body), b"application/json"
    except TypeError as exc:  # never `str()` it into a 200 the client cannot read back
        raise TypeError(f"the response body is not JSON: {exc}") from None


def parse_body(raw: bytes, text: str, content_type: str) -> Any:
    """JSON, form-urlencoded or text by content type; an empty body is `{}` as in Motia."""
    if not raw:
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json") or (not kind and raw[:1] in b"[{"):
        try:
            return jsonio.loads_exact(raw)
        except jsonio.WideInteger as wide:
            raise RequestError(
                400, f"request body: {wide}", [{"field": wide.field, "message": str(wide)}]
            ) from None
        except ValueError as exc:
            raise RequestError(400, f"malformed JSON body: {exc}") from None
    if kind == "application/x-www-form-urlencoded":
        return parse_query(raw)
    return text


def parse_query(raw: bytes | str) -> dict[str, str | list[str]]:
    """A value is a string, or a list when its key repeats."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if not text:
        return {}
    return {
        k: v[0] if len(v) == 1 else v for k, v in parse_qs(text, keep_blank_values=True).items()
    }


_MOTIA_PREFIX = re.compile(r"^/__motia(/|$)")
HEALTH_PATH = "/__motia/health"


def build_app(
    engine: Engine,
    *,
    cors_origins: str | None,
    introspection: ASGIApp | None,
    streams: ASGIApp | None,
    write_whole: WriteWhole | None = None,
) -> ASGIApp:
    """The one ASGI app uvicorn serves: api routes, `/__motia/`, the stream socket at `/`.
    `write_whole` is the server's way to write an api step's answer at once, where it has
    one (`engine.http_protocol.write_whole`)."""
    router = ApiRouter(engine, cors_origins, write_whole)

    detailed = engine.mode == "dev"

    def app(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """An api request goes to the router's coroutine itself, without one of this app's
        around it (uvicorn is told the interface, as a plain function does not say it)."""
        if scope["type"] == "http":
            path: str = scope["path"]
            if not (path.startswith("/__motia") and _MOTIA_PREFIX.match(path)):
                return router(scope, receive, send)
        return engine_routes(scope, receive, send)

    async def engine_routes(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                if scope["path"].rstrip("/") == HEALTH_PATH:
                    if scope["method"] not in ("GET", "HEAD"):
                        refused = f"method {scope['method']} not allowed for {HEALTH_PATH}"
                        allow = [(b"allow", b"GET, HEAD")]
                        await send_json(send, 405, error_body(refused), allow)
                        return
                    await serve_health(engine, introspection, scope, receive, send)
                    return
                if introspection is None:
                    await send_json(send, 404, error_body(f"no route for {scope['path']}"))
                    return
                await introspection(scope, receive, send)
            except BaseException as exc:
                await answer_failure(send, exc, detailed)
                raise
        elif kind == "websocket":
            if introspection is not None and _MOTIA_PREFIX.match(scope["path"]):
                await introspection(scope, receive, send)
            elif streams is not None and scope["path"] in ("/", ""):
                await streams(scope, receive, send)
            else:
                await refuse_websocket(scope, send, 404, f"no socket at {scope['path']}")
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    return app
