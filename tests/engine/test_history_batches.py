"""History (spans, log records, triggers) reaches the SQLite files in batches half a second
apart (triggers two seconds apart under steady traffic), apart from the units of work, and
nothing that reads history from the disk misses what is still waiting to be written."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Callable
from pathlib import Path

from engine_support import served, wait_until

from engine import Settings
from engine.effects import SpanRecord
from engine.stores.sqlite.store import HISTORY_DELAY_S, TRIGGER_DELAY_S, SqliteStore

MakeProject = Callable[[dict[str, str]], Path]

STEPS = {
    "steps/note_step.py": """
        config = {"type": "api", "name": "Note", "path": "/note/:n", "method": "POST",
                  "emits": []}

        async def handler(req, context):
            context.logger.info(f"note {req.pathParams.n}")
            return {"status": 200, "body": {"traceId": context.trace_id}}
    """,
}


def _on_disk(project: Path, sql: str) -> int:
    conn = sqlite3.connect(project / ".motia" / "store.sqlite3")
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def test_history_is_written_after_a_quiet_half_second(project: MakeProject) -> None:
    root = project(STEPS)
    async with served(root) as (_engine, client):
        for n in range(5):
            assert (await client.post(f"/note/{n}")).status_code == 200
        await wait_until(
            lambda: _on_disk(root, "SELECT count(*) FROM logs WHERE msg LIKE 'note %'") == 5
            and _on_disk(root, "SELECT count(*) FROM spans") >= 5,
            timeout=10 * HISTORY_DELAY_S + 5,
            what="the burst's spans and logs on disk, with no more traffic",
        )


async def test_log_search_from_the_disk_finds_records_not_yet_written(
    project: MakeProject,
) -> None:
    """With the memory ring full, a search goes to the disk, where the newest records may
    still be waiting for their batch: the search waits for them."""
    root = project(STEPS)
    async with served(root, Settings(memory_window=5)) as (engine, client):
        for n in range(20):
            assert (await client.post(f"/note/{n}")).status_code == 200
        found = await engine.logs.find(text="note 19")
        assert [record["msg"] for record in found] == ["note 19"]
        found = await engine.logs.find(text="note 0")
        assert [record["msg"] for record in found] == ["note 0"]


async def test_a_trace_gone_from_memory_is_read_from_the_disk_at_once(
    project: MakeProject,
) -> None:
    root = project(STEPS)
    async with served(root, Settings(memory_window=5)) as (engine, client):
        first = (await client.post("/note/0")).json()["traceId"]
        for n in range(1, 20):
            assert (await client.post(f"/note/{n}")).status_code == 200
        assert engine.traces.get(first) is None, "evicted from the memory window"
        trace = await engine.traces.find(first)
        assert trace is not None and [s["step"] for s in trace["spans"]] == ["Note"]


async def test_the_memory_window_answers_as_the_disk_does(project: MakeProject) -> None:
    """Ended spans are held in memory as the JSON the store writes: a trace read from memory,
    from the disk, and again from memory after a restart are the same trace."""
    root = project(STEPS)
    async with served(root) as (engine, client):
        ids = [(await client.post(f"/note/{n}")).json()["traceId"] for n in range(3)]
        in_memory = [engine.traces.get(trace_id) for trace_id in ids]
        await engine.store.settled()
        from_disk = [engine.traces.load(trace_id) for trace_id in ids]
        listed = {t["traceId"]: t for t in engine.traces.list(limit=10)}
    assert in_memory == from_disk
    for trace in in_memory:
        assert trace is not None and trace["status"] == "ok"
        [span] = trace["spans"]
        assert span["output"] == {"status": 200, "body": {"traceId": trace["traceId"]}}
        assert [log["msg"] for log in span["logs"]] == [f"note {ids.index(trace['traceId'])}"]
        row = listed[trace["traceId"]]
        assert row["spans"] == 1
        assert {k: v for k, v in row.items() if k != "spans"} == {
            k: v for k, v in trace.items() if k not in ("spans", "reruns")
        }
    async with served(root) as (engine, _client):
        assert [engine.traces.get(trace_id) for trace_id in ids] == in_memory


async def test_triggers_reach_their_file_within_half_a_second_and_only_the_newest(
    project: MakeProject,
) -> None:
    """Triggers wait longer than spans, netted as they wait: a burst past `trigger_store`
    writes only the newest, and they are on disk within the delay with no more traffic."""
    root = project(STEPS)
    triggers = root / ".motia" / "store.triggers.sqlite3"
    async with served(root, Settings(trigger_store=5)) as (_engine, client):
        ids = [(await client.post(f"/note/{n}")).json()["traceId"] for n in range(12)]

        def on_disk() -> list[str]:
            conn = sqlite3.connect(triggers)
            try:
                return [row[0] for row in conn.execute("SELECT trace_id FROM triggers")]
            finally:
                conn.close()

        await wait_until(
            lambda: sorted(on_disk()) == sorted(ids[-5:]),
            timeout=10 * HISTORY_DELAY_S + 5,
            what="the burst's newest five triggers on disk, with no more traffic",
        )


async def test_a_busy_server_writes_its_triggers_every_two_seconds(
    project: MakeProject,
) -> None:
    """Under steady traffic each write of triggers replaces the newest thousand: they go every
    `TRIGGER_DELAY_S`, not with every half second's spans, and a read still finds them."""
    root = project(STEPS)
    async with served(root) as (engine, client):
        await client.post("/note/0")
        await engine.store.settled()
        conn = sqlite3.connect(root / ".motia" / "store.triggers.sqlite3")
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            writes = 0
            loop = asyncio.get_running_loop()
            end = loop.time() + 1.5 * TRIGGER_DELAY_S
            last = ""
            while loop.time() < end:
                last = (await client.post("/note/1")).json()["traceId"]
                now = conn.execute("PRAGMA data_version").fetchone()[0]
                writes += now != version
                version = now
            assert writes <= 2, f"{writes} writes of triggers in {1.5 * TRIGGER_DELAY_S} s"
            await engine.store.settled()
            found = conn.execute("SELECT count(*) FROM triggers WHERE trace_id = ?", (last,))
            assert found.fetchone()[0] == 1
        finally:
            conn.close()


CHAIN = {
    **STEPS,
    "steps/relay_step.py": """
        config = {"type": "api", "name": "Relay", "path": "/relay", "method": "POST",
                  "emits": ["relayed"]}

        async def handler(req, context):
            await context.emit({"topic": "relayed", "data": {"n": 1}})
            return {"status": 200, "body": {}}
    """,
    "steps/heard_step.py": """
        config = {"type": "event", "name": "Heard", "subscribes": ["relayed"], "emits": []}

        async def handler(input, context):
            context.logger.info("heard")
    """,
}


async def test_rows_reach_sqlite_as_values_it_binds_without_an_adapter(
    project: MakeProject,
) -> None:
    """SQLite's module binds an exact `int`, `float` or `str` as it is; any other value
    (a `bool`, `None`) is first looked up among the adapters, and each lookup that finds none
    raises and formats an exception on the writer thread, with the interpreter lock held.
    Adapters registered for those types count what reaches that path from the runs' rows; a
    span's root flag, a bool, reached it once a span."""
    adapted: list[object] = []

    def counted(value: object) -> object:
        adapted.append(value)
        return value

    kinds = (bool, type(None))
    for kind in kinds:
        sqlite3.register_adapter(kind, counted)
    root = project(CHAIN)
    try:
        async with served(root) as (engine, client):
            await engine.store.settled()
            adapted.clear()  # the server's own start-up records, outside any trace
            for n in range(3):
                assert (await client.post(f"/note/{n}")).status_code == 200
                assert (await client.post("/relay")).status_code == 200
            await wait_until(lambda: engine.executor.stats["Heard"]["runs"] == 3, what="3 runs")
            await engine.store.settled()
            of_the_runs = list(adapted)  # not the server's own records as it stops
    finally:
        for kind in kinds:
            sqlite3.adapters.pop((kind, sqlite3.PrepareProtocol), None)
    assert _on_disk(root, "SELECT count(*) FROM spans WHERE root = 1") == 6
    assert _on_disk(root, "SELECT count(*) FROM spans WHERE root = 0") == 3
    assert _on_disk(root, "SELECT count(*) FROM spans WHERE typeof(root) != 'integer'") == 0
    assert of_the_runs == []


async def test_waiting_log_records_are_no_objects_for_the_collector(tmp_path: Path) -> None:
    """Under a flood thousands of log records wait for their batch: each waits as its fields
    in one flat list, so the young collections do not walk a tuple a record, and they reach
    the disk as they came, in order, with the spans among them."""
    store = SqliteStore(tmp_path / "store.sqlite3", 100, 100_000)
    store.start(asyncio.get_running_loop(), lambda _health: None)
    messages = [f"record {n}" for n in range(2_000)]
    span: SpanRecord = ("span-1", "trace-1", 1, 5.0, '{"spanId": "span-1"}', False)
    gc.disable()
    try:
        before = gc.get_count()[0]
        for n, message in enumerate(messages):
            store.record((float(n), 20, "trace-1", "Flood", message, "{}"))
        after = gc.get_count()[0]
    finally:
        gc.enable()
    assert after - before < 50, f"{after - before} objects left for the collector"
    store.record(span)
    store.record((2_000.0, 40, None, None, "last", '{"msg": "last"}'))
    await store.settled()
    await store.close()
    conn = sqlite3.connect(tmp_path / "store.sqlite3")
    try:
        rows = conn.execute("SELECT time, level, trace_id, step, msg, record FROM logs"
                            " ORDER BY id").fetchall()
        spans = conn.execute("SELECT span_id, trace_id, root, start FROM spans").fetchall()
    finally:
        conn.close()
    assert rows == [(float(n), 20, "trace-1", "Flood", message, "{}")
                    for n, message in enumerate(messages)] + [
        (2_000.0, 40, None, None, "last", '{"msg": "last"}')]
    assert spans == [("span-1", "trace-1", 1, 5.0)]
