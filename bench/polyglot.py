"""TypeScript and JavaScript steps against Python ones, measured in the same run.

    python bench/polyglot.py [--seconds 5] [--connections 32] [--rounds 3] [--events 2000]
                             [--no-record]

1. HTTP: one `motia start` serving two api steps that answer the same body, one in Python and
   one in TypeScript (run by the Node worker), loaded by wrk on 127.0.0.1 in alternating
   rounds; the ratio TS / Python pairs neighbouring runs (target >= 0.5; Motia 0.17 ran a
   process per call, about 15 req/s).
2. Events per second through a TS -> Python -> JS chain on the in-process engine, against the
   same chain written in Python alone, alternating.

Figures go to the "## Polyglot steps" section of bench/RESULTS.md unless `--no-record`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import RESULTS, write_section

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("engine_bench", HERE / "engine.py")
assert _spec is not None and _spec.loader is not None
engine_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine_bench)
"""bench/engine.py's load helpers, so both benchmarks load their servers alike."""

SECTION = "## Polyglot steps"

PY_API = """
config = {"type": "api", "name": "HelloPy", "path": "/py", "method": "GET", "emits": []}


async def handler(req, context):
    return {"status": 200, "body": {"message": "Hello World from Motia!"}}
"""

TS_API = """
import type { ApiRouteConfig, Handlers } from 'motia'

export const config: ApiRouteConfig = {
  type: 'api', name: 'HelloTs', path: '/ts', method: 'GET', emits: [],
}

export const handler: Handlers['HelloTs'] = async () => {
  const body: { message: string } = { message: 'Hello World from Motia!' }
  return { status: 200, body }
}
"""

TS_FIRST = """
export const config = {
  type: 'event', name: 'First', subscribes: ['bench.start'], emits: ['bench.middle'],
}
export const handler = async (input: { n: number }, { emit }) => {
  await emit({ topic: 'bench.middle', data: input })
}
"""

PY_STEP = """
config = {{"type": "event", "name": "{name}", "subscribes": ["{topic}"], "emits": {emits!r}}}


async def handler(input, context):
    {body}
"""

JS_LAST = """
export const config = { type: 'event', name: 'Third', subscribes: ['bench.last'], emits: [] }
export const handler = async () => {}
"""


def _py_step(name: str, topic: str, emits: str | None) -> str:
    body = f'await context.emit({{"topic": "{emits}", "data": input}})' if emits else "pass"
    return PY_STEP.format(name=name, topic=topic, emits=[emits] if emits else [], body=body)


def _project(root: Path, files: dict[str, str]) -> Path:
    (root / "steps").mkdir(parents=True)
    (root / "package.json").write_text('{"type": "module", "private": true}\n')
    for name, source in files.items():
        (root / "steps" / name).write_text(source.lstrip("\n"))
    return root


def bench_http(seconds: int, connections: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        project = _project(
            Path(tmp) / "apibench", {"hello_py_step.py": PY_API, "hello-ts.step.ts": TS_API}
        )
        port = engine_bench.free_port()
        motia = shutil.which("motia") or "motia"
        process = subprocess.Popen(
            [motia, "start", "--dir", str(project), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            engine_bench.wait_port(port, timeout=120)
            for path in ("/py", "/ts"):
                engine_bench.wrk(port, 2, connections, path)
            runs: dict[str, list[float]] = {"py": [], "ts": []}
            for _ in range(rounds):
                for lang in ("py", "ts"):
                    runs[lang].append(engine_bench.wrk(port, seconds, connections, f"/{lang}"))
        finally:
            process.terminate()
            process.wait(timeout=30)
    ratios = sorted(t / p for t, p in zip(runs["ts"], runs["py"], strict=True))
    return {
        "py_rps": statistics.median(runs["py"]),
        "ts_rps": statistics.median(runs["ts"]),
        "ratio": statistics.median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
    }


async def _chain(files: dict[str, str], events: int, tmp: Path, name: str) -> float:
    # This folder holds bench/engine.py, named like the `engine` package: off the path.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    from engine import Engine, Settings

    project = _project(tmp / name, files)
    engine = Engine(project, Settings(), mode="start")
    await engine.start()
    try:
        for index in range(50):
            engine.emit("bench.start", {"n": index})
        await engine.idle(timeout=120)
        started = time.perf_counter()
        for offset in range(0, events, 200):
            for index in range(offset, min(offset + 200, events)):
                engine.emit("bench.start", {"n": index})
            await asyncio.sleep(0)
        await engine.idle(timeout=600)
        elapsed = time.perf_counter() - started
        done = engine.executor.stats["Third"]["runs"]
    finally:
        await engine.stop()
    if done != events + 50:
        raise RuntimeError(f"the {name} chain finished {done} of {events + 50} events")
    return events / elapsed


async def bench_chain(events: int, rounds: int) -> dict[str, float]:
    polyglot = {
        "first.step.ts": TS_FIRST,
        "second_step.py": _py_step("Second", "bench.middle", "bench.last"),
        "third.step.js": JS_LAST,
    }
    python = {
        "first_step.py": _py_step("First", "bench.start", "bench.middle"),
        "second_step.py": _py_step("Second", "bench.middle", "bench.last"),
        "third_step.py": _py_step("Third", "bench.last", None),
    }
    runs: dict[str, list[float]] = {"polyglot": [], "python": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            for kind, files in (("polyglot", polyglot), ("python", python)):
                name = f"{kind}{round_}"
                runs[kind].append(await _chain(files, events, Path(tmp), name))
    ratios = sorted(p / b for p, b in zip(runs["polyglot"], runs["python"], strict=True))
    return {
        "polyglot_eps": statistics.median(runs["polyglot"]),
        "python_eps": statistics.median(runs["python"]),
        "ratio": statistics.median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--no-record", action="store_true", help="print, leave RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("node") is None:
        raise SystemExit("wrk and node are needed")
    load_before = os.getloadavg()
    http = bench_http(args.seconds, args.connections, args.rounds)
    print(http)
    chain = asyncio.run(bench_chain(args.events, args.rounds))
    print(chain)
    load_after = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    body = f"""
Run on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), Python
{platform.python_version()}, Node {node}, `python bench/polyglot.py --seconds {args.seconds}
--connections {args.connections} --rounds {args.rounds} --events {args.events}`; load average
{load_before[0]:.1f} before and {load_after[0]:.1f} after (a shared machine: read the ratios).

| measure | figure | target |
| --- | --- | --- |
| Python api step under `motia start` (wrk, {args.connections} connections), median | \
{http['py_rps']:,.0f} req/s | baseline |
| TypeScript api step, same server, same load, median | {http['ts_rps']:,.0f} req/s | |
| TypeScript / Python, median of {args.rounds} alternating rounds | {http['ratio']:.2f}x \
(rounds {http['ratio_min']:.2f}x to {http['ratio_max']:.2f}x) | >= 0.5x (Motia 0.17: ~15 req/s) |
| TS -> Python -> JS chain, in-process engine, median | {chain['polyglot_eps']:,.0f} events/s | |
| the same chain in Python alone, median | {chain['python_eps']:,.0f} events/s | baseline |
| polyglot / Python chain, median of {args.rounds} alternating rounds | \
{chain['ratio']:.2f}x (rounds {chain['ratio_min']:.2f}x to {chain['ratio_max']:.2f}x) | |

A TypeScript request is the Python one plus a round trip to the Node worker over its socket
(the request out, the response back, one JSON line each way); a chain event crosses into Node
twice, and each `emit` from a Node step is one more round trip.
"""
    if args.no_record:
        print(body)
        return
    write_section(SECTION, body)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
