"""What a workbench attached to one worker of a Redis cluster sees: every worker's spans,
logs, state changes and dead letters, live, each span naming the worker that ran it.
Real `motia start` processes on the shared Redis, under the test's own prefix."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import redis
from cluster_support import TOKEN, Worker, workers
from engine_support import write_files
from textual.pilot import Pilot
from textual.widgets import Static
from websockets.asyncio.client import ClientConnection, connect

from motia_tui.app import WorkbenchApp, make_workbench
from motia_tui.panes.dead_letters import DeadLettersPane
from motia_tui.panes.logs import LogsPane
from motia_tui.panes.state import StatePane
from motia_tui.panes.traces import TracesPane
from motia_tui.remote_source import RemoteSource

AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIEW_PROJECT = {
    "steps/hello_step.py": """
        config = {"type": "api", "name": "Hello", "path": "/hello", "method": "POST",
                  "emits": ["greet"]}

        async def handler(req, context):
            context.logger.info("hello from " + req.body["who"])
            await context.state.set("greetings", req.body["who"], {"n": 1})
            await context.emit({"topic": "greet", "data": {"who": req.body["who"]}})
            return {"status": 200, "body": {"ok": True}}
    """,
    "steps/greet_step.py": """
        config = {"type": "event", "name": "Greet", "subscribes": ["greet"]}

        async def handler(data, context):
            context.logger.info("greeted " + data["who"])
    """,
    "steps/doom_step.py": """
        config = {"type": "api", "name": "Doom", "path": "/doom", "method": "POST",
                  "emits": ["doomed"]}

        async def handler(req, context):
            await context.emit({"topic": "doomed", "data": {"who": req.body["who"]}})
            return {"status": 200, "body": {}}
    """,
    "steps/fail_step.py": """
        config = {"type": "event", "name": "AlwaysFails", "subscribes": ["doomed"],
                  "infrastructure": {"queue": {"maxRetries": 0}}}

        async def handler(data, context):
            raise RuntimeError("never works")
    """,
}


def project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "app", VIEW_PROJECT)


def consumer(worker: Worker) -> str:
    return str(worker.health()["details"]["store"]["cluster"]["consumer"])  # type: ignore[index]


def trace(worker: Worker, trace_id: str, spans: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = httpx.get(f"{worker.url}/__motia/traces/{trace_id}", headers=AUTH, timeout=5)
        if answer.status_code == 200:
            found: dict[str, Any] = answer.json()
            if len([s for s in found["spans"] if s["status"] != "running"]) >= spans:
                return found
        time.sleep(0.1)
    raise AssertionError(f"no trace {trace_id} with {spans} spans on {worker.url}")


def test_every_span_names_the_worker_that_ran_it(tmp_path: Path, redis_url: str,
                                                 prefix: str) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        answer = httpx.post(f"{b.url}/hello", json={"who": "ann"}, timeout=10)
        assert answer.status_code == 200, answer.text
        found = trace(a, answer.headers["x-trace-id"], 2)  # read on the other worker
        by_step = {span["step"]: span for span in found["spans"]}
        assert by_step["Hello"]["worker"] == consumer(b)
        assert by_step["Greet"]["worker"] in {consumer(a), consumer(b)}


async def events_of(worker: Worker) -> ClientConnection:
    url = worker.url.replace("http://", "ws://") + f"/__motia/events?token={TOKEN}"
    return await connect(url)


async def until(socket: ClientConnection, match: Callable[[dict[str, Any]], bool],
                timeout: float = 20) -> list[dict[str, Any]]:
    """Every event read until one matches (that one last)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching event among {len(seen)}")
        try:
            event = json.loads(await asyncio.wait_for(socket.recv(), remaining))
        except TimeoutError:
            raise AssertionError(f"no matching event among {len(seen)}") from None
        seen.append(event)
        if match(event):
            return seen


def greet_ended(event: dict[str, Any], trace_id: str) -> bool:
    return (event["type"] == "span.end" and event["data"]["traceId"] == trace_id
            and event["data"]["step"] == "Greet")


async def post_until_seen(socket: ClientConnection, url: str, who: str) -> list[dict[str, Any]]:
    """POST /hello to `url` until its Hello span (run there) ends on `socket`, then wait for
    its Greet span (run on either worker) unless it already went by: a Greet run on the
    watched worker can end before the other worker's batched Hello span arrives. The other
    workers start sending their events once they see that someone watches (within a second
    or two)."""
    seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for attempt in range(20):
            answer = await client.post(f"{url}/hello", json={"who": f"{who}{attempt}"})
            assert answer.status_code == 200, answer.text
            trace_id = answer.headers["x-trace-id"]
            try:
                seen += await until(socket, lambda e, t=trace_id: e["type"] == "span.end"
                                    and e["data"]["traceId"] == t
                                    and e["data"]["step"] == "Hello", timeout=1.5)
            except AssertionError:
                continue
            if not any(greet_ended(e, trace_id) for e in seen):
                seen += await until(socket, lambda e, t=trace_id: greet_ended(e, t))
            return [e for e in seen if e["type"] != "events.dropped"]
    raise AssertionError("the other worker's events never arrived")


def of_trace(events: list[dict[str, Any]], trace_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"].get("traceId") == trace_id]


async def test_the_events_socket_of_one_worker_shows_the_others_once(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        socket = await events_of(a)
        try:
            seen = await post_until_seen(socket, b.url, "bo")
            trace_id = seen[-1]["data"]["traceId"]
            await asyncio.sleep(1.0)  # anything sent twice would have come by now
            with contextlib.suppress(TimeoutError):
                while True:
                    seen.append(json.loads(await asyncio.wait_for(socket.recv(), 0.2)))
            ours = of_trace(seen, trace_id)
            spans = [(e["type"], e["data"]["step"]) for e in ours if e["type"].startswith("span")]
            assert sorted(spans) == sorted([("span.start", "Hello"), ("span.end", "Hello"),
                                            ("span.start", "Greet"), ("span.end", "Greet")])
            hello = next(e for e in ours if e["type"] == "span.end"
                         and e["data"]["step"] == "Hello")
            assert hello["data"]["worker"] == consumer(b)
            logs = [e["data"]["msg"] for e in ours if e["type"] == "log"]
            who = hello["data"]["input"]["body"]["who"]
            assert logs.count(f"hello from {who}") == 1 and logs.count(f"greeted {who}") == 1
            changes = [e["data"] for e in ours if e["type"] == "state.change"]
            assert [(c["group"], c["key"]) for c in changes] == [("greetings", who)]

            # A's own request: once on its own socket, not again through the stream.
            answer = httpx.post(f"{a.url}/hello", json={"who": "own"}, timeout=10)
            own_id = answer.headers["x-trace-id"]
            own = await until(socket, lambda e: e["type"] == "log"
                              and e["data"]["msg"] == "greeted own")
            await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                while True:
                    own.append(json.loads(await asyncio.wait_for(socket.recv(), 0.2)))
            ends = [e for e in of_trace(own, own_id) if e["type"] == "span.end"]
            assert sorted(e["data"]["step"] for e in ends) == ["Greet", "Hello"]
        finally:
            await socket.close()


async def test_a_dead_letter_on_one_worker_reaches_the_others_socket(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        socket = await events_of(a)
        try:
            await post_until_seen(socket, b.url, "warm")
            answer = httpx.post(f"{b.url}/doom", json={"who": "dee"}, timeout=10)
            assert answer.status_code == 200
            trace_id = answer.headers["x-trace-id"]
            seen = await until(socket, lambda e: e["type"] == "dlq.added")
            (letter,) = [e["data"] for e in seen if e["type"] == "dlq.added"]
            assert (letter["step"], letter["traceId"]) == ("AlwaysFails", trace_id)
            def failed_span(e: dict[str, Any]) -> bool:
                return (e["type"] == "span.end" and e["data"]["traceId"] == trace_id
                        and e["data"]["step"] == "AlwaysFails")

            if not any(map(failed_span, seen)):  # the two travel different ways
                seen += await until(socket, failed_span)
            (failed,) = [e["data"] for e in seen if failed_span(e)]
            assert failed["status"] == "error"
        finally:
            await socket.close()


@contextlib.asynccontextmanager
async def attached(worker: Worker) -> AsyncIterator[tuple[WorkbenchApp, Pilot[int]]]:
    """`motia tui --attach` on one worker, as a real Textual app."""
    app = make_workbench(RemoteSource(worker.url, TOKEN))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait(lambda: app.ready.is_set(), "the workbench to start")
        yield app, pilot
        await app.action_quit()


async def wait(predicate: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


def dead_letter_rows(app: WorkbenchApp) -> list[list[str]]:
    pane = app.panes["dead_letters"]
    assert isinstance(pane, DeadLettersPane)
    table = pane.table
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_a_workbench_attached_to_one_worker_shows_the_others_live(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        async with attached(a) as (app, pilot):
            traces, logs, state = app.panes["traces"], app.panes["logs"], app.panes["state"]
            assert isinstance(traces, TracesPane) and isinstance(logs, LogsPane)
            assert isinstance(state, StatePane)
            await pilot.press("3")
            served: dict[str, str] = {}
            async with httpx.AsyncClient(timeout=10) as client:

                def messages_shown() -> list[str]:
                    return [str(logs.buffer.record_at(i).get("msg"))
                            for i in range(len(logs.buffer))]

                async def on_b() -> bool:
                    """Served by B and shown on A, its span and its log record (B sends once
                    it sees A watched: a request that began before then has its log record,
                    logged before, not sent, and its span, ended after, sent)."""
                    who = f"zed{len(served)}"
                    answer = await client.post(f"{b.url}/hello", json={"who": who})
                    served[who] = answer.headers["x-trace-id"]
                    for _ in range(15):
                        await asyncio.sleep(0.1)
                        spans = traces.book.spans.get(served[who], {})
                        if any(s.get("step") == "Hello" for s in spans.values()) and (
                            f"hello from {who}" in messages_shown()
                        ):
                            return True
                    return False

                for _ in range(20):
                    if await on_b():
                        break
                else:
                    raise AssertionError("B's request never showed on A's workbench")
            who, trace_id = list(served.items())[-1]
            await wait(lambda: {s.get("step") for s in traces.book.spans[trace_id].values()}
                       >= {"Hello", "Greet"}, "both spans of B's trace")
            hello = next(s for s in traces.book.spans[trace_id].values()
                         if s.get("step") == "Hello")
            assert hello["worker"] == consumer(b)
            assert f"hello from {who}" in messages_shown()
            await pilot.press("5")
            await wait(lambda: who in state.groups.get("greetings", {}), "B's state change")

            # the span's detail names the worker that ran it
            await pilot.press("3")
            traces.open_trace(trace_id, hello["spanId"])
            body = app.query_one("#span-body", Static)
            await wait(lambda: consumer(b) in str(body.render()), "the worker in the detail")

            await pilot.press("7")
            assert httpx.post(f"{b.url}/doom", json={"who": "dee"}, timeout=10).status_code == 200
            rows = await wait(lambda: dead_letter_rows(app), "B's dead letter on A")
            assert rows[0][0] == "AlwaysFails"


def test_any_worker_lists_the_whole_clusters_traces_and_logs(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        answer = httpx.post(f"{b.url}/hello", json={"who": "hal"}, timeout=10)
        trace_id = answer.headers["x-trace-id"]
        trace(b, trace_id, 2)
        deadline = time.monotonic() + 10
        listed: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not (listed and listed[0]["spans"] == 2):
            # a worker sends its history every 0.1 s: the trace's spans may arrive apart
            found = httpx.get(f"{a.url}/__motia/traces", headers=AUTH, timeout=5).json()
            listed = [t for t in found["traces"] if t["traceId"] == trace_id]
            time.sleep(0.1)
        assert listed and listed[0]["entry"] == "Hello" and listed[0]["spans"] == 2
        only_hello = httpx.get(f"{a.url}/__motia/traces", params={"step": "Greet"},
                               headers=AUTH, timeout=5).json()["traces"]
        assert trace_id in {t["traceId"] for t in only_hello}
        wanted = ["hello from hal", "greeted hal"]
        messages: list[str] = []
        while time.monotonic() < deadline and messages != wanted:
            records = httpx.get(f"{a.url}/__motia/logs", params={"traceId": trace_id},
                                headers=AUTH, timeout=5).json()["logs"]
            messages = [r["msg"] for r in records if r.get("step")]
            time.sleep(0.1)
        assert messages == wanted


async def test_the_events_stream_is_written_only_while_watched_and_stays_capped(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path,
                 MOTIA_REDIS_EVENTS_KEPT="50") as (a, b):
        async with httpx.AsyncClient(timeout=10) as http:
            for n in range(5):
                assert (await http.post(f"{b.url}/hello", json={"who": f"u{n}"})).is_success
            trace(b, (await http.post(f"{b.url}/hello", json={"who": "last"})).headers[
                "x-trace-id"], 2)
            assert client.xlen(f"{prefix}:events") == 0  # nobody watches: nothing sent
            socket = await events_of(a)
            try:
                await post_until_seen(socket, b.url, "w")
                await asyncio.gather(*(http.post(f"{b.url}/hello", json={"who": f"m{n}"})
                                       for n in range(150)))
            finally:
                await socket.close()
        # 150 requests make 900 events; MAXLEN ~ trims whole nodes of 100 entries
        assert 0 < client.xlen(f"{prefix}:events") <= 50 + 100
