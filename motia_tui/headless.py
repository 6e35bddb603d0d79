"""The console printer behind `motia dev --no-tui` and `motia start`.

It is one more reader of the engine event stream: a start banner, then one line per log
record (level, time, step, trace id, message, fields), coloured on a terminal, or raw JSON
lines with `--json` for log collectors. It never imports the workbench.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, TextIO

from engine import events as ev
from engine import tuning
from engine.runtime import Engine
from engine.server import EngineServer
from motia_tui.shutdown_guard import ShutdownGuard
from motia_tui.tape import tape_for

_COLOURS = {"debug": "\x1b[2m", "info": "\x1b[36m", "warn": "\x1b[33m", "error": "\x1b[31m"}
_DIM, _BOLD, _RESET = "\x1b[2m", "\x1b[1m", "\x1b[0m"
_CORE_FIELDS = {"level", "time", "msg", "traceId", "spanId", "flows", "step", "traceback"}


def format_record(record: dict[str, Any], colour: bool) -> str:
    """One readable line per record; a traceback, when present, follows indented."""
    level = str(record.get("level", "info"))
    stamp = time.strftime("%H:%M:%S", time.localtime(record.get("time", 0) / 1000))
    millis = int(record.get("time", 0)) % 1000
    step = record.get("step") or record.get("logger") or "motia"
    trace = (record.get("traceId") or "")[:8]
    fields = " ".join(
        f"{key}={json.dumps(value, default=repr)}"
        for key, value in record.items()
        if key not in _CORE_FIELDS and key != "logger" and value is not None
    )
    head = f"{level.upper():5} {stamp}.{millis:03d} {step:<18} {trace:8} {record.get('msg', '')}"
    if colour:
        head = (f"{_COLOURS.get(level, '')}{level.upper():5}{_RESET} {_DIM}{stamp}.{millis:03d}"
                f"{_RESET} {_BOLD}{step:<18}{_RESET} {_DIM}{trace:8}{_RESET} "
                f"{record.get('msg', '')}")
        if fields:
            fields = f"{_DIM}{fields}{_RESET}"
    line = f"{head} {fields}".rstrip()
    traceback = record.get("traceback")
    if traceback:
        line += "\n" + "\n".join("    " + t for t in str(traceback).rstrip().splitlines())
    return line


def banner(server: EngineServer) -> dict[str, Any]:
    """What a person needs first: where it listens, and what it serves. A token the server
    made up is printed, since nobody else knows it; one the user supplied is named by where
    it came from, so the banner never copies a secret into logs."""
    engine = server.engine
    steps = list(engine.steps.values())
    supplied = server.token is not None and not server.token_generated
    source = engine.settings.sources.get("introspect_token", "the settings")
    return {
        "type": "banner",
        "url": server.url,
        "project": str(engine.project_dir),
        "mode": engine.mode,
        "routes": sorted(f"{s.method} {s.path}" for s in steps if s.type == "api"),
        "topics": sorted({t for s in steps for t in s.subscribes}),
        "crons": sorted(f"{s.name} {s.cron}" for s in steps if s.type == "cron"),
        "streams": sorted(engine.stream_definitions),
        "errors": [e.to_json() for e in engine.errors.values()],
        "introspectionToken": server.token if server.token_generated else None,
        "introspectionTokenFrom": source if supplied else None,
        "recovered": engine.recovered,
    }


def format_banner(data: dict[str, Any], colour: bool) -> str:
    bold, reset = (_BOLD, _RESET) if colour else ("", "")
    lines = [f"{bold}motia {data['mode']}{reset} serving {data['project']} on {bold}"
             f"{data['url']}{reset}"]
    for title, key in (("routes", "routes"), ("topics", "topics"), ("crons", "crons"),
                       ("streams", "streams")):
        items = data[key]
        lines.append(f"  {title:8} {', '.join(items) if items else '(none)'}")
    if data["errors"]:
        lines.append(f"  {len(data['errors'])} file(s) failed to load (see the errors above)")
    if data["introspectionToken"]:
        lines.append(f"  introspection token: {data['introspectionToken']}")
    elif data["introspectionTokenFrom"]:
        lines.append(f"  introspection token: from {data['introspectionTokenFrom']}")
    lines.append("  press Ctrl+C to stop")
    return "\n".join(lines)


class Printer:
    """Prints every log record the engine publishes, as it comes."""

    def __init__(self, engine: Engine, out: TextIO, as_json: bool, colour: bool) -> None:
        self._out = out
        self._json = as_json
        self._colour = colour
        self._subscription = engine.events.subscribe(maxsize=100_000, types={ev.LOG})

    def write(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def flush_pending(self) -> None:
        dropped = self._subscription.take_dropped()
        if dropped:
            self.write(json.dumps({"type": "dropped", "count": dropped}) if self._json
                       else f"... {dropped} log records not printed (console too slow)")
        lines = []
        for event in self._subscription.drain():
            lines.append(json.dumps(event.data, default=repr) if self._json
                         else format_record(event.data, self._colour))
        if lines:
            self._out.write("\n".join(lines) + "\n")
            self._out.flush()

    async def run(self) -> None:
        try:
            while True:
                await self._subscription.wait()
                self.flush_pending()
        finally:
            self.flush_pending()
            self._subscription.close()


async def _start_unless_stopped(server: EngineServer, stopped: asyncio.Event) -> bool:
    """Start the server, unless a signal comes first (a step file still importing, say):
    then give up the start and stop what it began. Answers whether it serves."""
    starting = asyncio.ensure_future(server.start())
    signalled = asyncio.ensure_future(stopped.wait())
    await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    if starting.done():
        starting.result()
        return True
    starting.cancel()
    await asyncio.gather(starting, return_exceptions=True)
    await server.stop()
    return False


async def serve(server: EngineServer, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Run until Ctrl+C or SIGTERM; print the banner and every log record meanwhile."""
    colour = out.isatty() and not as_json
    printer = Printer(server.engine, out, as_json, colour)
    tape = tape_for(server.engine)
    printing = asyncio.ensure_future(printer.run())
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    guard = ShutdownGuard(loop, stopped.set, server.engine.settings.shutdown_grace_s, sys.stderr)
    guard.install()
    try:
        serving = await _start_unless_stopped(server, stopped)
    except (OSError, RuntimeError) as exc:
        printing.cancel()
        await asyncio.gather(printing, return_exceptions=True)
        print(f"motia: cannot serve on {server.host}:{server.config.port}: {exc}",
              file=sys.stderr)
        return 1
    if not serving:
        printing.cancel()
        await asyncio.gather(printing, return_exceptions=True)
        guard.finished()
        return 0
    if tape is not None:
        tape.start()
    info = banner(server)
    printer.flush_pending()
    printer.write(json.dumps(info) if as_json else format_banner(info, colour))
    tuning.tune_process(collect=False)  # the first request waits for nothing else
    await stopped.wait()
    await server.stop()
    if tape is not None:
        await tape.stop()
    printing.cancel()
    await asyncio.gather(printing, return_exceptions=True)
    guard.finished()
    return 0
