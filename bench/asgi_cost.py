"""What one api request costs the engine, in instructions, without sockets or uvicorn.

    python bench/asgi_cost.py [--mode start|dev] [--tape] [--starlette] [--cpu]

Runs itself twice under `valgrind --tool=callgrind --separate-threads=yes`, serving 2,000 and
then 6,000 `GET /hello` requests of bench/engine.py's api step through the engine's ASGI app
(built as `build_server()` builds it, called directly in batches of 64), and prints the
difference per request for each thread: the loop thread, the store's writer and, with
`--tape`, the engine tape's writer. Instruction counts do not move with the machine's load, so
a change can be measured on a busy machine; `--starlette` measures a bare Starlette route the
same way, as the yardstick.

`--cpu` runs the same requests at full speed instead (no valgrind): 2,000 to warm up, then
`--count` (32,000), and prints each thread's CPU time per request from `/proc`, the
figure that counts where the writers' threads take the interpreter lock and a core from the
loop, as they do under load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from callgrind import instructions_per_unit

HERE = Path(__file__).resolve().parent
FEW, MANY, BATCH = 2_000, 6_000, 64
API_STEP = '''
config = {"type": "api", "name": "Hello", "path": "/hello", "method": "GET", "emits": [],
          "flows": ["bench"]}


async def handler(req, context):
    return {"status": 200, "body": {"message": "Hello World from Motia!"}}
'''
SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
    "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555), "scheme": "http",
    "method": "GET", "root_path": "", "path": "/hello", "raw_path": b"/hello",
    "query_string": b"", "headers": [(b"host", b"127.0.0.1:8000")],
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    """The response goes nowhere: only the app's own work is counted."""


async def _serve(app: Any, requests: int) -> None:
    for _ in range(requests // BATCH):
        await asyncio.gather(*[app(dict(SCOPE), _receive, _send) for _ in range(BATCH)])


def _thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by thread id."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(tid)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


class _Clock:
    """Thread CPU over the measured requests: `requests` is what runs between start and
    stop; without it every request is measured (under valgrind, by the caller)."""

    def __init__(self, requests: int | None) -> None:
        self.requests = requests
        self.before: dict[int, float] = {}
        self.started = 0.0

    def start(self) -> None:
        self.before, self.started = _thread_cpu(), time.perf_counter()

    def report(self, names: dict[int, str]) -> None:
        if self.requests is None:
            return
        elapsed = time.perf_counter() - self.started
        spent = {t: cpu - self.before.get(t, 0.0) for t, cpu in _thread_cpu().items()}
        rows = [
            f"{names.get(t, f'thread {t}')}: {cpu / self.requests * 1e6:.1f} us"
            for t, cpu in sorted(spent.items(), key=lambda item: item[0] != os.getpid())
            if cpu > 0
        ]
        print(f"CPU per request: {', '.join(rows)}; {self.requests / elapsed:,.0f} requests/s")


def _names() -> dict[int, str]:
    names = {os.getpid(): "loop thread"}
    for thread in threading.enumerate():
        if thread.native_id is not None and thread.native_id != os.getpid():
            names[thread.native_id] = thread.name
    return names


async def _engine(mode: str, tape: bool, requests: int, clock: _Clock) -> None:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    from engine import tuning
    from engine.server import build_server
    from engine.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "costbench"
        (project / "steps").mkdir(parents=True)
        (project / "steps" / "hello_step.py").write_text(API_STEP)
        server = build_server(project, Settings(), "dev" if mode == "dev" else "start",
                              watch=False)
        await server.engine.start()
        recorder = None
        if tape:
            from motia_tui.tape import tape_for

            recorder = tape_for(server.engine)
            assert recorder is not None, "the tape records in dev mode only"
            recorder.start()
        tuning.tune_process()
        if clock.requests is not None:
            await _serve(server.app, FEW)
            await _quiet(server, recorder)
            clock.start()
        await _serve(server.app, requests)
        await _quiet(server, recorder)
        clock.report(_names())
        await server.engine.stop()
        if recorder is not None:
            await recorder.stop()


async def _quiet(server: Any, recorder: Any) -> None:
    """Until the writers have written everything handed to them."""
    await server.engine.store.settled()
    while recorder is not None and recorder.backlog:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)


async def _starlette(requests: int, clock: _Clock) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Hello World from Motia!"})

    app = Starlette(routes=[Route("/hello", hello)])
    if clock.requests is not None:
        await _serve(app, FEW)
        clock.start()
    await _serve(app, requests)
    clock.report(_names())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("start", "dev"), default="start")
    parser.add_argument("--tape", action="store_true", help="record the engine tape (dev)")
    parser.add_argument("--starlette", action="store_true", help="a bare Starlette route")
    parser.add_argument("--cpu", action="store_true", help="CPU per request at full speed")
    parser.add_argument("--count", type=int, default=32_000, help="requests measured by --cpu")
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests is not None or args.cpu:  # the run under valgrind, or at full speed
        import uvloop

        requests = args.count if args.cpu else args.requests
        clock = _Clock(requests if args.cpu else None)
        work = _starlette(requests, clock) if args.starlette else _engine(
            args.mode, args.tape, requests, clock)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(work)
        return
    names = ["loop thread", "store writer", "tape writer"] if not args.starlette else ["loop"]
    per = instructions_per_unit(__file__, sys.argv[1:], "--requests", FEW, MANY)
    busy = [(t, v) for t, v in sorted(per.items()) if v > 500]
    rows = [f"{names[i] if i < len(names) else 'thread ' + t}: {v:,.0f}"
            for i, (t, v) in enumerate(busy)]
    print("instructions per request: " + ", ".join(rows) + f"; total {sum(per.values()):,.0f}")


if __name__ == "__main__":
    main()
