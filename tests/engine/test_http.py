"""Api steps over real HTTP: requests, bodies, responses, errors, middleware, handler kinds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import logs, trace_of

from engine import Settings

MakeProject = Callable[[dict[str, str]], Path]

HTTP_PROJECT = {
    "steps/echo_step.py": """
        config = {"type": "api", "name": "Echo", "path": "/echo/:kind/:id", "method": "POST"}

        async def handler(req, context):
            body = req.body
            nested = {}
            if isinstance(body, dict) and "user" in body:
                nested = {
                    "userName": req.body.user.name,
                    "firstSku": req.body.user.orders[0].sku,
                    "viaKeys": req["body"]["user"]["name"],
                    "viaGet": req.get("body").get("user").get("name"),
                    "missing": req.get("nope", "default"),
                }
            return {
                "status": 200,
                "body": {
                    "body": body,
                    "bodyType": type(body).__name__,
                    "pathParams": req.pathParams,
                    "id": req.pathParams.id,
                    "queryParams": req.queryParams,
                    "header": req.headers.get("x-custom"),
                    "authorization": req.headers.get("authorization"),
                    "rawBody": req.rawBody,
                    "nested": nested,
                },
            }
    """,
    "steps/get_echo_step.py": """
        config = {"type": "api", "name": "GetEcho", "path": "/echo", "method": "GET"}

        async def handler(req, context):
            return {"status": 200, "body": {"query": req.queryParams, "body": req.body}}
    """,
    "steps/raw_step.py": """
        config = {"type": "api", "name": "Raw", "path": "/raw/:kind", "method": "GET"}

        async def handler(req, context):
            kind = req.pathParams.kind
            if kind == "text":
                return {"status": 200, "body": "plain words", "headers": {"X-Extra": "yes"}}
            if kind == "bytes":
                return {"status": 200, "body": b"\\x00\\x01binary"}
            if kind == "html":
                return {
                    "status": 200,
                    "body": "<p>hi</p>",
                    "headers": {"Content-Type": "text/html", "Cache-Control": "no-store"},
                }
            if kind == "list":
                return {"status": 201, "body": [1, "two", None]}
            if kind == "nobody":
                return {"status": 200}
            return {"status": int(kind), "body": {"would": "be dropped"}}
    """,
    "steps/broken_step.py": """
        config = {"type": "api", "name": "Broken", "path": "/broken/:how", "method": "GET"}

        def fail():
            raise ValueError("the handler broke")

        async def handler(req, context):
            how = req.pathParams.how
            if how == "raise":
                fail()
            if how == "none":
                return None
            if how == "nostatus":
                return {"body": {"x": 1}}
            if how == "strstatus":
                return {"status": "200"}
            if how == "list":
                return [200, {}]
            return {"status": 200, "body": "fine"}
    """,
    "steps/typed_step.py": """
        config = {
            "type": "api",
            "name": "Typed",
            "path": "/typed",
            "method": "GET",
            "responseSchema": {
                200: {
                    "type": "object",
                    "properties": {"id": {"type": "string"}},
                    "required": ["id"],
                },
                "404": {"type": "object"},
            },
        }

        async def handler(req, context):
            if req.queryParams.get("good"):
                return {"status": 200, "body": {"id": "x"}}
            return {"status": 200, "body": {"id": 7}}
    """,
    "steps/upload_step.py": """
        config = {"type": "api", "name": "Upload", "path": "/upload", "method": "PUT"}

        async def handler(req, context):
            return {"status": 200, "body": {"size": len(req.rawBody)}}
    """,
}


async def test_request_fields_and_dict_with_attributes(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (engine, client):
        payload = {"user": {"name": "Ada", "orders": [{"sku": "A-1"}, {"sku": "B-2"}]}}
        response = await client.post(
            "/echo/things/42",
            params=[("tag", "a"), ("tag", "b"), ("one", "1"), ("empty", ""), ("u", "J\u00fcrgen")],
            json=payload,
            headers={"X-Custom": "hello", "Authorization": "Bearer secret"},
        )
        assert response.status_code == 200
        data = response.json()
        assert data["body"] == payload
        assert data["pathParams"] == {"kind": "things", "id": "42"}
        assert data["id"] == "42"
        assert data["queryParams"] == {
            "tag": ["a", "b"],
            "one": "1",
            "empty": "",
            "u": "J\u00fcrgen",
        }
        assert data["header"] == "hello"
        assert data["authorization"] == "Bearer secret"
        assert data["rawBody"] == response.request.content.decode()
        assert data["nested"] == {
            "userName": "Ada",
            "firstSku": "A-1",
            "viaKeys": "Ada",
            "viaGet": "Ada",
            "missing": "default",
        }
        trace = await trace_of(client, response.headers["x-trace-id"], 1)
        span_input = trace["spans"][0]["input"]
        assert span_input["method"] == "POST"
        assert span_input["pathParams"] == {"kind": "things", "id": "42"}
        assert span_input["headers"]["x-custom"] == "hello"
        assert "authorization" not in span_input["headers"]
        assert engine.started


async def test_bodies_by_content_type(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        form = await client.post("/echo/form/1", data={"a": "1", "b": ["x", "y"], "c": "\u00e9"})
        assert form.json()["body"] == {"a": "1", "b": ["x", "y"], "c": "\u00e9"}
        assert form.json()["rawBody"] == "a=1&b=x&b=y&c=%C3%A9"

        text = await client.post(
            "/echo/text/1", content="just words", headers={"Content-Type": "text/plain"}
        )
        assert text.json()["body"] == "just words"
        assert text.json()["bodyType"] == "str"

        vendor_json = await client.post(
            "/echo/json/1",
            content='{"a": [1, 2]}',
            headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
        )
        assert vendor_json.json()["body"] == {"a": [1, 2]}
        assert vendor_json.json()["rawBody"] == '{"a": [1, 2]}'

        untyped = await client.post("/echo/json/1", content=b'[{"k": 1}]')
        assert untyped.json()["body"] == [{"k": 1}]

        empty = await client.post("/echo/none/1")
        assert empty.json()["body"] == {}
        assert empty.json()["rawBody"] == ""

        got = await client.get("/echo", params={"q": "1"})
        assert got.json() == {"query": {"q": "1"}, "body": {}}


async def test_malformed_json_is_400(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (engine, client):
        response = await client.post(
            "/echo/x/1", content="{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        body = response.json()
        assert body["error"].startswith("malformed JSON body")
        assert set(body) == {"error"}
        await engine.idle()
        assert engine.executor.stats.get("Echo") is None


async def test_str_bytes_and_other_bodies(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        text = await client.get("/raw/text")
        assert text.content == b"plain words"
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.headers["x-extra"] == "yes"

        binary = await client.get("/raw/bytes")
        assert binary.content == b"\x00\x01binary"
        assert binary.headers["content-type"] == "application/octet-stream"

        html = await client.get("/raw/html")
        assert html.text == "<p>hi</p>"
        assert html.headers["content-type"] == "text/html"
        assert html.headers["cache-control"] == "no-store"

        listed = await client.get("/raw/list")
        assert listed.status_code == 201
        assert listed.json() == [1, "two", None]
        assert listed.headers["content-type"] == "application/json"

        nobody = await client.get("/raw/nobody")
        assert nobody.status_code == 200
        assert nobody.content == b""

        teapot = await client.get("/raw/418")
        assert teapot.status_code == 418
        assert teapot.json() == {"would": "be dropped"}


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses(project: MakeProject, serve, status: int) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        response = await client.get(f"/raw/{status}")
        assert response.status_code == status
        assert response.content == b""
        assert "content-length" not in response.headers or response.headers["content-length"] == "0"


async def test_head_sends_no_body(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        get = await client.get("/raw/text")
        head = await client.head("/raw/text")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.headers["x-extra"] == "yes"


async def test_unknown_route_and_wrong_method(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        missing = await client.get("/nowhere")
        assert missing.status_code == 404
        assert missing.json() == {"error": "no route for GET /nowhere"}
        wrong = await client.delete("/echo/a/b")
        assert wrong.status_code == 405
        assert wrong.json() == {
            "error": "method DELETE not allowed for /echo/a/b",
            "details": ["POST"],
        }
        assert wrong.headers["allow"] == "POST"
        static_wrong = await client.post("/upload")
        assert static_wrong.status_code == 405
        assert static_wrong.json()["details"] == ["PUT"]
        trailing = await client.put("/upload/", content=b"abc")
        assert trailing.json() == {"size": 3}


async def test_handler_that_raises_is_500_with_trace_and_traceback(
    project: MakeProject, serve
) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        response = await client.get("/broken/raise")
        assert response.status_code == 500
        body = response.json()
        assert set(body) == {"error", "traceId"}
        assert body["error"] == "Broken failed: the handler broke"
        assert response.headers["x-trace-id"] == body["traceId"]
        (record,) = await logs(client, traceId=body["traceId"], level="error")
        assert record["step"] == "Broken"
        assert record["errorType"] == "ValueError"
        assert record["file"].endswith("steps/broken_step.py")
        assert record["line"] == 4
        assert 'raise ValueError("the handler broke")' in record["traceback"]
        trace = await trace_of(client, body["traceId"], 1)
        assert trace["status"] == "error"
        assert trace["spans"][0]["error"]["type"] == "ValueError"
        assert (await client.get("/broken/ok")).text == "fine"


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("none", 'handler returned NoneType, not a response dict {"status": int, "body": ...}'),
        ("list", "handler returned list, not a response dict"),
        ("nostatus", "handler response has no valid integer 'status' (got None)"),
        ("strstatus", "handler response has no valid integer 'status' (got '200')"),
    ],
)
async def test_malformed_handler_responses_are_500(
    project: MakeProject, serve, how: str, message: str
) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        response = await client.get(f"/broken/{how}")
        assert response.status_code == 500
        assert message in response.json()["error"]
        assert response.json()["traceId"]


async def test_response_schema_mismatch_is_a_warning(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        good = await client.get("/typed", params={"good": "1"})
        assert good.json() == {"id": "x"}
        assert await logs(client, traceId=good.headers["x-trace-id"], level="warn") == []
        bad = await client.get("/typed")
        assert bad.status_code == 200
        assert bad.json() == {"id": 7}
        (warning,) = await logs(client, traceId=bad.headers["x-trace-id"], level="warn")
        assert "does not match its responseSchema" in warning["msg"]
        assert warning["details"][0]["field"] == "id"


async def test_response_schema_is_not_checked_in_start_mode(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT), mode="start", token="t") as (engine, client):
        bad = await client.get("/typed")
        assert bad.json() == {"id": 7}
        await engine.idle()
        assert not [r for r in engine.logs.recent if r["level"] == "warn"]


async def test_body_size_limit(project: MakeProject, serve) -> None:
    settings = Settings(max_body_bytes=100_000)
    async with serve(project(HTTP_PROJECT), settings) as (_engine, client):
        large = b"x" * 90_000
        ok = await client.put("/upload", content=large)
        assert ok.status_code == 200
        assert ok.json() == {"size": 90_000}

        too_big = await client.put("/upload", content=b"x" * 100_001)
        assert too_big.status_code == 413
        assert too_big.json() == {
            "error": "request body over the limit of 100000 bytes (setting max_body_bytes)"
        }

        async def chunks():
            for _ in range(4):
                yield b"y" * 30_000

        streamed = await client.put("/upload", content=chunks())
        assert streamed.status_code == 413
        assert "max_body_bytes" in streamed.json()["error"]
        assert (await client.put("/upload", content=b"z")).json() == {"size": 1}


async def test_default_body_limit_takes_a_megabyte(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        response = await client.put("/upload", content=b"m" * 1_048_576)
        assert response.json() == {"size": 1_048_576}


MIDDLEWARE_PROJECT = {
    "steps/middleware.py": """
        async def outer(req, context, next_fn):
            req.trail = ["outer-in"]
            response = await next_fn()
            req.trail.append("outer-out")
            response["headers"] = {"X-Trail": ",".join(req.trail)}
            return response

        def gate(req, context, next_fn):
            req.trail.append("gate")
            if req.headers.get("x-block"):
                return {"status": 401, "body": {"error": "blocked by gate"}}
            return next_fn()

        async def inner(req, context, next_fn):
            req.trail.append("inner-in")
            context.logger.info("inner saw", {"trail": list(req.trail)})
            response = await next_fn()
            response["body"]["wrapped"] = True
            return response
    """,
    "steps/guarded_step.py": """
        from .middleware import gate, inner, outer

        config = {
            "type": "api",
            "name": "Guarded",
            "path": "/guarded",
            "method": "GET",
            "middleware": [outer, gate, inner],
        }

        async def handler(req, context):
            req.trail.append("handler")
            return {"status": 200, "body": {"trail": list(req.trail)}}
    """,
}


async def test_middleware_order_and_short_circuit(project: MakeProject, serve) -> None:
    async with serve(project(MIDDLEWARE_PROJECT)) as (_engine, client):
        response = await client.get("/guarded")
        assert response.status_code == 200
        assert response.json() == {
            "trail": ["outer-in", "gate", "inner-in", "handler"],
            "wrapped": True,
        }
        assert response.headers["x-trail"] == "outer-in,gate,inner-in,handler,outer-out"

        blocked = await client.get("/guarded", headers={"X-Block": "1"})
        assert blocked.status_code == 401
        assert blocked.json() == {"error": "blocked by gate"}
        assert blocked.headers["x-trail"] == "outer-in,gate,outer-out"
        assert await logs(client, traceId=blocked.headers["x-trace-id"], q="inner saw") == []


HANDLER_KINDS = {
    "steps/sync_step.py": """
        import threading
        import time

        config = {"type": "api", "name": "Sync", "path": "/sync", "method": "POST", "emits": ["n"]}

        def handler(req, context):
            context.state.set("sync", "value", {"n": req.body.n})
            stored = context.state.get("sync", "value")
            group = context.state.get_group("sync")
            context.emit({"topic": "n", "data": {"n": req.body.n}})
            context.logger.info("from a thread", {"thread": threading.current_thread().name})
            if req.queryParams.get("sleep"):
                time.sleep(float(req.queryParams.sleep))
            return {
                "status": 200,
                "body": {
                    "stored": stored,
                    "group": group,
                    "thread": threading.current_thread().name,
                },
            }
    """,
    "steps/async_step.py": """
        import asyncio
        import threading

        config = {"type": "api", "name": "Async", "path": "/async", "method": "GET"}

        async def handler(req, context):
            if req.queryParams.get("sleep"):
                await asyncio.sleep(float(req.queryParams.sleep))
            value = await context.state.get("sync", "value")
            thread = threading.current_thread().name
            return {"status": 200, "body": {"value": value, "thread": thread}}
    """,
    "steps/counter_step.py": """
        config = {"type": "event", "name": "Counter", "subscribes": ["n"]}

        async def handler(input, context):
            await context.state.set("seen", str(input.n), True)
    """,
}


async def test_sync_handlers_run_in_threads_with_blocking_context(
    project: MakeProject, serve
) -> None:
    async with serve(project(HANDLER_KINDS)) as (engine, client):
        response = await client.post("/sync", json={"n": 5})
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["stored"] == {"n": 5}
        assert data["group"] == [{"n": 5}]
        assert data["thread"].startswith("motia-step")
        await engine.idle()
        assert engine.state.get("seen", "5") is True
        (record,) = await logs(client, q="from a thread")
        assert record["thread"] == data["thread"]
        assert record["traceId"] == response.headers["x-trace-id"]

        async_response = await client.get("/async")
        assert async_response.json() == {"value": {"n": 5}, "thread": "MainThread"}


async def test_slow_sync_handlers_do_not_block_the_loop(project: MakeProject, serve) -> None:
    async with serve(project(HANDLER_KINDS)) as (_engine, client):
        slow = asyncio.ensure_future(client.post("/sync", params={"sleep": "1"}, json={"n": 1}))
        await asyncio.sleep(0.1)
        started = asyncio.get_running_loop().time()
        fast = await client.get("/async")
        assert fast.status_code == 200
        assert asyncio.get_running_loop().time() - started < 0.9  # the sync handler sleeps 1 s
        assert not slow.done()
        assert (await slow).status_code == 200


@pytest.mark.parametrize("path", ["/async?sleep=5", "/sync?sleep=1.5"])
async def test_handler_timeout(project: MakeProject, serve, path: str) -> None:
    settings = Settings(handler_timeout_s=0.3)
    async with serve(project(HANDLER_KINDS), settings) as (_engine, client):
        method = "POST" if path.startswith("/sync") else "GET"
        started = asyncio.get_running_loop().time()
        response = await client.request(method, path, json={"n": 1})
        assert asyncio.get_running_loop().time() - started < 1.2
        assert response.status_code == 500
        assert "timed out after 0.3s" in response.json()["error"]
        trace = await trace_of(client, response.json()["traceId"], 1)
        assert trace["spans"][0]["error"]["type"] == "HandlerTimeout"
        assert (await client.get("/async")).status_code == 200


async def test_cors_with_several_origins_names_the_listed_request_origin(
    project: MakeProject, serve
) -> None:
    origins = "https://app.example.com, http://localhost:5173"
    async with serve(project(HTTP_PROJECT), cors_origins=origins) as (_engine, client):
        for origin in ("https://app.example.com", "http://localhost:5173"):
            simple = await client.get("/raw/text", headers={"Origin": origin})
            assert simple.status_code == 200
            assert simple.headers.get_list("access-control-allow-origin") == [origin]
            assert simple.headers["vary"] == "Origin"
            preflight = await client.options(
                "/upload", headers={"Origin": origin, "Access-Control-Request-Method": "PUT"}
            )
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == origin
            assert "PUT" in preflight.headers["access-control-allow-methods"]
            assert preflight.headers["vary"] == "Origin"
        other = await client.get("/raw/text", headers={"Origin": "https://evil.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers
        assert other.headers["vary"] == "Origin"
        refused = await client.options(
            "/upload",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
        )
        assert refused.status_code == 405
        assert "access-control-allow-origin" not in refused.headers
        assert "error" in refused.json()
        plain = await client.get("/raw/text")
        assert "access-control-allow-origin" not in plain.headers
        missing = await client.get("/nowhere", headers={"Origin": "http://localhost:5173"})
        assert missing.status_code == 404
        assert missing.headers["access-control-allow-origin"] == "http://localhost:5173"


async def test_cors_for_api_routes_only(project: MakeProject, serve) -> None:
    async with serve(project(HTTP_PROJECT), cors_origins="*") as (_engine, client):
        response = await client.get("/raw/text")
        assert response.headers["access-control-allow-origin"] == "*"
        preflight = await client.options(
            "/upload",
            headers={"Origin": "http://app.test", "Access-Control-Request-Method": "PUT"},
        )
        assert preflight.status_code == 204
        assert "PUT" in preflight.headers["access-control-allow-methods"]
        missing = await client.get("/nowhere")
        assert missing.headers["access-control-allow-origin"] == "*"
        introspection = await client.get("/__motia/steps")
        assert "access-control-allow-origin" not in introspection.headers
    async with serve(project(HTTP_PROJECT)) as (_engine, client):
        response = await client.get("/raw/text")
        assert "access-control-allow-origin" not in response.headers
