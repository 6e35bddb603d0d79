"""Redis benchmark: the three-step chain on Redis with one and two workers, against the
embedded engine in the same run.

    python bench/redis.py [--events 5000] [--rounds 3] [--redis redis://127.0.0.1:6379/0]
                          [--no-record]

1. Events/s through a three-step chain (event -> event -> event) on the embedded engine (the
   SQLite store), in this process: the baseline.
2. The same chain with one worker on Redis (an engine in this process, `--redis`).
3. The same chain with two `motia start --redis` worker processes; this process only emits
   (an engine on the same project that takes no events) and counts the finished ones.
4. Emit-to-handler latency (p50, p99) on the embedded engine and on one Redis worker, one
   event at a time.
5. Redis commands per event, Redis's CPU time per event and the worker's (this process's
   CPU clock: the worker and the emitting) through the chain with one worker, on a private
   `redis-server` this run starts on a free port (INFO commandstats counts every command a
   script runs too): figures that move far less with the machine's load than events/s.

An engine in this process is tuned as `motia start` tunes its own once it serves
(engine.tuning: what exists after start-up frozen out of the collector's walks, young
collections rarer), so that it is measured as it runs. Rounds alternate the three set-ups;
each figure is the median of its rounds, with the range. Every key is under a prefix of this
run's own, deleted afterwards. Figures go to the "## Redis" section of bench/RESULTS.md
unless `--no-record`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file is named like the `redis` package it drives: take its folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import redis  # noqa: E402


def write_section(title: str, body: str) -> None:
    """bench/results.py's, loaded by path: this folder is off the import path."""
    spec = importlib.util.spec_from_file_location("bench_results", HERE / "results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_section(title, body)

SECTION = "## Redis"
CHAIN = {
    "first_step.py": ("First", "bench.start", "bench.second"),
    "second_step.py": ("Second", "bench.second", "bench.third"),
    "third_step.py": ("Third", "bench.third", None),
}
PROBE_STEP = '''
import time

config = {"type": "event", "name": "Probe", "subscribes": ["bench.probe"], "emits": []}
SEEN = []


async def handler(input, context):
    SEEN.append(time.time() - input["sent"])
'''


def write_chain(project: Path) -> None:
    steps = project / "steps"
    steps.mkdir(parents=True)
    for file, (name, topic, emits) in CHAIN.items():
        emit = (
            f'await context.emit({{"topic": "{emits}", "data": input}})'
            if emits
            else 'await context.state.set("bench", str(input["n"]), 1)'
        )
        steps.joinpath(file).write_text(
            f'config = {{"type": "event", "name": "{name}", "subscribes": ["{topic}"], '
            f'"emits": {[emits] if emits else []!r}}}\n\n\n'
            f"async def handler(input, context):\n    {emit}\n"
        )
    steps.joinpath("probe_step.py").write_text(PROBE_STEP)


async def finished(engine, events: int, prefix: str | None, url: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the last step set its key for every event. Redis is asked from a thread:
    a blocking call on the loop would stall the worker it measures for a round trip."""
    client = redis.Redis.from_url(url) if prefix else None
    while True:
        if client is not None:
            count = await asyncio.to_thread(client.hlen, f"{prefix}:state:bench")
        else:
            count = len(engine.state.get_group("bench"))
        if count >= events:
            return
        await asyncio.sleep(0.02)


async def chain_round(project: Path, events: int, url: str | None, workers: int) -> float:
    """Events/s through the chain: embedded (`url` None), or on Redis with `workers`
    worker processes (0: the engine in this process is the one worker)."""
    from engine import Engine, Settings, tuning

    prefix = f"motia-bench-{uuid.uuid4().hex[:8]}" if url else None
    settings = Settings(store=str(project / f"{uuid.uuid4().hex}.sqlite3"))
    if url:
        settings = Settings(redis_url=url, redis_prefix=prefix)
    procs = [start_worker(project, url, prefix) for _ in range(workers)] if url else []
    engine = Engine(project, settings, mode="start")
    await engine.start()
    tuning.tune_process()  # as `motia start` does once it serves
    try:
        if procs:
            engine.store.stop_claiming()  # this process only emits
            await asyncio.sleep(2.0)  # the workers are up and reading
        started = time.perf_counter()
        for offset in range(0, events, 500):
            for index in range(offset, min(offset + 500, events)):
                engine.emit("bench.start", {"n": index})
            await asyncio.sleep(0)
        await asyncio.wait_for(finished(engine, events, prefix, url or ""), 300)
        elapsed = time.perf_counter() - started
    finally:
        await engine.stop()
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        if url and prefix:
            delete_prefix(url, prefix)
    return events / elapsed


async def latency(project: Path, url: str | None) -> tuple[float, float]:
    from engine import Engine, Settings, tuning

    prefix = f"motia-bench-{uuid.uuid4().hex[:8]}"
    settings = (
        Settings(redis_url=url, redis_prefix=prefix)
        if url
        else Settings(store=str(project / f"{uuid.uuid4().hex}.sqlite3"))
    )
    engine = Engine(project, settings, mode="start")
    await engine.start()
    tuning.tune_process()  # as `motia start` does once it serves
    try:
        module = sys.modules[next(n for n in sys.modules if n.endswith("probe_step"))]
        module.SEEN.clear()
        for _ in range(500):
            before = len(module.SEEN)
            engine.emit("bench.probe", {"sent": time.time()})
            while len(module.SEEN) == before:
                await asyncio.sleep(0.0005)
        seen = sorted(module.SEEN[50:])
    finally:
        await engine.stop()
        if url:
            delete_prefix(url, prefix)
    return statistics.median(seen) * 1000, seen[int(len(seen) * 0.99) - 1] * 1000


async def redis_cost(
    project: Path, events: int
) -> tuple[float, float, float, float, dict[str, float]]:
    """Commands, script calls, Redis's and the worker's CPU microseconds per event through the
    chain, with the top commands per event, on a private redis-server."""
    from engine import Engine, Settings, tuning

    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", folder],
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url, decode_responses=True)
            for _ in range(200):
                with contextlib.suppress(redis.RedisError):
                    client.ping()
                    break
                time.sleep(0.05)
            engine = Engine(project, Settings(redis_url=url, redis_prefix="cost"), mode="start")
            await engine.start()
            tuning.tune_process()
            try:
                await asyncio.sleep(0.5)  # groups made, first heartbeat beaten
                await engine.store.settled()
                client.config_resetstat()
                cpu = client.info("cpu")
                worker_cpu = time.process_time()
                for index in range(events):
                    engine.emit("bench.start", {"n": index})
                    if index % 500 == 499:
                        await asyncio.sleep(0)
                await asyncio.wait_for(finished(engine, events, "cost", url), 300)
                await engine.store.settled()
                worker_cpu = time.process_time() - worker_cpu
                stats = client.info("commandstats")
                after = client.info("cpu")
            finally:
                await engine.stop()
            client.close()
        finally:
            server.terminate()
            server.wait(10)
    used = sum(after[k] - cpu[k] for k in ("used_cpu_user", "used_cpu_sys")) * 1e6
    calls = {name[8:]: row["calls"] / events for name, row in stats.items()}
    scripts = calls.get("evalsha", 0.0) + calls.get("eval", 0.0)
    total = sum(n for name, n in calls.items() if name not in ("evalsha", "eval"))
    top = dict(sorted(calls.items(), key=lambda item: -item[1])[:8])
    return total, scripts, used / events, worker_cpu * 1e6 / events, top


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_worker(project: Path, url: str, prefix: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MOTIA_REDIS_PREFIX": prefix or "", "MOTIA_PORT": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "motia_tui.cli", "start", "--dir", str(project), "--redis", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1_000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f} to {max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"embedded": [], "one": [], "two": []}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "redisbench"
        write_chain(project)
        for _ in range(args.rounds):
            figures["embedded"].append(asyncio.run(chain_round(project, args.events, None, 0)))
            figures["one"].append(asyncio.run(chain_round(project, args.events, args.redis, 0)))
            figures["two"].append(asyncio.run(chain_round(project, args.events, args.redis, 2)))
            print({k: v[-1] for k, v in figures.items()}, flush=True)
        embedded_lat = asyncio.run(latency(project, None))
        redis_lat = asyncio.run(latency(project, args.redis))
        commands, script_calls, redis_cpu, worker_cpu, top = asyncio.run(
            redis_cost(project, args.events)
        )
    load = os.getloadavg()
    one = statistics.median(figures["one"])
    base = statistics.median(figures["embedded"])
    two = statistics.median(figures["two"])
    body = f"""
Run on {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, Python
{platform.python_version()}, load average {load[0]:.1f} at the end, `python bench/redis.py
--events {args.events} --rounds {args.rounds}`; medians of {args.rounds} alternating rounds,
range in brackets.

| measure | figure | target |
| --- | --- | --- |
| chain on the embedded engine (SQLite), events/s | {spread(figures['embedded'])} | baseline |
| chain on Redis, one worker (in process), events/s | {spread(figures['one'])} | >= 5,000 |
| one Redis worker / embedded | {one / base:.0%} | |
| chain on Redis, two `motia start` workers, events/s | {spread(figures['two'])} | |
| two workers / one worker | {two / one:.2f}x | |
| emit-to-handler latency, embedded, p50 / p99 | {embedded_lat[0]:.2f} / \
{embedded_lat[1]:.2f} ms | |
| emit-to-handler latency, one Redis worker, p50 / p99 | {redis_lat[0]:.2f} / \
{redis_lat[1]:.2f} ms | |
| Redis commands per event, one worker (script calls per event) | {commands:.1f} \
({script_calls:.3f}) | |
| Redis CPU per event, one worker | {redis_cpu:.0f} µs | |
| the worker's CPU per event (in process, with the emitting) | {worker_cpu:.0f} µs | |

Commands per event, the most frequent: {", ".join(f"{k} {v:.2f}" for k, v in top.items())}.

On this {os.cpu_count()}-core machine Redis, both workers and the emitting process share the
cores (and the machine is shared with other work), so the two-worker figure measures
contention, not scaling; on separate machines each worker brings its own cores.
"""
    print(body)
    if not args.no_record:
        write_section(SECTION, body)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
