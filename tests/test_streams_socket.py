"""The stream socket against a real server: Motia's protocol, routing, auth, limits, traces."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from engine.runtime import Engine
from engine.server import EngineServer
from engine.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "streams_project"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy, named uniquely so its modules never collide with another test's."""
    target = tmp_path / f"streams_{tmp_path.name}"
    shutil.copytree(FIXTURE, target)
    return target


async def start_server(
    project: Path, *, watch: bool = False, settings: Settings | None = None
) -> EngineServer:
    srv = EngineServer(
        Engine(project, settings or Settings()),
        "127.0.0.1",
        0,
        introspect=True,
        token=None,
        cors_origins=None,
        watch=watch,
    )
    await srv.start()
    return srv


@pytest.fixture
async def server(project: Path) -> AsyncIterator[EngineServer]:
    srv = await start_server(project)
    yield srv
    await srv.stop()
    server_errors = [r["msg"] for r in srv.engine.logs.recent if "ASGI" in r["msg"]]
    assert not server_errors, "the server logged a protocol error"


@pytest.fixture
async def http(server: EngineServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def ws_url(srv: EngineServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{srv.port}/{query}"


class Client:
    """A stream client speaking the wire protocol as Motia's npm clients do."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def join(self, stream: str, group: str, item: str | None = None) -> str:
        sub_id = str(uuid.uuid4())
        await self.ws.send(json.dumps({"type": "join", "data": sub(stream, group, item, sub_id)}))
        return sub_id

    async def leave(self, stream: str, group: str, item: str | None, sub_id: str) -> None:
        await self.ws.send(json.dumps({"type": "leave", "data": sub(stream, group, item, sub_id)}))

    async def next(self, timeout: float = 20.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), "the server sends text frames only"
        return json.loads(raw)


def sub(stream: str, group: str, item: str | None, sub_id: str) -> dict[str, Any]:
    data = {"streamName": stream, "groupId": group, "subscriptionId": sub_id}
    if item is not None:
        data["id"] = item
    return data


async def open_client(srv: EngineServer, query: str = "", **kwargs: Any) -> Client:
    return Client(await connect(ws_url(srv, query), **kwargs))


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_group_join_syncs_then_receives_every_change(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    await http.post("/items/todo/g1/a", json={"title": "A"})
    client = await open_client(server)
    await client.join("todo", "g1")
    sync = await client.next()
    assert sync["event"] == {"type": "sync", "data": [{"title": "A", "id": "a"}]}
    assert "id" not in sync
    assert (sync["streamName"], sync["groupId"]) == ("todo", "g1")
    assert isinstance(sync["timestamp"], int)

    await http.post("/items/todo/g1/b", json={"title": "B"})
    created = await client.next()
    assert created["id"] == "b"
    assert created["event"] == {"type": "create", "data": {"title": "B", "id": "b"}}

    await http.post("/items/todo/g1/b", json={"title": "B2", "done": True})
    updated = await client.next()
    assert updated["event"] == {"type": "update", "data": {"title": "B2", "done": True, "id": "b"}}

    await http.post("/events/todo/g1", json={"type": "ping", "data": {"n": 1}})
    group_event = await client.next()
    assert "id" not in group_event
    assert group_event["event"] == {"type": "event", "event": {"type": "ping", "data": {"n": 1}}}

    await http.post("/events/todo/g1", json={"type": "poke", "data": 2, "id": "b"})
    item_event = await client.next()
    assert item_event["id"] == "b"
    assert item_event["event"] == {"type": "event", "event": {"type": "poke", "data": 2}}

    await http.delete("/items/todo/g1/b")
    deleted = await client.next()
    assert deleted["event"] == {"type": "delete", "data": {"title": "B2", "done": True, "id": "b"}}
    # Strictly increasing for one item (Motia's client drops an update no newer than the last
    # it applied to that item); the group's sync may share a millisecond with the first change.
    assert sync["timestamp"] <= created["timestamp"] < updated["timestamp"] < deleted["timestamp"]

    await http.post("/items/todo/other/x", json={"title": "elsewhere"})
    await http.post("/items/todo/g1/c", json={"title": "C"})
    assert (await client.next())["id"] == "c", "a change in another group reached this one"
    await client.ws.close()


async def test_item_join_syncs_the_item_or_null_and_only_its_changes(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    await http.post("/items/todo/g1/a", json={"title": "A"})
    client = await open_client(server)
    await client.join("todo", "g1", "a")
    sync = await client.next()
    assert sync["id"] == "a"
    assert sync["event"] == {"type": "sync", "data": {"title": "A", "id": "a"}}
    await client.join("todo", "g1", "missing")
    assert (await client.next())["event"] == {"type": "sync", "data": None}

    await http.post("/items/todo/g1/other", json={"title": "not mine"})
    await http.post("/items/todo/g1/missing", json={"title": "now here"})
    created = await client.next()
    assert (created["id"], created["event"]["type"]) == ("missing", "create")
    await http.post("/items/todo/g1/a", json={"title": "A2"})
    assert (await client.next())["event"]["data"] == {"title": "A2", "id": "a"}
    await http.post("/events/todo/g1", json={"type": "group-only", "data": 1})
    await http.post("/events/todo/g1", json={"type": "for-a", "data": 1, "id": "a"})
    assert (await client.next())["event"]["event"]["type"] == "for-a"
    await client.ws.close()


async def test_timestamps_strictly_increase_per_item(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    client = await open_client(server)
    await client.join("todo", "hot", "same")
    sync = await client.next()
    reply = await http.post("/bulk/hot", json={"count": 200, "id": "same"})
    assert reply.status_code == 200
    stamps = [sync["timestamp"]]
    for _ in range(200):
        stamps.append((await client.next())["timestamp"])
    assert all(isinstance(s, int) for s in stamps)
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert abs(stamps[0] - time.time() * 1000) < 60_000

    group = await open_client(server)
    await group.join("todo", "hot")
    group_sync = await group.next()
    assert group_sync["timestamp"] >= stamps[-1], "a fresh group sync must not look older"
    await client.ws.close()
    await group.ws.close()


async def test_a_connection_gets_each_change_once_with_item_and_group_joined(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    client = await open_client(server)
    await client.join("todo", "g1")
    await client.join("todo", "g1", "a")
    await client.join("todo", "g1", "a")
    assert [(await client.next())["event"]["type"] for _ in range(3)] == ["sync"] * 3
    await http.post("/items/todo/g1/a", json={"title": "A"})
    await http.post("/events/todo/g1", json={"type": "once", "data": None, "id": "a"})
    await http.post("/items/todo/g1/z", json={"title": "marker"})
    kinds = [(m["id"], m["event"]["type"]) for m in [await client.next() for _ in range(3)]]
    assert kinds == [("a", "create"), ("a", "event"), ("z", "create")]
    await client.ws.close()


async def test_leave_stops_changes(server: EngineServer, http: httpx.AsyncClient) -> None:
    client = await open_client(server)
    group_sub = await client.join("todo", "g1")
    await client.join("todo", "g2")
    await client.next()
    await client.next()
    await client.leave("todo", "g1", None, group_sub)
    await client.join("todo", "g3")
    await client.next()
    await http.post("/items/todo/g1/a", json={"title": "left"})
    await http.post("/items/todo/g2/b", json={"title": "still joined"})
    message = await client.next()
    assert (message["groupId"], message["id"]) == ("g2", "b")
    await client.ws.close()


async def test_unknown_stream_and_bad_frames(server: EngineServer, http: httpx.AsyncClient) -> None:
    client = await open_client(server)
    await client.ws.send("not json")
    await client.ws.send(json.dumps(["join"]))
    await client.ws.send(json.dumps({"type": "hello", "data": {}}))
    await client.ws.send(json.dumps({"type": "join", "data": {"groupId": "g1"}}))
    sub_id = await client.join("nope", "g1", "x")
    refused = await client.next()
    assert refused["streamName"] == "nope"
    assert refused["groupId"] == "g1"
    assert refused["id"] == "x"
    assert isinstance(refused["timestamp"], int)
    assert refused["event"]["type"] == "error"
    assert refused["event"]["data"]["subscriptionId"] == sub_id
    assert "nope" in refused["event"]["data"]["message"]
    await client.join("todo", "g1")
    assert (await client.next())["event"]["type"] == "sync"
    await client.ws.close()


async def test_authenticate_refuses_with_401_before_the_upgrade(server: EngineServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(ws_url(server, "?token=deny"))
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"error": "authentication failed"}
    with pytest.raises(websockets.InvalidStatus):
        await connect(ws_url(server), subprotocols=["Authorization", "deny"])
    with pytest.raises(websockets.InvalidStatus):
        await connect(ws_url(server), additional_headers={"Authorization": "Bearer deny"})

    offered = await connect(ws_url(server), subprotocols=["Authorization", "alice"])
    assert offered.subprotocol == "Authorization"
    plain = await connect(ws_url(server))
    assert plain.subprotocol is None
    await offered.close()
    await plain.close()


async def test_can_access_refusal_sends_an_error_and_no_data(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    await http.post("/items/private/alice/n1", json={"note": "alice's"})
    await http.post("/items/private/bob/n1", json={"note": "bob's"})
    await http.post("/items/audit/log/e1", json={"what": "audited"})
    alice = await open_client(server, "?token=alice")
    bob_sub = await alice.join("private", "bob")
    refused = await alice.next()
    assert "id" not in refused
    assert refused["event"] == {
        "type": "error",
        "data": {"subscriptionId": bob_sub, "message": "access denied"},
    }
    await alice.join("private", "bob", "n1")
    assert (await alice.next())["event"]["type"] == "error"
    await alice.join("audit", "log")
    assert (await alice.next())["event"]["type"] == "error", "async canAccess refused"
    await alice.join("private", "alice")
    assert (await alice.next())["event"]["data"] == [{"note": "alice's", "id": "n1"}]

    await http.post("/items/private/bob/n2", json={"note": "bob's too"})
    await http.post("/items/audit/log/e2", json={"what": "more"})
    await http.post("/items/private/alice/n2", json={"note": "mine"})
    assert (await alice.next())["groupId"] == "alice", "a refused join leaked data"

    anonymous = await open_client(server)
    await anonymous.join("private", "alice")
    assert (await anonymous.next())["event"]["type"] == "error"
    root = await open_client(server, "", additional_headers={"Authorization": "Bearer root"})
    await root.join("audit", "log")
    assert len((await root.next())["event"]["data"]) == 2
    for client in (alice, anonymous, root):
        await client.ws.close()


async def test_a_thousand_subscribers_on_one_group_receive_every_update(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    subscribers, updates = 1000, 10
    clients: list[Client] = []
    for start in range(0, subscribers, 100):
        batch = await asyncio.gather(
            *(open_client(server, compression=None) for _ in range(start, start + 100))
        )
        clients.extend(batch)
    await asyncio.gather(*(c.join("todo", "crowd") for c in clients))
    await asyncio.gather(*(c.next(20) for c in clients))
    assert len(server.stream_socket.connections) == subscribers

    async def collect(client: Client) -> list[str]:
        return [(await client.next(20))["event"]["data"]["title"] for _ in range(updates)]

    readers = [asyncio.ensure_future(collect(c)) for c in clients]
    for n in range(updates):
        await http.post(f"/items/todo/crowd/item-{n % 3}", json={"title": f"u{n}"})
    received = await asyncio.gather(*readers)
    assert all(titles == [f"u{n}" for n in range(updates)] for titles in received)
    assert server.stream_socket.dropped == 0
    await asyncio.gather(*(c.ws.close() for c in clients))


async def stuck_client(srv: EngineServer, stream: str, group: str) -> socket.socket:
    """A client that joins and then never reads, with a tiny receive window."""
    protocol = ClientProtocol(parse_uri(ws_url(srv)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", srv.port))
    protocol.send_request(protocol.connect())
    await loop.sock_sendall(sock, b"".join(protocol.data_to_send()))
    while not protocol.handshake_exc and protocol.state.name == "CONNECTING":
        protocol.receive_data(await loop.sock_recv(sock, 1))
    assert protocol.handshake_exc is None
    protocol.send_text(json.dumps({"type": "join", "data": sub(stream, group, None, "s")}).encode())
    await loop.sock_sendall(sock, b"".join(protocol.data_to_send()))
    return sock


async def test_a_client_that_stops_reading_never_blocks_a_step(project: Path) -> None:
    # Writes announced as they are called ("keep"), so the reader sees them while the step
    # still runs; by default a run's 500 changes would reach the sockets at once when it ends.
    server = await start_server(project, settings=Settings(failed_attempts="keep"))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await _stuck_socket_never_blocks_a_step(server, http)
    finally:
        await server.stop()


async def _stuck_socket_never_blocks_a_step(server: EngineServer, http: httpx.AsyncClient) -> None:
    server.stream_socket.queue_frames = 50
    reader = await open_client(server, compression=None)
    await reader.join("todo", "busy")
    await reader.next()
    sock = await stuck_client(server, "todo", "busy")
    await wait_for(lambda: len(server.stream_socket.connections) == 2)
    await wait_for(lambda: server.stream_socket.subscribers("todo", "busy") == 2)

    updates = 500
    got: list[dict[str, Any]] = []

    async def follow() -> None:
        while len(got) < updates:
            got.append(await reader.next(10))

    following = asyncio.ensure_future(follow())
    started = time.perf_counter()
    reply = await http.post("/bulk/busy", json={"count": updates, "size": 16_000, "pauseMs": 1})
    elapsed = time.perf_counter() - started
    assert reply.status_code == 200
    # Liveness, not speed: a write that waited on the stuck socket would wait forever, since
    # that client never reads; bench/streams.py measures how fast writes really are.
    assert reply.json()["slowestMs"] < 1000, "one stream write waited on a socket"
    assert elapsed < 30
    await following
    assert [m["id"] for m in got] == [f"item-{n}" for n in range(updates)]
    assert server.stream_socket.dropped == 1
    await wait_for(lambda: len(server.stream_socket.connections) == 1)

    loop = asyncio.get_running_loop()

    async def drained() -> bool:
        try:
            while await loop.sock_recv(sock, 65536):
                pass
        except ConnectionError:
            pass
        return True

    assert await asyncio.wait_for(drained(), 10)
    sock.close()
    assert (
        await http.post("/items/todo/busy/after", json={"title": "still fine"})
    ).status_code == 200
    assert (await reader.next())["id"] == "after"
    await reader.ws.close()


async def test_custom_storage_stream(server: EngineServer, http: httpx.AsyncClient) -> None:
    client = await open_client(server)
    await client.join("cache", "c1")
    assert (await client.next())["event"] == {"type": "sync", "data": []}
    await http.post("/items/cache/c1/k", json={"value": 1})
    first = await client.next()
    assert first["event"] == {"type": "create", "data": {"value": 1, "id": "k"}}
    await http.post("/items/cache/c1/k", json={"value": 2})
    assert (await client.next())["event"]["type"] == "update"
    item = await open_client(server)
    await item.join("cache", "c1", "k")
    assert (await item.next())["event"] == {"type": "sync", "data": {"value": 2, "id": "k"}}
    bad = await http.post("/items/cache/c1/k", json={"value": "not an int"})
    assert bad.status_code == 500
    await http.delete("/items/cache/c1/k")
    deleted = await client.next()
    assert deleted["event"] == {"type": "delete", "data": {"value": 2, "id": "k"}}
    assert (await item.next())["event"]["type"] == "delete"
    await client.ws.close()
    await item.ws.close()


async def test_schema_failures_reach_nobody_and_every_handler_style_notifies(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    client = await open_client(server)
    await client.join("todo", "g1")
    await client.next()
    bad = await http.post("/items/todo/g1/x", json={"title": 7})
    assert bad.status_code == 500
    assert "schema" in bad.json()["error"]
    reply = await http.post("/sync-items/g1/s", json={"title": "from a thread"})
    assert reply.json()["item"] == {"title": "from a thread", "id": "s"}
    assert reply.json()["read"] == [{"title": "from a thread", "id": "s"}]
    assert (await client.next())["id"] == "s"
    emitted = await http.post(
        "/__motia/emit",
        json={"topic": "todo.touch", "data": {"group": "g1", "id": "t", "title": "unawaited"}},
    )
    assert emitted.status_code == 202
    touched = await client.next()
    assert touched["event"]["data"] == {"title": "unawaited", "id": "t"}
    await client.ws.close()


async def test_stream_ops_are_span_ops_and_engine_events(
    server: EngineServer, http: httpx.AsyncClient
) -> None:
    events = server.engine.events.subscribe(types={"stream.change"})
    reply = await http.post("/items/todo/g1/a", json={"title": "A"})
    trace_id = reply.headers["x-trace-id"]
    deleted = await http.delete("/items/todo/g1/a")
    await http.post("/events/todo/g1", json={"type": "ping", "data": 1})
    await server.engine.idle()
    ops = (await http.get(f"/__motia/traces/{trace_id}")).json()["spans"][0]["stateOps"]
    assert {"op": "stream.create", "stream": "todo", "groupId": "g1", "id": "a"} in ops
    delete_trace = (await http.get(f"/__motia/traces/{deleted.headers['x-trace-id']}")).json()
    assert delete_trace["spans"][0]["stateOps"][-1]["op"] == "stream.delete"
    changes = [e.data for e in events.drain()]
    assert [(c["type"], c["step"]) for c in changes] == [
        ("create", "SetItem"),
        ("delete", "DeleteItem"),
        ("event", "SendEvent"),
    ]
    threaded = await http.post("/sync-items/g2/s", json={"title": "read back"})
    span = (await http.get(f"/__motia/traces/{threaded.headers['x-trace-id']}")).json()["spans"][0]
    assert [op["op"] for op in span["stateOps"]] == ["stream.create", "stream.getGroup"]
    assert changes[0]["traceId"] == trace_id
    assert changes[0]["data"] == {"title": "A", "id": "a"}
    events.close()


async def test_stream_files_hot_reload(project: Path) -> None:
    srv = await start_server(project, watch=True)
    try:
        client = await open_client(srv)
        await client.join("notes", "n")
        assert (await client.next())["event"]["type"] == "error"
        stream_file = project / "steps" / "notes.stream.py"
        stream_file.write_text('config = {"name": "notes", "schema": None}\n')
        await wait_for(lambda: "notes" in srv.engine.stream_definitions)
        await client.join("notes", "n")
        assert (await client.next())["event"] == {"type": "sync", "data": []}
        stream_file.unlink()
        await wait_for(lambda: "notes" not in srv.engine.stream_definitions)
        await client.join("notes", "n")
        assert (await client.next())["event"]["type"] == "error"
        await client.ws.close()
    finally:
        await srv.stop()


async def test_auth_file_changes_apply_to_new_connections(
    server: EngineServer, project: Path
) -> None:
    await (await connect(ws_url(server, "?token=alice"))).close()
    auth = project / "motia_auth.py"
    auth.write_text("def authenticate(headers, query):\n    return None\n")
    future = time.time() + 5
    os.utime(auth, (future, future))
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(ws_url(server, "?token=alice"))
    assert refused.value.response.status_code == 401
    auth.write_text("def authenticate(headers, query:\n")
    os.utime(auth, (future + 5, future + 5))
    with pytest.raises(websockets.InvalidStatus) as broken:
        await connect(ws_url(server))
    assert broken.value.response.status_code == 500
    auth.unlink()
    await (await connect(ws_url(server, "?token=deny"))).close()


async def test_stopping_the_server_closes_clients_as_going_away(project: Path) -> None:
    srv = await start_server(project)
    client = await open_client(srv)
    await client.join("todo", "g1")
    await client.next()
    await asyncio.wait_for(srv.stop(), 10)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.next()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
