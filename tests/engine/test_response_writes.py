"""A response's head goes with its body, in one write and one TCP segment, on a connection
that keeps serving; a HEAD answer, an interim `100 Continue` and a refusal still go out, an
api step's answer written whole has the head uvicorn would write, and an HTTP/1.0 client's
connection closes after its answer."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
from pathlib import Path

import pytest
from engine_support import served, write_files

STEPS = {
    "steps/ping_step.py": """
        config = {"type": "api", "name": "Ping", "path": "/ping", "method": "GET", "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {"pong": True}}
    """,
    "steps/empty_step.py": """
        config = {"type": "api", "name": "Empty", "path": "/empty", "method": "DELETE",
                  "emits": []}

        async def handler(req, ctx):
            return {"status": 204}
    """,
    "steps/echo_step.py": """
        config = {"type": "api", "name": "Echo", "path": "/echo", "method": "POST",
                  "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {"echo": req.body}}
    """,
}
DATA_SEGS_IN = 152
"""Offset of `tcpi_data_segs_in` in Linux's `struct tcp_info`: segments that carried data."""


def _answer(sock: socket.socket, head_only: bool = False) -> tuple[bytes, bytes]:
    """One whole answer off a keep-alive connection: its head and its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    if head_only:
        return head, body
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def _data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, DATA_SEGS_IN)[0])


def _three_gets(port: int) -> list[int]:
    """Data segments each of three answers on one connection came in."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        counts = []
        for _ in range(3):
            before = _data_segments_in(sock)
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head, body = _answer(sock)
            assert head.startswith(b"HTTP/1.1 200") and body == b'{"pong":true}'
            counts.append(_data_segments_in(sock) - before)
        return counts


@pytest.mark.skipif(sys.platform != "linux", reason="counts segments through Linux's TCP_INFO")
async def test_each_answer_comes_in_one_segment(tmp_path: Path) -> None:
    async with served(write_files(tmp_path / "project", STEPS)) as (_engine, client):
        assert client.base_url.port is not None
        counts = await asyncio.to_thread(_three_gets, client.base_url.port)
    assert counts == [1, 1, 1]


def _head_then_get_then_continue(port: int) -> list[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"HEAD /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, rest = _answer(sock, head_only=True)
        assert head.startswith(b"HTTP/1.1 200") and rest == b""
        sock.sendall(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        refused, body = _answer(sock)
        assert refused.startswith(b"HTTP/1.1 404") and b"no route" in body
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n")
        interim, _ = _answer(sock, head_only=True)
        assert interim == b"HTTP/1.1 100 Continue", "sent before the body is"
        sock.sendall(b'{"a": 1}')
        echoed, body = _answer(sock)
        return [echoed.split(b"\r\n", 1)[0], body]


async def test_head_refusal_and_interim_answers_keep_the_connection_serving(
    tmp_path: Path,
) -> None:
    async with served(write_files(tmp_path / "project", STEPS)) as (_engine, client):
        assert client.base_url.port is not None
        last = await asyncio.to_thread(_head_then_get_then_continue, client.base_url.port)
    assert last == [b"HTTP/1.1 200 OK", b'{"echo":{"a":1}}']


def _heads(port: int) -> list[list[bytes]]:
    """The head lines of a GET, a 204 and a HEAD on one connection, the date left out."""
    heads = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for request, head_only in (
            (b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", False),
            (b"DELETE /empty HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", True),
            (b"HEAD /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", True),
        ):
            sock.sendall(request)
            head, rest = _answer(sock, head_only)
            assert head_only is False or rest == b"", "no body after a 204's or a HEAD's head"
            heads.append([line for line in head.split(b"\r\n") if not line.startswith(b"date:")])
    return heads


async def test_an_answer_written_whole_has_the_head_uvicorn_writes(tmp_path: Path) -> None:
    async with served(write_files(tmp_path / "project", STEPS), cors_origins="*") as (
        _engine,
        client,
    ):
        assert client.base_url.port is not None
        heads = await asyncio.to_thread(_heads, client.base_url.port)
    cors = [
        b"access-control-allow-origin: *",
        b"access-control-allow-methods: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
        b"access-control-allow-headers: *",
    ]
    for head in heads:
        assert head[1].startswith(b"x-trace-id: ") and len(head[1]) == len(b"x-trace-id: ") + 32
    assert [head[:1] + head[2:] for head in heads] == [
        [b"HTTP/1.1 200 OK", *cors, b"content-type: application/json", b"content-length: 13"],
        [b"HTTP/1.1 204 No Content", *cors],
        [b"HTTP/1.1 200 OK", *cors, b"content-type: application/json", b"content-length: 13"],
    ]


def _http10_answer(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            data += chunk
        return data


async def test_an_http_1_0_answer_closes_its_connection(tmp_path: Path) -> None:
    async with served(write_files(tmp_path / "project", STEPS)) as (_engine, client):
        assert client.base_url.port is not None
        answer = await asyncio.to_thread(_http10_answer, client.base_url.port)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"\r\nconnection: close" in head
    assert body == b'{"pong":true}'
