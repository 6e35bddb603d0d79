"""Stream fan-out benchmark: one group, 1,000 WebSocket subscribers, a real server.

    python bench/streams.py [--subscribers 1000] [--updates 200] [--burst 500] [--no-write]

The server runs in its own process (uvloop when installed) on 127.0.0.1; the subscribers are
`websockets` asyncio clients in this process, each joining the same group as Motia's clients
do. Two measures:

1. Fan-out latency: one update at a time, set by an api step that stamps the item with the
   wall clock at the moment of the set; each subscriber records the time from that stamp to
   its receipt. p50 and p99 over every (update, subscriber) pair, and the time until the last
   subscriber has it.
2. Throughput: one step writes a burst of updates; updates per second until every subscriber
   has received every one of them (each update is one message to each subscriber).

Figures go to the "## Streams" section of bench/RESULTS.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from results import RESULTS, write_section
from websockets.asyncio.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
SECTION = "## Streams"
GROUP = "crowd"

STREAM_FILE = """
config = {"name": "board", "schema": None, "baseConfig": {"storageType": "default"}}
"""

PROBE_STEP = """
import time

config = {"type": "api", "name": "Probe", "path": "/probe/:n", "method": "POST", "emits": [],
          "flows": ["bench"]}


async def handler(req, context):
    n = int(req.pathParams["n"])
    await context.streams.board.set("crowd", "probe", {"n": n, "t": time.time()})
    return {"status": 204}
"""

BURST_STEP = """
import asyncio
import time

config = {"type": "api", "name": "Burst", "path": "/burst/:count", "method": "POST",
          "emits": [], "flows": ["bench"]}


async def handler(req, context):
    for n in range(int(req.pathParams["count"])):
        context.streams.board.set("crowd", f"item-{n % 100}", {"n": n, "t": time.time()})
        await asyncio.sleep(0)
    return {"status": 204}
"""

CPU_STEP = """
import time

config = {"type": "api", "name": "Cpu", "path": "/cpu", "method": "GET", "emits": [],
          "flows": ["bench"]}


async def handler(req, context):
    return {"status": 200, "body": {"cpu": time.process_time()}}
"""

SERVER = """
import asyncio, resource, sys
from engine.runtime import Engine
from engine.server import EngineServer
from engine.settings import Settings

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main():
    srv = EngineServer(Engine(sys.argv[1], Settings()), "127.0.0.1", 0, introspect=True,
                       token=None, cors_origins=None, watch=False)
    await srv.start()
    print(srv.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await srv.stop()

try:
    import uvloop
    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
except ImportError:
    runner = asyncio.Runner()
with runner:
    runner.run(main())
"""


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(project: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(project)],
        cwd=HERE.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return process, int(line)


class Subscriber:
    """One client: its latency samples and how many updates it has seen."""

    def __init__(self, ws: ClientConnection, compression: bool) -> None:
        self.ws = ws
        self.compressed = compression
        self.latencies: list[float] = []
        self.seen = 0
        self.closed_by: int | None = None


class Crowd:
    """Every subscriber, and a way to wait until all of them have seen `count` updates."""

    def __init__(self, subscribers: list[Subscriber]) -> None:
        self.subscribers = subscribers
        self.lagging = len(subscribers)
        self.target = 0
        self.done = asyncio.Event()
        self.last_receipt = 0.0

    def expect(self, total: int) -> None:
        self.target = total
        self.lagging = sum(1 for s in self.subscribers if s.seen < total)
        self.done.clear()
        if not self.lagging:
            self.done.set()

    def saw(self, subscriber: Subscriber, received: float) -> None:
        subscriber.seen += 1
        if subscriber.seen == self.target:
            self.lagging -= 1
            if not self.lagging:
                self.last_receipt = received
                self.done.set()


async def follow(crowd: Crowd, subscriber: Subscriber, record: list[bool]) -> None:
    try:
        async for raw in subscriber.ws:
            received = time.time()
            message = json.loads(raw)
            event = message["event"]
            if event["type"] != "update" and event["type"] != "create":
                continue
            if record[0]:
                subscriber.latencies.append(received - event["data"]["t"])
            crowd.saw(subscriber, received)
    except Exception:
        pass
    finally:
        subscriber.closed_by = subscriber.ws.close_code


async def open_subscribers(port: int, count: int, compression: bool) -> list[Subscriber]:
    url = f"ws://127.0.0.1:{port}/"
    subscribers: list[Subscriber] = []
    join = json.dumps(
        {"type": "join", "data": {"streamName": "board", "groupId": GROUP, "subscriptionId": "s"}}
    )
    for start in range(0, count, 100):
        batch = await asyncio.gather(
            *(
                connect(
                    url,
                    compression="deflate" if compression else None,
                    ping_interval=None,
                    max_queue=None,
                    open_timeout=30,
                )
                for _ in range(start, min(count, start + 100))
            )
        )
        for ws in batch:
            await ws.send(join)
            await ws.recv()
            subscribers.append(Subscriber(ws, compression))
    return subscribers


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def run(port: int, subscribers: int, updates: int, burst: int, compression: bool) -> dict:
    crowd = Crowd(await open_subscribers(port, subscribers, compression))
    record = [True]
    tasks = [asyncio.ensure_future(follow(crowd, s, record)) for s in crowd.subscribers]
    completion: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        for n in range(updates):
            crowd.expect(n + 1)
            started = time.time()
            await http.post(f"/probe/{n}")
            await asyncio.wait_for(crowd.done.wait(), 60)
            completion.append(crowd.last_receipt - started)
        record[0] = False
        crowd.expect(updates + burst)
        server_cpu = (await http.get("/cpu")).json()["cpu"]
        client_cpu = time.process_time()
        started = time.time()
        await http.post(f"/burst/{burst}")
        await asyncio.wait_for(crowd.done.wait(), 600)
        burst_s = crowd.last_receipt - started
        client_cpu = time.process_time() - client_cpu
        server_cpu = (await http.get("/cpu")).json()["cpu"] - server_cpu
    latencies = [x for s in crowd.subscribers for x in s.latencies]
    for subscriber in crowd.subscribers:
        await subscriber.ws.close()
    await asyncio.gather(*tasks)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "all_p50_ms": statistics.median(completion) * 1000,
        "all_p99_ms": percentile(completion, 0.99) * 1000,
        "updates_per_s": burst / burst_s,
        "messages_per_s": burst * subscribers / burst_s,
        "server_cpu": server_cpu / burst_s,
        "client_cpu": client_cpu / burst_s,
        "dropped": sum(1 for s in crowd.subscribers if s.closed_by not in (None, 1000)),
    }


def measure(args: argparse.Namespace, compression: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "stream_bench"
        (project / "steps").mkdir(parents=True)
        (project / "steps" / "board_stream.py").write_text(STREAM_FILE)
        (project / "steps" / "probe_step.py").write_text(PROBE_STEP)
        (project / "steps" / "burst_step.py").write_text(BURST_STEP)
        (project / "steps" / "cpu_step.py").write_text(CPU_STEP)
        process, port = start_server(project)
        try:
            return asyncio.run(run(port, args.subscribers, args.updates, args.burst, compression))
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def row(label: str, figures: dict[str, Any]) -> str:
    return (
        f"| {label} | {figures['p50_ms']:.1f} ms | {figures['p99_ms']:.1f} ms | "
        f"{figures['all_p50_ms']:.1f} ms | {figures['all_p99_ms']:.1f} ms | "
        f"{figures['updates_per_s']:,.0f} ({figures['messages_per_s']:,.0f} messages/s) | "
        f"{figures['server_cpu']:.0%} / {figures['client_cpu']:.0%} | {figures['dropped']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md alone")
    args = parser.parse_args()
    raise_fd_limit()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    deflate = measure(args, compression=True)
    print("permessage-deflate:", deflate)
    plain = measure(args, compression=False)
    print("uncompressed:", plain)
    if args.no_write:
        return
    cpu = platform.processor() or platform.machine()
    body = f"""
Run on {time.strftime("%Y-%m-%d")}, {os.cpu_count()} cores ({cpu}), Python
{platform.python_version()}, `python bench/streams.py --subscribers {args.subscribers}
--updates {args.updates} --burst {args.burst}`: the server in one process, {args.subscribers}
`websockets` subscribers on one group in another, over loopback.

| clients | latency p50 | latency p99 | last subscriber p50 | last subscriber p99 | \
updates/s to all | CPU server / clients | dropped |
| --- | --- | --- | --- | --- | --- | --- | --- |
{row("permessage-deflate (as Motia's npm client offers)", deflate)}
{row("uncompressed", plain)}

Latency is from the step's `set` (the item carries the wall clock at that moment) to the
subscriber's receipt, over every (update, subscriber) pair of {args.updates} updates sent one
at a time; "last subscriber" is the time from the request until all {args.subscribers} have it.
Updates/s is a burst of {args.burst} updates written by one step, until every subscriber has
every one; each update is one message to each subscriber. "CPU" is the share of one core each
process used during the burst: the subscribers share one Python process, so when both are
near 100% the pair is saturated and the figure is a floor for the server, not a ceiling.
"""
    write_section(SECTION, body)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
