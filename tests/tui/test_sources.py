"""The sources keep one contract: the same calls give the same answers about one engine.

A `LocalSource` runs a real engine and server; a `RemoteSource` is attached to that server
through `/__motia/` and its events websocket. Every contract test runs against both, and a
few check that they agree answer for answer. A `ReplaySource` reads the tape that engine
recorded: it must answer the read questions as the engine did at the cursor's moment, and
refuse every write.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pane_harness import copy_project
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.server import QuietServer
from engine.settings import Settings
from motia_tui.remote_source import RemoteSource, _RemoteFeed
from motia_tui.replay import ReplaySource
from motia_tui.source import EngineSource, EventFeed, LocalSource, SourceError

FAILING_STEP = """
config = {
    "type": "event",
    "name": "AlwaysFails",
    "subscribes": ["doomed"],
    "emits": [],
    "flows": ["greetings"],
    "infrastructure": {"queue": {"maxRetries": 0}},
}


async def handler(input, context):
    raise RuntimeError("no luck")
"""


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalSource]:
    project = copy_project(tmp_path)
    (project / "steps" / "always_fails_step.py").write_text(FAILING_STEP, encoding="utf-8")
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    await source.start()
    yield source
    await source.stop()


@pytest.fixture
async def remote(local: LocalSource) -> AsyncIterator[RemoteSource]:
    source = RemoteSource(local.label)
    await source.start()
    yield source
    await source.stop()


@pytest.fixture(params=["local", "remote"])
def source(request: pytest.FixtureRequest, local: LocalSource) -> EngineSource:
    if request.param == "local":
        return local
    return request.getfixturevalue("remote")


async def greet(source: EngineSource, local: LocalSource, name: str = "Ada") -> str:
    answer = await source.request(
        "POST", "/greet", {"content-type": "application/json"}, json.dumps({"name": name})
    )
    assert answer.status == 200, answer.body
    assert answer.trace_id == json.loads(answer.body)["traceId"]
    await local.engine.idle()
    return answer.trace_id


async def events_until(feed: EventFeed, wanted: set[str], timeout: float = 20) -> list[dict]:
    """Drain the feed until every wanted event type has been seen."""
    seen: list[dict[str, Any]] = []

    async def collect() -> None:
        while not wanted <= {e["type"] for e in seen}:
            await feed.wait()
            seen.extend(feed.drain())
            feed.take_dropped()

    await asyncio.wait_for(collect(), timeout)
    return seen


async def test_steps_and_flows(source: EngineSource) -> None:
    steps = await source.steps()
    names = {s["name"] for s in steps["steps"]}
    assert {"GreetApi", "MakeGreeting", "RecordGreeting", "CountTicks", "AlwaysFails"} <= names
    assert steps["errors"] == []
    flows = (await source.flows())["flows"]
    assert [f["name"] for f in flows] == ["greetings"]
    assert any(e["topic"] == "greet.requested" for e in flows[0]["edges"])
    stats = await source.stats()
    assert "steps" in stats and "edges" in stats


async def test_request_trace_and_logs(source: EngineSource, local: LocalSource) -> None:
    trace_id = await greet(source, local)
    traces = await source.traces(limit=10)
    assert traces[0]["traceId"] == trace_id
    assert traces[0]["entry"] == "GreetApi"
    assert traces[0]["status"] == "ok"
    assert traces[0]["spans"] == 3
    assert await source.traces(status="error") == []
    assert [t["traceId"] for t in await source.traces(step="RecordGreeting")] == [trace_id]

    detail = await source.trace(trace_id)
    assert detail is not None
    steps = [s["step"] for s in detail["spans"]]
    assert steps == ["GreetApi", "MakeGreeting", "RecordGreeting"]
    assert detail["spans"][0]["emits"][0]["topic"] == "greet.requested"
    assert await source.trace("0" * 32) is None

    logs = await source.logs(trace_id=trace_id)
    assert [r["msg"] for r in logs] == ["greeting requested", "greeting recorded"]
    assert [r["msg"] for r in await source.logs(q="recorded", trace_id=trace_id)] == [
        "greeting recorded"
    ]
    assert await source.logs(trace_id=trace_id, level="warn") == []

    since, until = logs[0]["time"], logs[-1]["time"]  # what the Logs pane asks of a gap
    window = await source.logs(since=since, until=until)
    assert [r for r in window if r.get("traceId") == trace_id] == logs
    assert all(since <= r["time"] <= until for r in window)
    assert await source.count_logs(since, until) == len(window)
    assert await source.logs(trace_id=trace_id, since=until + 1) == []
    assert await source.count_logs(until + 1, None) == 0


async def test_state_round_trip(source: EngineSource, local: LocalSource) -> None:
    await source.set_state("settings", "theme", {"dark": True})
    assert (await source.state())["settings"] == {"theme": {"dark": True}}
    assert await source.delete_state("settings", "theme") is True
    assert await source.delete_state("settings", "theme") is False
    await source.set_state("scratch", "a", 1)
    await source.set_state("scratch", "b", [1, 2])
    assert await source.delete_state("scratch", None) is True
    assert "scratch" not in await source.state()
    with pytest.raises(SourceError) as refused:
        await source.set_state("bad", "set", {1, 2})
    assert refused.value.status == 400
    manual = [t for t in await source.traces() if t["entry"] == "manual state edit"]
    assert manual, "a state edit is traced as a manual span"


async def test_streams(source: EngineSource, local: LocalSource) -> None:
    trace_id = await greet(source, local)
    streams = await source.streams()
    assert [s["name"] for s in streams] == ["greetings"]
    assert "all" in streams[0]["groups"]
    items = await source.stream_group("greetings", "all")
    assert {"id": trace_id, "text": "Hello, Ada!"} in items
    with pytest.raises(SourceError) as missing:
        await source.stream_group("nope", "all")
    assert missing.value.status == 404


async def test_emit_cron_and_dead_letters(source: EngineSource, local: LocalSource) -> None:
    trace_id = await source.emit("greet.requested", {"name": "Eve"})
    await local.engine.idle()
    trace = await source.trace(trace_id)
    assert trace is not None and "MakeGreeting" in [s["step"] for s in trace["spans"]]

    cron_trace = await source.trigger_cron("CountTicks")
    await local.engine.idle()
    assert (await source.state())["stats"]["ticks"] >= 1
    assert await source.trace(cron_trace) is not None
    with pytest.raises(SourceError) as no_cron:
        await source.trigger_cron("GreetApi")
    assert no_cron.value.status == 404

    doomed = await source.emit("doomed", {"n": 1})
    await local.engine.idle()
    items = await source.dlq()
    assert [(i["step"], i["traceId"]) for i in items] == [("AlwaysFails", doomed)]
    assert await source.retry_dlq(items[0]["id"]) == doomed
    with pytest.raises(SourceError) as gone:
        await source.retry_dlq("no-such-item")
    assert gone.value.status == 404


async def test_a_dropped_dead_letter_is_gone_and_traced_as_manual(
    source: EngineSource, local: LocalSource
) -> None:
    doomed = await source.emit("doomed", {"n": 2})
    await local.engine.idle()
    (item,) = await source.dlq()
    await source.drop_dlq(item["id"])
    assert await source.dlq() == []
    await local.engine.idle()
    (drop,) = [t for t in await source.traces() if t["entry"] == "drop doomed"]
    trace = await source.trace(drop["traceId"])
    assert trace is not None
    (span,) = trace["spans"]
    assert span["kind"] == "manual"
    assert span["input"]["traceId"] == doomed
    assert (span["input"]["step"], span["input"]["data"]) == ("AlwaysFails", {"n": 2})
    with pytest.raises(SourceError) as gone:
        await source.drop_dlq(item["id"])
    assert gone.value.status == 404


async def test_event_feed(source: EngineSource, local: LocalSource) -> None:
    feed = source.subscribe()
    try:
        if isinstance(source, RemoteSource):
            await events_until(feed, set())
            await asyncio.wait_for(_connected(feed), 5)
        await greet(source, local)
        seen = await events_until(
            feed, {"span.start", "span.end", "log", "state.change", "stream.change"}
        )
        for event in seen:
            assert set(event) == {"type", "time", "data"}
        logs = [e["data"]["msg"] for e in seen if e["type"] == "log"]
        assert "greeting recorded" in logs
    finally:
        feed.close()


async def _connected(feed: EventFeed) -> None:
    while not getattr(feed, "connected", True):
        await asyncio.sleep(0.01)


async def _reconnected(feed: EventFeed) -> None:
    """A new connection shows as a gap: the reader is told to reload."""
    while not feed.take_dropped():
        await feed.wait()
    await _connected(feed)


async def test_both_sources_agree(local: LocalSource, remote: RemoteSource) -> None:
    trace_id = await greet(local, local)
    await local.set_state("agree", "k", {"v": [1, "two", None]})
    assert await local.steps() == await remote.steps()
    assert await local.flows() == await remote.flows()
    assert await local.traces() == await remote.traces()
    assert await local.trace(trace_id) == await remote.trace(trace_id)
    assert await local.logs() == await remote.logs()
    assert await local.state() == await remote.state()
    assert await local.streams() == await remote.streams()
    assert await local.stream_group("greetings", "all") == await remote.stream_group(
        "greetings", "all"
    )
    assert await local.dlq() == await remote.dlq()


async def test_remote_token_and_reconnect(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    settings = Settings(introspect_token="s3cret")
    first = LocalSource(project, settings, "127.0.0.1", 0, watch=False)
    await first.start()
    port = first.server.port
    refused = RemoteSource(first.label, "wrong")
    with pytest.raises(SourceError) as denied:
        await refused.start()
    assert denied.value.status == 401
    await refused.stop()

    remote = RemoteSource(first.label, "s3cret")
    await remote.start()
    feed = remote.subscribe()
    second: LocalSource | None = None
    try:
        await asyncio.wait_for(_connected(feed), 5)
        assert feed.take_dropped() >= 1, "a fresh connection asks for a reload"
        loop = asyncio.get_running_loop()
        started = loop.time()
        await first.stop()
        assert loop.time() - started < 2, "an attached reader must not hold up the stop"
        second = LocalSource(project, settings, "127.0.0.1", port, watch=False)
        await second.start()
        await asyncio.wait_for(_reconnected(feed), 5)
        await remote.set_state("after", "restart", True)
        seen = await events_until(feed, {"state.change"})
        assert any(e["data"].get("group") == "after" for e in seen)
        assert feed.take_dropped() == 0
        assert (await remote.state())["after"] == {"restart": True}
    finally:
        feed.close()
        await remote.stop()
        await first.stop()
        if second is not None:
            await second.stop()


async def test_remote_refuses_answers_of_another_shape() -> None:
    """An address that answers JSON of another shape is not an engine: a clear error."""
    answers: dict[str, Any] = {"steps": [], "traces": {"traces": None}, "emit": {"traceId": 7}}

    async def answer(request: Request) -> JSONResponse:
        return JSONResponse(answers[request.path_params["name"]])

    app = Starlette(routes=[Route("/__motia/{name}", answer, methods=["GET", "POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = QuietServer(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                await asyncio.sleep(0.01)
        source = RemoteSource(f"http://127.0.0.1:{server.bound_port}")
        with pytest.raises(SourceError, match="not a JSON object") as steps:
            await source.start()
        with pytest.raises(SourceError, match="no 'traces' list") as traces:
            await source.traces()
        with pytest.raises(SourceError, match="no trace id") as emitted:
            await source.emit("greet", {})
        assert steps.value.status == traces.value.status == emitted.value.status == 502
        await source.stop()
    finally:
        server.should_exit = True
        await serving


def test_remote_feed_skips_what_is_not_an_engine_event() -> None:
    """A newer engine's event type or a garbled frame is skipped; the dropped marker counts,
    and what was held before it goes with the loss (what is drained after a loss all came
    after it: the Logs pane's gap line ends at the first record drained)."""
    feed = _RemoteFeed("ws://127.0.0.1:9/__motia/events", {})
    span = {"type": "span.start", "time": 1.0, "data": {"traceId": "t", "spanId": "s"}}
    after = {"type": "span.start", "time": 2.0, "data": {"traceId": "t", "spanId": "u"}}
    for message in (
        json.dumps({"type": "from.a.newer.engine", "time": 1, "data": {}}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps(span),
        json.dumps({"type": "events.dropped", "time": 0, "data": {"count": 4}}),
        json.dumps(after),
    ):
        feed._receive(message)
    assert feed.drain() == [after]
    assert feed.take_dropped() == 5


READ_QUESTIONS = ("steps", "flows", "stats", "traces", "logs", "state", "streams", "dlq")


async def replay_of(local: LocalSource) -> ReplaySource:
    """Stop the engine and open the tape it recorded."""
    assert local.tape is not None
    path = local.tape.path
    await local.stop()
    replay = ReplaySource(path)
    await replay.start()
    return replay


async def test_replay_answers_as_the_engine_did_at_the_cursor(local: LocalSource) -> None:
    trace_id = await greet(local, local)
    await local.set_state("agree", "k", {"v": [1, "two", None]})
    await local.emit("doomed", {"n": 1})
    await local.engine.idle()
    answers = {name: await getattr(local, name)() for name in READ_QUESTIONS}
    detail = await local.trace(trace_id)
    group = await local.stream_group("greetings", "all")
    errors_only = await local.logs(level="error")
    moment = time.time() * 1000
    await local.set_state("agree", "k", "later")
    await local.engine.idle()

    replay = await replay_of(local)
    replay.seek_time(moment)
    for name, answer in answers.items():
        assert await getattr(replay, name)() == answer, name
    assert await replay.trace(trace_id) == detail
    assert await replay.trace("0" * 32) is None
    assert await replay.stream_group("greetings", "all") == group
    assert await replay.logs(level="error") == errors_only
    assert await replay.traces(status="error") == await replay.traces(step="AlwaysFails")
    with pytest.raises(SourceError) as missing:
        await replay.stream_group("nope", "all")
    assert missing.value.status == 404

    replay.to_end()
    assert (await replay.state())["agree"] == {"k": "later"}
    replay.seek_time(moment)
    assert (await replay.state())["agree"] == {"k": {"v": [1, "two", None]}}
    await replay.stop()


async def test_replay_refuses_every_write(local: LocalSource) -> None:
    replay = await replay_of(local)
    writes = (
        replay.set_state("g", "k", 1),
        replay.delete_state("g", None),
        replay.emit("greet.requested", {"name": "Eve"}),
        replay.trigger_cron("CountTicks"),
        replay.retry_dlq("any"),
        replay.drop_dlq("any"),
        replay.request("GET", "/greetings/1", {}, None),
    )
    for write in writes:
        with pytest.raises(SourceError) as refused:
            await write
        assert refused.value.status == 405
        assert "read-only" in refused.value.message
    await replay.stop()


async def test_replay_feed(local: LocalSource) -> None:
    await greet(local, local)
    replay = await replay_of(local)
    feed = replay.subscribe()
    try:
        replay.seek(replay.total)
        seen = feed.drain()
        assert len(seen) == replay.total
        assert {"span.start", "span.end", "log", "state.change", "stream.change"} <= {
            e["type"] for e in seen
        }
        for event in seen:
            assert set(event) == {"type", "time", "data"}
        assert feed.take_dropped() == 0
        replay.step(-1)
        assert feed.take_dropped() == 1, "a move back makes the panes reload"
        assert feed.drain() == []
    finally:
        feed.close()
        await replay.stop()
