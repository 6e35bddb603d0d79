"""The engine tape: what a run records, how it rotates and prunes, what it masks, what a crash
leaves, and where it records nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pane_harness import copy_project, wait_for

from engine.runtime import Engine
from engine.settings import Settings
from engine.testing import ProjectUnderTest
from motia_tui.replay import ReplaySource, describe
from motia_tui.source import LocalSource
from motia_tui.tape import TapeRecorder, part_path, runs, tape_for
from motia_tui.tape_file import read_tape

MOTIA = [sys.executable, "-m", "motia_tui.cli"]
SESSIONS = Path(".motia") / "sessions"

LEAKY_STEP = """
import os

config = {"type": "api", "name": "Leaky", "path": "/leak", "method": "POST", "emits": [],
          "flows": ["greetings"]}


async def handler(req, context):
    context.logger.info("what came in", {"headers": dict(req.headers),
                                         "token": os.environ["SHOP_API_TOKEN"]})
    await context.state.set("leaks", "last", {"cookie": req.headers.get("cookie"),
                                              "echo": os.environ["SHOP_API_TOKEN"]})
    return {"status": 200, "body": {"ok": True}}
"""


def tape_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def events_in(lines: list[dict[str, Any]]) -> int:
    """Engine events the lines hold: a `span.run` line is a span's start and its end."""
    return sum(2 if line["type"] == "span.run" else 1 for line in lines)


def only_run(project: Path) -> list[Path]:
    found = runs(project / SESSIONS)
    assert len(found) == 1, found
    return next(iter(found.values()))


async def greet(source: LocalSource, name: str) -> None:
    answer = await source.request(
        "POST", "/greet", {"content-type": "application/json"}, json.dumps({"name": name})
    )
    assert answer.status == 200, answer.body
    await source.engine.idle()


async def test_a_run_records_header_snapshot_every_event_and_its_end(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    before = LocalSource(project, Settings(tape=False), "127.0.0.1", 0, watch=False)
    await before.start()
    await before.set_state("settings", "theme", "light")
    await before.stop()
    assert not (project / SESSIONS).exists(), "tape = false records nothing"

    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    await source.start()
    await greet(source, "Ada")
    await source.set_state("settings", "theme", "dark")
    await source.stop()

    [path] = only_run(project)
    lines = tape_lines(path)
    header, snapshot, *events, end = lines
    assert header["type"] == "tape.header"
    assert header["data"]["part"] == 1 and header["data"]["project"] == str(project)
    assert snapshot["type"] == "tape.snapshot"
    assert snapshot["data"]["state"] == {"settings": {"theme": "light"}}
    assert "GreetApi" in {s["name"] for s in snapshot["data"]["steps"]["steps"]}
    assert snapshot["data"]["streams"] == {"greetings": {}}
    assert "omitted" not in snapshot["data"] or snapshot["data"]["omitted"] == {}
    kinds = [e["type"] for e in events]
    for kind in ("span.start", "span.end", "log", "state.change", "stream.change"):
        assert kind in kinds
    assert [e["data"]["value"] for e in events if e["type"] == "state.change"
            and e["data"]["group"] == "settings"] == ["dark"]
    times = [e["time"] for e in lines]
    assert times == sorted(times), "lines are in time order"
    assert end["type"] == "tape.end"
    assert end["data"] == {"events": events_in(events), "dropped": 0}



async def test_a_request_s_spans_and_logs_wait_for_the_writer_as_bytes_not_dicts(
    tmp_path: Path,
) -> None:
    """While a tape records, the loop hands it each span's end and log record as the JSON the
    engine encoded, and a span's start as the running span only until it ends: no request's
    dicts are held until the writer takes them, and the bytes say what the trace and the log
    store hold. A start the writer takes is the span as it started."""
    project = copy_project(tmp_path)
    source = LocalSource(project, Settings(tape=False), "127.0.0.1", 0, watch=False)
    await source.start()
    window = source.engine.events.subscribe_thread(1_000)
    await greet(source, "Ada")
    held = [entry[2] for entry in window._entries
            if type(entry) is tuple and entry[1] == "span.start"]
    assert held and all(type(item) is bytes for start in held for item in start), \
        "an ended span's start holds its JSON, not the span"
    taken, log_times = window.take()
    window.close()
    logs = [entry for entry in taken if type(entry) is bytes]
    entries = [entry for entry in taken if type(entry) is tuple]
    assert len(log_times) == len(logs)
    ends = [data for _time, kind, data in entries if kind == "span.end"]
    assert ends and all(type(data) is bytes for data in ends)
    greeted = [(kind, data if type(data) is dict else json.loads(data))
               for _time, kind, data in entries if kind in ("span.start", "span.end")]
    greeted = [(kind, span) for kind, span in greeted if span["step"] == "GreetApi"]
    assert [kind for kind, _span in greeted] == ["span.start", "span.end"]
    (_, started), (_, ended) = greeted
    assert started["status"] == "running" and started["input"]["body"] == {"name": "Ada"}
    assert started == {**{k: v for k, v in ended.items() if k != "output"}, "status": "running",
                       "durationMs": None, "emits": [], "stateOps": [], "logs": []}
    trace = source.engine.traces.get(ended["traceId"])
    assert trace is not None
    assert next(s for s in trace["spans"] if s["spanId"] == ended["spanId"]) == ended
    assert logs, "a log record waits as its JSON alone, not in an entry tuple"
    assert log_times == sorted(log_times)
    assert all(abs(record["time"] - at) < 1_000 for record, at in zip(map(json.loads, logs),
                                                                      log_times, strict=True))
    assert [json.loads(data) for data in logs] == await source.logs(trace_id=ended["traceId"])
    await source.stop()


DEEP_STEP = """
config = {"type": "api", "name": "Deep", "path": "/deep", "method": "POST", "emits": []}


async def handler(req, context):
    value = "bottom"
    for _ in range(300):
        value = {"down": value}
    context.logger.info("deep", {"value": value})
    return {"status": 200, "body": {"depth": 300}}
"""


async def test_an_event_nested_too_deep_to_encode_is_recorded_cut_short(tmp_path: Path) -> None:
    """A log record and a request body nested 300 levels (orjson encodes 255): the tape keeps
    recording, with the marker where the value was cut, as the store does."""
    project = copy_project(tmp_path)
    (project / "steps" / "deep_step.py").write_text(DEEP_STEP, encoding="utf-8")
    body = '"bottom"'
    for _ in range(300):
        body = '{"down": ' + body + "}"
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    await source.start()
    answer = await source.request("POST", "/deep", {"content-type": "application/json"}, body)
    assert answer.status == 200, answer.body
    await greet(source, "after")
    await source.stop()

    [path] = only_run(project)
    lines = tape_lines(path)
    assert lines[-1]["type"] == "tape.end"
    deep = [e for e in lines if e["type"] == "log" and e["data"]["msg"] == "deep"]
    assert len(deep) == 1 and "[cut: nested deeper than" in json.dumps(deep[0])
    spans = [e for e in lines if e["type"] in ("span.start", "span.end")
             and e["data"]["step"] == "Deep"]
    assert [e["type"] for e in spans] == ["span.start", "span.end"]
    assert all("[cut: nested deeper than" in json.dumps(e["data"]["input"]) for e in spans)
    assert any(e["type"] == "span.end" and e["data"]["step"] == "GreetApi" for e in lines)


async def test_the_snapshot_is_bounded_and_says_what_it_left_out(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    seeding = LocalSource(project, Settings(tape=False), "127.0.0.1", 0, watch=False)
    await seeding.start()
    for n in range(50):
        await seeding.set_state("big", f"k{n:02d}", "x" * 1000)
    await seeding.stop()

    source = LocalSource(project, Settings(tape_snapshot_bytes=20_000), "127.0.0.1", 0,
                         watch=False)
    await source.start()
    await source.stop()
    [path] = only_run(project)
    snapshot = tape_lines(path)[1]["data"]
    kept = len(snapshot["state"]["big"])
    assert 0 < kept < 50
    assert snapshot["omitted"] == {"stateKeys": 50 - kept}
    assert len(path.read_text().splitlines()[1]) < 20_000 + 2_000


async def test_secrets_are_masked_in_the_tape(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "leaky_step.py").write_text(LEAKY_STEP, encoding="utf-8")
    monkeypatch.setenv("SHOP_API_TOKEN", "tok-9f8e7d6c5b4a")
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    await source.start()
    answer = await source.request(
        "POST", "/leak",
        {"Authorization": "Bearer hush-hush-1234", "Cookie": "session=crumbs-5678",
         "content-type": "application/json", "x-request-id": "visible-42"},
        "{}",
    )
    assert answer.status == 200, answer.body
    await source.engine.idle()
    assert (await source.state())["leaks"]["last"]["echo"] == "tok-9f8e7d6c5b4a"
    await source.stop()

    [path] = only_run(project)
    text = path.read_text(encoding="utf-8")
    for secret in ("tok-9f8e7d6c5b4a", "hush-hush-1234", "crumbs-5678"):
        assert secret not in text
    assert "visible-42" in text, "headers that are not secret stay readable"
    logged = next(e for e in tape_lines(path) if e["type"] == "log"
                  and e["data"]["msg"] == "what came in")["data"]
    assert logged["headers"]["authorization"] == "***"
    assert logged["headers"]["cookie"] == "***"
    assert logged["token"] == "***"
    span = next(e for e in tape_lines(path) if e["type"] == "span.start"
                and e["data"]["step"] == "Leaky")["data"]
    assert "authorization" not in span["input"]["headers"], "as the workbench shows the span"


async def test_overflow_writes_a_gap_line_with_the_count(tmp_path: Path) -> None:
    """A tiny buffer and a burst that never yields to the writer: the tape says how many
    events it could not keep, in order, and keeps everything else."""
    project = copy_project(tmp_path)
    source = LocalSource(project, Settings(tape=False), "127.0.0.1", 0, watch=False)
    await source.start()
    engine = source.engine
    counting = engine.events.subscribe(maxsize=100_000)
    recorder = TapeRecorder(engine, project / SESSIONS, part_bytes=50 * 2**20, keep_runs=10,
                            snapshot_bytes=2**20, buffer_events=10)
    recorder.start()
    await wait_for(lambda: recorder.path.exists() and recorder.path.stat().st_size > 0,
                   what="the tape file")
    for n in range(500):
        engine.set_state("burst", f"k{n}", n)  # no await: the loop never lets go meanwhile
    await wait_for(lambda: recorder.backlog == 0, what="the writer to catch up")
    engine.set_state("after", "burst", True)
    await engine.idle()
    published = counting.drain()
    await source.stop()
    await recorder.stop()

    lines = tape_lines(recorder.path)
    events = lines[2:-1]
    gaps = [e for e in events if e["type"] == "events.dropped"]
    assert gaps, "the overflow is on the tape"
    lost = sum(g["data"]["count"] for g in gaps)
    assert lines[-1]["data"]["dropped"] == lost
    assert events.index(gaps[0]) >= 1, "the gap sits where the events went missing"

    def after_burst(event: dict[str, Any]) -> bool:
        return event["type"] == "state.change" and event["data"]["group"] == "after"

    recorded = [e for e in events if e["type"] != "events.dropped"]
    mark_recorded = next(i for i, e in enumerate(recorded) if after_burst(e))
    mark_published = next(i for i, e in enumerate(published) if after_burst(e.to_json()))
    assert mark_recorded + lost == mark_published, "every event is either written or counted"

    replay = ReplaySource(recorder.path)
    await replay.start()
    gap_at = next(i for i in range(replay.total) if (replay.event(i) or {}).get("type")
                  == "events.dropped")
    replay.seek(gap_at + 1)
    assert f"{gaps[0]['data']['count']} events not recorded here" in describe(replay)


async def test_a_run_continues_in_new_parts_and_replays_across_them(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    source = LocalSource(project, Settings(tape_part_bytes=6_000), "127.0.0.1", 0, watch=False)
    await source.start()
    for n in range(12):
        await greet(source, f"guest{n}")
    await source.stop()

    parts = only_run(project)
    assert len(parts) >= 3
    run = parts[0].name.removesuffix(".jsonl")
    assert parts[1] == part_path(project / SESSIONS, run, 2)
    recorded = 0
    for number, path in enumerate(parts, start=1):
        lines = tape_lines(path)
        assert lines[0]["type"] == "tape.header" and lines[0]["data"]["part"] == number
        body = lines[2:] if number == 1 else lines[1:]
        recorded += events_in([e for e in body if not e["type"].startswith("tape.")])
        assert path.stat().st_size <= 6_000 or len(lines) <= 3
    assert tape_lines(parts[-1])[-1]["type"] == "tape.end"

    replay = ReplaySource(parts[1])
    await replay.start()
    assert replay.total == recorded
    replay.to_end()
    greeted = (await replay.state())["greetings"]
    assert len(greeted) == 12


async def test_only_the_newest_runs_are_kept(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    folder = project / SESSIONS
    folder.mkdir(parents=True)
    old = ["20200101T000000.000Z-1", "20200102T000000.000Z-1", "20200103T000000.000Z-1",
           "20200104T000000.000Z-1"]
    for run in old:
        part_path(folder, run, 1).write_text("{}\n")
    part_path(folder, old[0], 2).write_text("{}\n")
    (folder / "notes.txt").write_text("not a tape")

    source = LocalSource(project, Settings(tape_runs=3), "127.0.0.1", 0, watch=False)
    await source.start()
    assert source.tape is not None
    await wait_for(lambda: len(runs(folder)) == 3, what="the old runs to be pruned")
    await source.stop()
    kept = list(runs(folder))
    assert kept == [old[2], old[3], source.tape.run]
    assert (folder / "notes.txt").exists(), "only tape files are removed"


async def test_no_tape_in_memory_in_the_harness_or_in_start(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    memory = LocalSource(project, Settings(store=":memory:"), "127.0.0.1", 0, watch=False)
    assert memory.tape is None
    await memory.start()
    await greet(memory, "Ada")
    await memory.stop()
    async with ProjectUnderTest(project) as harness:
        await harness.client.post("/greet", json={"name": "Eve"})
        await harness.idle()
        assert tape_for(harness.engine) is None
    assert tape_for(Engine(project, Settings(), mode="start")) is None
    (project / "motia.toml").write_text("tape = false\n")
    from engine.settings import load_settings

    assert tape_for(Engine(project, load_settings(project), mode="dev")) is None
    assert not (project / ".motia" / "sessions").exists()
    assert tape_for(Engine(project, replace(Settings(), tape=True), mode="dev")) is not None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_tape_cut_by_kill_9_replays_to_its_last_complete_line(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [*MOTIA, "dev", "--no-tui", "--port", str(port), "--dir", str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    answered = 0
    stop = threading.Event()

    def load() -> None:
        nonlocal answered
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while not stop.is_set():
                try:
                    client.post("/greet", json={"name": "Kim"})
                    answered += 1
                except httpx.HTTPError:
                    if stop.is_set():
                        return
                    time.sleep(0.05)

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/__motia/steps", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        while answered < 150 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        stop.set()
        for thread in threads:
            thread.join(10)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert answered >= 150

    [path] = only_run(project)
    data = path.read_bytes()
    tape = read_tape(path)
    assert not tape.ended, "a killed run has no end line"
    complete = data[: data.rfind(b"\n") + 1].splitlines()
    assert len(tape.lines) == events_in([json.loads(line) for line in complete[2:]]), \
        "every complete line but header and snapshot"
    assert tape.cut_bytes == len(data) - data.rfind(b"\n") - 1

    cut = tmp_path / "cut"
    cut.mkdir()
    middle = data.rfind(b"\n", 0, len(data) // 2) + 1
    (cut / path.name).write_bytes(data[: middle + 25])
    half = read_tape(cut / path.name)
    assert half.cut_bytes == 25
    assert list(dict.fromkeys(half.lines)) == complete[2: len(data[:middle].splitlines())]


async def test_replaying_a_killed_run_reaches_its_last_complete_line(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    await source.start()
    for name in ("Ada", "Bo", "Cy"):
        await greet(source, name)
    assert source.tape is not None
    path = source.tape.path
    await wait_for(lambda: b'"Hello, Cy!"' in path.read_bytes(), what="the last greeting")
    data = path.read_bytes()
    await source.stop()
    path.write_bytes(data + b'{"time":1,"type":"log","data":{"msg":"half a li')

    replay = ReplaySource(project)
    await replay.start()
    replay.to_end()
    assert len((await replay.state())["greetings"]) == 3
    assert replay.tape is not None and not replay.tape.ended
    assert replay.tape.cut_bytes > 0


async def test_replay_reads_every_event_back_as_published_a_span_run_as_start_and_end(
    tmp_path: Path,
) -> None:
    """Spans with nothing between their start and end are one `span.run` line; replay reads
    it as the two events the engine published, at their times, as a tape of one line per
    event would replay."""
    project = copy_project(tmp_path)
    source = LocalSource(project, Settings(), "127.0.0.1", 0, watch=False)
    await source.start()
    published = source.engine.events.subscribe(maxsize=100_000)
    for name in ("Ada", "Bo"):
        await greet(source, name)
    assert source.tape is not None
    path = source.tape.path
    await wait_for(lambda: b'"Hello, Bo!"' in path.read_bytes(), what="the last greeting")
    events = [e.to_json() for e in published.drain()]
    await source.stop()

    lines = tape_lines(path)
    kinds = {line["type"] for line in lines}
    assert {"span.run", "span.start", "span.end"} <= kinds, kinds
    replay = ReplaySource(path)
    await replay.start()
    replayed = [replay.event(index) for index in range(replay.total)]
    assert replayed[: len(events)] == json.loads(json.dumps(events))

    unmerged = tmp_path / "unmerged" / path.name
    unmerged.parent.mkdir()
    with unmerged.open("w", encoding="utf-8") as out:
        for line in lines:
            if line["type"] == "span.run":
                start = {k: v for k, v in line["data"].items() if k not in ("output", "topic")}
                start.update(status="running", durationMs=None, emits=[], stateOps=[], logs=[])
                split = [{"time": line["time"], "type": "span.start", "data": start},
                         {"time": line["end"], "type": "span.end", "data": line["data"]}]
            else:
                split = [line]
            out.writelines(json.dumps(one, separators=(",", ":")) + "\n" for one in split)
    before = ReplaySource(unmerged)
    await before.start()
    assert before.total == replay.total
    assert [before.event(index) for index in range(before.total)] == replayed
    for position in range(0, replay.total + 1, 7):
        replay.seek(position)
        before.seek(position)
        assert replay.time == before.time
        assert await replay.stats() == await before.stats()
        assert await replay.traces() == await before.traces()
