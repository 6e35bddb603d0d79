"""Item 6: every answer the server makes itself is `{"error", ...}` JSON with the right status."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from engine_support import served, write_files
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine import Engine, Settings
from engine.server import EngineServer

STEPS = {
    "steps/inject_step.py": """
        config = {"type": "api", "name": "Inject", "path": "/inject", "method": "GET",
                  "emits": []}

        async def handler(req, ctx):
            await ctx.state.set("marks", "inject", True)
            return {"status": 200, "headers": {"x-a": "b\\r\\nSet-Cookie: evil=1"}, "body": {}}
    """,
    "steps/circle_step.py": """
        config = {"type": "api", "name": "Circle", "path": "/circle", "method": "GET",
                  "emits": []}

        async def handler(req, ctx):
            loop = {}
            loop["self"] = loop
            return {"status": 200, "body": loop}
    """,
    "steps/tree_step.py": """
        config = {"type": "api", "name": "Tree", "path": "/tree", "method": "POST",
                  "emits": [],
                  "bodySchema": {"type": "object", "additionalProperties": {"$ref": "#"}}}

        async def handler(req, ctx):
            return {"status": 200, "body": {}}
    """,
    "steps/slow_step.py": """
        import asyncio

        config = {"type": "api", "name": "Slow", "path": "/slow", "method": "GET",
                  "emits": []}

        async def handler(req, ctx):
            await asyncio.sleep(60)
            return {"status": 200, "body": {}}
    """,
}


def _project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "project", STEPS)


def _is_error_shape(answer: httpx.Response) -> dict:
    assert answer.headers["content-type"] == "application/json", answer.text
    body = answer.json()
    assert isinstance(body.get("error"), str) and body["error"]
    return body


async def test_uvicorns_invalid_http_request_400_is_json(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        reader, writer = await asyncio.open_connection("127.0.0.1", client.base_url.port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ")
        assert b"content-type: application/json" in head
        assert json.loads(body) == {"error": "Invalid HTTP request received."}


async def test_refused_websocket_handshakes_are_json(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        with pytest.raises(InvalidStatus) as unknown:
            async with connect(str(client.base_url).replace("http", "ws") + "/no/socket/here"):
                pass
        assert unknown.value.response.status_code == 404
        assert json.loads(unknown.value.response.body) == {"error": "no socket at /no/socket/here"}
        malformed = await client.get(  # an upgrade without Sec-WebSocket-Key
            "/", headers={"connection": "Upgrade", "upgrade": "websocket"}
        )
        assert malformed.status_code == 400
        assert "Sec-WebSocket-Key" in _is_error_shape(malformed)["error"]


async def test_unknown_motia_routes_are_404_and_405_json(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        missing = await client.get("/__motia/nothing-here")
        assert missing.status_code == 404
        assert "/__motia/nothing-here" in _is_error_shape(missing)["error"]
        wrong = await client.get("/__motia/emit")
        assert wrong.status_code == 405
        _is_error_shape(wrong)
        assert wrong.headers["allow"] == "POST"


async def test_deep_json_to_motia_is_400_json(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        for body in ("[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
            answer = await client.post(
                "/__motia/emit", content=body, headers={"content-type": "text/plain"}
            )
            assert answer.status_code == 400
            assert "malformed JSON body" in _is_error_shape(answer)["error"]


async def test_a_body_too_deep_for_its_schema_is_400_json(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        body = '{"a":' * 900 + "{}" + "}" * 900
        answer = await client.post(
            "/tree", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400
        assert "nested too deeply" in _is_error_shape(answer)["error"]


async def test_a_non_ascii_bearer_token_is_401_json(tmp_path: Path) -> None:
    async with served(_project(tmp_path), token="s3cret") as (_engine, client):
        answer = await client.get("/__motia/steps", headers={"authorization": b"Bearer \xe9"})
        assert answer.status_code == 401
        assert _is_error_shape(answer)["error"] == "missing or wrong introspection token"
        right = await client.get("/__motia/steps", headers={"authorization": "Bearer s3cret"})
        assert right.status_code == 200
        socket_url = str(client.base_url).replace("http", "ws") + "/__motia/events?token=%E9"
        try:
            async with connect(socket_url):
                raise AssertionError("a wrong token opened the events socket")
        except InvalidStatus as exc:
            assert exc.response.status_code == 401


async def test_a_response_header_with_crlf_is_500_json_and_keeps_nothing(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (engine, client):
        answer = await client.get("/inject")
        assert answer.status_code == 500
        error = _is_error_shape(answer)["error"]
        assert "x-a" in error and "line break" in error
        assert "set-cookie" not in answer.headers
        assert answer.json()["traceId"] == answer.headers["x-trace-id"]
        assert engine.state.get("marks", "inject") is None
        assert (await client.get("/__motia/health")).status_code == 200  # still serving


async def test_a_circular_response_body_is_500_json(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        answer = await client.get("/circle")
        assert answer.status_code == 500
        assert _is_error_shape(answer)["error"].startswith("Circle failed")


async def test_a_request_cut_short_by_shutdown_gets_503_json(tmp_path: Path) -> None:
    engine = Engine(_project(tmp_path), Settings(store=":memory:"), mode="dev")
    server = EngineServer(
        engine, "127.0.0.1", 0, introspect=True, token=None, cors_origins=None, watch=False
    )
    server.config.timeout_graceful_shutdown = 0.5
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
        pending = asyncio.ensure_future(client.get("/slow"))
        await asyncio.sleep(0.5)
        await server.stop()
        answer = await pending
    assert answer.status_code == 503
    assert "shut down" in _is_error_shape(answer)["error"]
    assert answer.headers["retry-after"] == "1"
