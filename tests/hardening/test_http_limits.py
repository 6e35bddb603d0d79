"""Item 1: what one request, one span and one client may take of the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import httpx
from engine_support import served, trace_of, write_files

from engine import Settings

ECHO = {
    "steps/echo_step.py": """
        config = {"type": "api", "name": "Echo", "path": "/echo", "method": "POST",
                  "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {"got": len(req.rawBody), "echo": req.body}}
    """,
    "steps/relay_step.py": """
        config = {"type": "api", "name": "Relay", "path": "/relay", "method": "POST",
                  "emits": ["blob"]}

        async def handler(req, ctx):
            await ctx.emit({"topic": "blob", "data": req.body})
            return {"status": 202, "body": {}}
    """,
    "steps/sink_step.py": """
        config = {"type": "event", "name": "Sink", "subscribes": ["blob"], "emits": []}

        async def handler(data, ctx):
            ctx.logger.info("sink got", {"size": len(data["blob"])})
    """,
    "steps/ping_step.py": """
        config = {"type": "api", "name": "Ping", "path": "/ping", "method": "GET", "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {"pong": True}}
    """,
}


def _project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "project", ECHO)


async def _read_answer(reader: asyncio.StreamReader, timeout: float = 10.0) -> tuple[int, dict]:
    """Status and JSON body of a raw HTTP answer that closes its connection."""
    raw = await asyncio.wait_for(reader.read(), timeout)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


async def test_a_64_mb_header_is_refused_431_before_it_is_read(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        port = client.base_url.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        sent = 0
        chunk = b"a" * 65536
        with contextlib.suppress(ConnectionError):
            while sent < 64 * 1024 * 1024 and not reader.at_eof():
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                if reader._buffer:  # the answer came: the server stopped reading
                    break
        status, body = await _read_answer(reader)
        writer.close()
        assert status == 431
        assert "max_header_bytes" in body["error"]
        assert sent < 4 * 1024 * 1024, f"the server read {sent} bytes of header first"
        ok = await client.get("/ping")
        assert ok.status_code == 200


async def test_a_header_under_max_header_bytes_is_served(tmp_path: Path) -> None:
    settings = Settings(max_header_bytes=200_000)
    async with served(_project(tmp_path), settings) as (_engine, client):
        answer = await client.get("/ping", headers={"x-big": "b" * 150_000})
        assert answer.status_code == 200
        refused = await client.get("/ping", headers={"x-big": "b" * 250_000})
        assert refused.status_code == 431
        assert refused.json()["error"].startswith("request head over the limit of 200000")


async def test_slowloris_and_idle_connections_are_cut_off_while_others_are_served(
    tmp_path: Path,
) -> None:
    settings = Settings(header_timeout_s=1.5)
    async with served(_project(tmp_path), settings) as (_engine, client):
        port = client.base_url.port
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(1000)]
        trickling = [await asyncio.open_connection("127.0.0.1", port) for _ in range(50)]
        head = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 200

        async def trickle(writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                for byte in head:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.1)

        trickles = [asyncio.ensure_future(trickle(w)) for _, w in trickling]
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            answer = await client.get("/ping")
            assert answer.status_code == 200
            await asyncio.sleep(0.1)
        answers = await asyncio.gather(*(_read_answer(r, 5.0) for r, _ in trickling))
        assert {status for status, _ in answers} == {408}
        assert "header_timeout_s" in answers[0][1]["error"]
        assert time.monotonic() - started < 4.0
        for reader, _ in idle:
            assert await asyncio.wait_for(reader.read(), 5.0) == b""  # closed, no answer
        for task in trickles:
            task.cancel()
        for _, writer in idle + trickling:
            writer.close()
        assert (await client.get("/ping")).status_code == 200


async def test_an_idle_keep_alive_connection_closes_after_five_seconds_a_busy_one_stays(
    tmp_path: Path,
) -> None:
    """uvicorn's `timeout_keep_alive` (5 s), kept by the server's sweep: within a second of
    it for a connection left idle after its answer, never for one that keeps asking."""
    request = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    async with served(_project(tmp_path)) as (_engine, client):
        port = client.base_url.port
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)

        async def answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            assert head.startswith(b"HTTP/1.1 200")
            await reader.readexactly(len(b'{"pong":true}'))

        await answered(idle_reader, idle_writer)
        answered_at = time.monotonic()

        async def keep_asking() -> int:
            asked = 0
            while time.monotonic() - answered_at < 7.0:
                await answered(busy_reader, busy_writer)
                asked += 1
                await asyncio.sleep(1.0)
            return asked

        asking = asyncio.ensure_future(keep_asking())
        assert await asyncio.wait_for(idle_reader.read(), 10.0) == b""
        closed_after = time.monotonic() - answered_at
        assert await asking >= 7, "the busy connection served every request"
        idle_writer.close()
        busy_writer.close()
    assert 4.9 <= closed_after <= 6.5


def _asgi_tasks() -> list[asyncio.Task[object]]:
    """The server's request tasks still running (it shares the test's loop)."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "RequestResponseCycle.run_asgi"
    ]


async def test_a_trickled_body_is_cut_off_408_and_frees_its_request(tmp_path: Path) -> None:
    settings = Settings(body_timeout_s=1.5)
    async with served(_project(tmp_path), settings) as (_engine, client):
        port = client.base_url.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        started = time.monotonic()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.1)

        sending = asyncio.ensure_future(trickle())
        status, body = await _read_answer(reader, 10.0)
        waited = time.monotonic() - started
        sending.cancel()
        writer.close()
        assert status == 408
        assert body == {"error": "request body not received within 1.5s (setting body_timeout_s)"}
        assert 1.4 < waited < 4.0
        deadline = time.monotonic() + 5
        while _asgi_tasks() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert _asgi_tasks() == []  # the request waiting for the body has ended
        assert (await client.get("/__motia/traces")).json()["traces"] == []  # Echo never ran
        assert (await client.post("/echo", json={"a": 1})).json() == {"got": 7, "echo": {"a": 1}}


async def test_a_body_sent_slowly_within_body_timeout_s_is_served(tmp_path: Path) -> None:
    settings = Settings(body_timeout_s=3)
    async with served(_project(tmp_path), settings) as (_engine, client):
        port = client.base_url.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        payload = b'{"slow": "' + b"x" * 10 + b'"}'
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n\r\n"
        )
        for byte in payload:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)
        status, body = await _read_answer(reader, 10.0)
        writer.close()
        assert status == 200
        assert body == {"got": len(payload), "echo": {"slow": "x" * 10}}


async def test_connections_past_max_connections_get_503_json(tmp_path: Path) -> None:
    settings = Settings(max_connections=20)
    async with served(_project(tmp_path), settings) as (_engine, client):
        port = client.base_url.port
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        async with httpx.AsyncClient(base_url=str(client.base_url)) as fresh:
            busy = await fresh.get("/ping")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert "max_connections" in busy.json()["error"]
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=str(client.base_url)) as fresh:
            assert (await fresh.get("/ping")).status_code == 200


async def test_a_span_keeps_a_marked_cut_of_a_body_over_span_body_bytes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    body = {"blob": "x" * 1_000_000}
    async with served(project, Settings(max_header_bytes=200_000)) as (_engine, client):
        answer = await client.post("/echo", json=body, headers={"x-pad": "p" * 70_000})
        assert answer.status_code == 200
        assert answer.json()["echo"] == body  # the handler saw all of it
        trace = await trace_of(client, answer.headers["x-trace-id"], 1)
    span = trace["spans"][0]
    size = len(json.dumps(body, separators=(",", ":")))
    assert span["input"]["body"]["$cut"] == {
        "bytes": size,
        "limit": 65536,
        "setting": "span_body_bytes",
    }
    assert len(span["input"]["body"]["head"]) == 65536
    assert span["input"]["headers"]["$cut"]["bytes"] > 70_000
    assert "x-pad" not in span["input"]["headers"]
    assert span["output"]["body"]["$cut"]["bytes"] > 1_000_000


async def test_event_data_in_spans_is_cut_past_span_body_bytes(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        answer = await client.post("/relay", json={"blob": "e" * 500_000})
        assert answer.status_code == 202
        trace = await trace_of(client, answer.headers["x-trace-id"], 2)
    relay, sink = sorted(trace["spans"], key=lambda span: span["step"] != "Relay")
    assert relay["emits"][0]["data"]["$cut"]["bytes"] > 500_000
    assert sink["input"]["$cut"]["bytes"] > 500_000
    assert sink["status"] == "ok"  # the handler got the whole event


async def test_the_store_stays_small_after_big_requests(tmp_path: Path) -> None:
    project = _project(tmp_path)
    settings = Settings(span_body_bytes=1024)
    async with served(project, settings) as (_engine, client):
        for _ in range(20):
            answer = await client.post("/echo", json={"blob": "y" * 1_000_000})
            assert answer.status_code == 200
        last = answer.headers["x-trace-id"]
        await trace_of(client, last, 1)
    store = project / ".motia" / "store.sqlite3"
    on_disk = sum(p.stat().st_size for p in store.parent.glob("store.sqlite3*"))
    assert on_disk < 2_000_000, f"{on_disk} bytes on disk for 20 requests"
    async with served(project, settings) as (_engine, client):
        span = (await client.get(f"/__motia/traces/{last}")).json()["spans"][0]
        assert span["input"]["body"]["$cut"]["bytes"] > 1_000_000


async def test_a_motia_body_over_introspect_body_bytes_is_refused_413(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        big = json.dumps({"topic": "t", "data": "z" * (1024 * 1024)})
        answer = await client.post("/__motia/emit", content=big)
        assert answer.status_code == 413
        assert "introspect_body_bytes" in answer.json()["error"]

        async def chunks():  # no Content-Length: counted as it arrives
            for _ in range(20):
                yield b"z" * 100_000

        streamed = await client.post("/__motia/emit", content=chunks())
        assert streamed.status_code == 413
