"""What one api request costs a served engine, in instructions, through uvicorn and its sockets.

    python bench/served_cost.py [--mode start|dev] [--no-tape] [--connections 8]

Runs `motia start` or `motia dev --no-tui` (with the engine tape, as by default; `--no-tape`
sets `MOTIA_TAPE=false`) twice under `valgrind --tool=callgrind --separate-threads=yes`, each
time loaded by a client in a process of its own (not counted) that sends 2,000 and then 6,000
`GET /hello` requests of bench/engine.py's api step over `--connections` keep-alive
connections, then stops the server with SIGTERM; it prints the difference per request for each
thread of the server. Unlike bench/asgi_cost.py this counts what uvicorn and the engine's
protocol do for a request (parsing it, the request cycle, writing the answer), as `wrk`
loads them, in a count that does not move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from callgrind import instructions_per_unit

FEW, MANY = 2_000, 6_000
API_STEP = '''
config = {"type": "api", "name": "Hello", "path": "/hello", "method": "GET", "emits": [],
          "flows": ["bench"]}


async def handler(req, context):
    return {"status": 200, "body": {"message": "Hello World from Motia!"}}
'''
REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _answer(sock: socket.socket, pending: bytes) -> bytes:
    """Read one whole answer; return what came after it."""
    data = pending
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"not a 200: {head[:80]!r}")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return rest[length:]


def client(port: int, requests: int, connections: int, server: int) -> None:
    """Wait for the port, send `requests` in all, then stop the server."""
    for _ in range(6000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            threading.Event().wait(0.05)
    share = [requests // connections + (i < requests % connections) for i in range(connections)]

    def load(count: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            pending = b""
            for _ in range(count):
                sock.sendall(REQUEST)
                pending = _answer(sock, pending)

    threads = [threading.Thread(target=load, args=(count,)) for count in share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.kill(server, signal.SIGTERM)


def serve(mode: str, tape: bool, requests: int, connections: int) -> None:
    """The server under valgrind: the `motia` command itself, in this process."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "servedbench"
        (project / "steps").mkdir(parents=True)
        (project / "steps" / "hello_step.py").write_text(API_STEP)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        loader = subprocess.Popen([
            sys.executable, __file__, "--client", str(port), str(requests), str(connections),
            str(os.getpid()),
        ])
        if not tape:
            os.environ["MOTIA_TAPE"] = "false"
        command = ["dev", "--no-tui"] if mode == "dev" else ["start"]
        sys.argv = ["motia", *command, "--dir", str(project), "--port", str(port)]
        from motia_tui.cli import main as motia

        with open(os.devnull, "w") as quiet:
            sys.stdout = quiet
            try:
                motia()
            except SystemExit:
                pass
            finally:
                sys.stdout = sys.__stdout__
        if loader.wait(timeout=60) != 0:
            raise SystemExit("the client failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("start", "dev"), default="dev")
    parser.add_argument("--no-tape", action="store_true", help="dev without the engine tape")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(*args.client)
        return
    if args.requests is not None:
        serve(args.mode, not args.no_tape, args.requests, args.connections)
        return
    flags = ["--mode", args.mode, "--connections", str(args.connections)]
    if args.no_tape:
        flags.append("--no-tape")
    per = instructions_per_unit(__file__, flags, "--requests", FEW, MANY)
    busy = [(t, v) for t, v in sorted(per.items()) if v > 500]
    rows = [f"thread {t}: {v:,.0f}" for t, v in busy]
    print(f"instructions per request ({args.mode}"
          f"{', tape' if args.mode == 'dev' and not args.no_tape else ''}): "
          + ", ".join(rows) + f"; total {sum(per.values()):,.0f}")


if __name__ == "__main__":
    main()
