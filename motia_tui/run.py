"""`motia tui` in this process's terminal: the `[keys]` table, the recording, the loop."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from pathlib import Path

from engine import tuning
from motia_tui.app import WorkbenchApp, make_workbench
from motia_tui.keymap import KeymapError, load_keymap
from motia_tui.recording import CastRecorder, RecordingError
from motia_tui.source import EngineSource
from motia_tui.workbench_signals import stop_on_signal

NO_TTY = """motia tui needs a terminal, and this standard input or output is not one.
Over SSH, ask for a terminal:   ssh -t HOST motia tui
Without a terminal, run the server headless:   motia dev --no-tui"""


def run_tui(
    source: EngineSource,
    *,
    color: str = "auto",
    mouse: bool = True,
    slow_link: bool = False,
    record: str | None = None,
    title: str = "motia tui",
    keys_from: Path | None = None,
) -> int:
    """Run the workbench in this terminal, recording it to `record` (an asciicast titled
    `title`) if given; the process exit status. The `[keys]` table comes from
    `keys_from/motia.toml` (the project folder; the current one when attaching)."""
    try:
        keymap = load_keymap(keys_from or Path.cwd())
    except KeymapError as exc:
        print(f"motia: {exc}", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(NO_TTY, file=sys.stderr)
        return 2
    recorder = None
    if record is not None:
        try:
            recorder = CastRecorder(record, title=title)
        except RecordingError as exc:
            print(f"motia: {exc}", file=sys.stderr)
            return 2
    gc.disable()  # until start-up is over: its objects are then frozen (`_tune_process`)
    app = make_workbench(source, color=color, mouse=mouse, slow_link=slow_link,
                         recorder=recorder, keymap=keymap)
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(_run(app))
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_run(app))
    finally:
        gc.enable()  # a workbench that quit before it was ready
        if recorder is not None:
            recorder.close()
            if recorder.error is not None:
                print(f"motia: the recording {record} stopped early: {recorder.error.strerror}",
                      file=sys.stderr)


async def _run(app: WorkbenchApp) -> int:
    stop_trimming = threading.Event()
    tune = asyncio.ensure_future(_tune_process(app, stop_trimming))
    guard = stop_on_signal(app)
    try:
        await app.run_async(mouse=app.use_mouse)
    finally:
        tune.cancel()
        stop_trimming.set()
        await app.source.stop()
        guard.finished()
    return app.return_code or 0


async def _tune_process(app: WorkbenchApp, stop_trimming: threading.Event) -> None:
    """Once everything is loaded, keep the collector off the startup objects (Textual, the
    engine and the steps: a few hundred thousand, whose every walk cost the server sharing
    the loop a fifth of its time under load), shorten the GIL's switch interval and hand
    freed C memory back every few seconds until `stop_trimming` is set (see
    `engine.tuning`). The collector was off during start-up, whose full collections took
    about 100 ms each: its objects are frozen uncollected (the few cycles start-up leaves
    behind, a few thousand objects, stay), so the collection `tune_process` begins with
    has nothing to walk."""
    await app.ready.wait()
    gc.freeze()
    tuning.tune_process()
    gc.enable()
    tuning.trim_freed_memory(stop_trimming)
