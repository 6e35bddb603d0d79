"""What one api request costs the engine, in instructions, without sockets or uvicorn.

    python bench/asgi_cost.py [--mode start|dev] [--tape] [--starlette]

Runs itself twice under `valgrind --tool=callgrind --separate-threads=yes`, serving 2,000 and
then 6,000 `GET /hello` requests of bench/engine.py's api step through the engine's ASGI app
(built as `build_server()` builds it, called directly in batches of 64), and prints the
difference per request for each thread: the loop thread, the store's writer and, with
`--tape`, the engine tape's writer. Instruction counts do not move with the machine's load, so
a change can be measured on a busy machine; `--starlette` measures a bare Starlette route the
same way, as the yardstick.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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


async def _engine(mode: str, tape: bool, requests: int) -> None:
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
        await _serve(server.app, requests)
        await server.engine.store.settled()
        while recorder is not None and recorder.backlog:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        await server.engine.stop()
        if recorder is not None:
            await recorder.stop()


async def _starlette(requests: int) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Hello World from Motia!"})

    await _serve(Starlette(routes=[Route("/hello", hello)]), requests)


def _totals(prefix: str) -> dict[str, int]:
    found = {}
    for path in sorted(glob.glob(f"{prefix}.*-*")):
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith("summary:"):
                found[path.rsplit("-", 1)[1]] = int(line.split()[1])
                break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("start", "dev"), default="start")
    parser.add_argument("--tape", action="store_true", help="record the engine tape (dev)")
    parser.add_argument("--starlette", action="store_true", help="a bare Starlette route")
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requests is not None:  # the run under valgrind
        import uvloop

        work = _starlette(args.requests) if args.starlette else _engine(
            args.mode, args.tape, args.requests)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(work)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    names = ["loop thread", "store writer", "tape writer"] if not args.starlette else ["loop"]
    with tempfile.TemporaryDirectory() as out:
        totals = []
        for requests in (FEW, MANY):
            prefix = f"{out}/cost.{requests}"
            flags = sys.argv[1:]
            subprocess.run(
                ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                 f"--callgrind-out-file={prefix}.%p", sys.executable, __file__, *flags,
                 "--requests", str(requests)],
                check=True, capture_output=True,
            )
            totals.append(_totals(prefix))
    few, many = totals
    per = {t: (many[t] - few.get(t, 0)) / (MANY - FEW) for t in many}
    busy = [(t, v) for t, v in sorted(per.items()) if v > 500]
    rows = [f"{names[i] if i < len(names) else 'thread ' + t}: {v:,.0f}"
            for i, (t, v) in enumerate(busy)]
    print("instructions per request: " + ", ".join(rows) + f"; total {sum(per.values()):,.0f}")


if __name__ == "__main__":
    main()
