"""Run `motia` with each key press's cost on the main thread recorded, for the key bench.

    python bench/key_probe.py OUT.json [--profile OUT.pstats] [--renders] tui --dir PROJECT ...

For every key the terminal delivers: the main thread's CPU time and the wall time from the
moment the input thread parses it until the frame that shows its effect has been handed to
the writer (`KeyOrder.frame_drawn` with no frame owed any more). The main thread's clock is
read from the input thread when the key arrives, so the work the loop does before it reads
the key (a feed batch, its repaint) counts too. `--profile` runs cProfile on the main
thread from the moment the app reads each key to its frame, and writes the summed profile
of all keys at exit. `--renders` counts, over the same spans, the lines each kind of widget
rendered afresh (not from its styles cache) and the main thread's CPU its `render_lines`
took. OUT.json is written every second and at exit.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

del sys.path[0]  # this folder: its engine.py is not the engine package
from textual import events  # noqa: E402
from textual.geometry import Region  # noqa: E402
from textual.strip import Strip  # noqa: E402
from textual.widget import Widget  # noqa: E402

from motia_tui.cli import main  # noqa: E402
from motia_tui.key_order import KeyOrder  # noqa: E402
from motia_tui.textual_hooks import HookedLinuxDriver  # noqa: E402


def _option(name: str, takes_value: bool = True) -> str | None:
    """Take `name` (and its value) off the front of the command line, if it is there."""
    if sys.argv[1:2] != [name]:
        return None
    sys.argv.pop(1)
    return sys.argv.pop(1) if takes_value else name


OUT = Path(sys.argv.pop(1))
PROFILE = _option("--profile")
RENDERS = _option("--renders", takes_value=False) is not None
MAIN_CLOCK = time.pthread_getcpuclockid(threading.main_thread().ident or 0)
STATE: dict[str, Any] = {"keys": []}
_arrived: list[tuple[float, float]] = []
_lock = threading.Lock()
_profiler = cProfile.Profile() if PROFILE else None
_profiling = [False]


def main_cpu() -> float:
    return time.clock_gettime(MAIN_CLOCK)


_process_message = HookedLinuxDriver.process_message


def process_message(self: HookedLinuxDriver, message: Any) -> None:
    if isinstance(message, events.Key):
        with _lock:
            _arrived.append((time.perf_counter(), main_cpu()))
    _process_message(self, message)


_key_read = KeyOrder.key_read


async def key_read(self: KeyOrder, event: events.Key) -> None:
    if (_profiler is not None or RENDERS) and not _profiling[0]:
        _profiling[0] = True
        if _profiler is not None:
            _profiler.enable()
    await _key_read(self, event)


_frame_drawn = KeyOrder.frame_drawn


def frame_drawn(self: KeyOrder) -> None:
    owed = self._frame_owed
    _frame_drawn(self)
    if not owed or self._frame_owed:
        return
    if _profiling[0]:
        _profiling[0] = False
        if _profiler is not None:
            _profiler.disable()
    wall, cpu = time.perf_counter(), main_cpu()
    with _lock:
        arrived = _arrived[:]
        _arrived.clear()
    for at, cpu_at in arrived:
        STATE["keys"].append({"wall_ms": round((wall - at) * 1000, 3),
                              "cpu_ms": round((cpu - cpu_at) * 1000, 3),
                              "together": len(arrived)})


_render_lines = Widget.render_lines
RENDERED: Counter[str] = Counter()
RENDER_MS: defaultdict[str, float] = defaultdict(float)
"""Lines each kind of widget rendered afresh (not from its styles cache) while keys were
profiled (`--profile`)."""


def render_lines(self: Widget, crop: Region) -> list[Strip]:
    if not _profiling[0]:
        return _render_lines(self, crop)
    cache = self._styles_cache
    fresh = sum(1 for y in crop.line_range if y in cache._dirty_lines or y not in cache._cache)
    name = type(self).__name__
    RENDERED[name] += fresh
    began = time.thread_time()
    lines = _render_lines(self, crop)
    RENDER_MS[name] += (time.thread_time() - began) * 1000
    return lines


PHASE_MS: defaultdict[str, float] = defaultdict(float)
"""CPU of a few of Textual's and uvicorn's steps while keys were handled (`--renders`)."""


def timed(owner: Any, name: str, label: str) -> None:
    """Add the main thread's CPU inside `owner.name` during a key to `PHASE_MS[label]`."""
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            began = time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                if _profiling[0] and threading.current_thread() is threading.main_thread():
                    PHASE_MS[label] += (time.thread_time() - began) * 1000
        setattr(owner, name, timed_async)
        return

    def timed_sync(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            if _profiling[0] and threading.current_thread() is threading.main_thread():
                PHASE_MS[label] += (time.thread_time() - began) * 1000
    setattr(owner, name, timed_sync)


if RENDERS:
    from textual._compositor import Compositor
    from textual.app import App
    from textual.css.stylesheet import Stylesheet
    from textual.screen import Screen

    from engine.http import ApiRouter
    from motia_tui.app import WorkbenchApp
    from motia_tui.feed_pump import FeedPump

    Widget.render_lines = render_lines  # type: ignore[method-assign]
    for owner, name, label in (
        (Screen, "_on_timer_update", "screen update (layout and paint)"),
        (Compositor, "reflow", "layout: reflow"),
        (Compositor, "render_update", "paint: compositor render_update"),
        (Compositor, "_get_renders", "paint: widgets' render_lines"),
        (App, "_display", "paint: display to the driver"),
        (Stylesheet, "update_nodes", "styles: update_nodes"),
        (WorkbenchApp, "action_show_tab", "key: action_show_tab"),
        (FeedPump, "_tick", "feed tick"),
        (FeedPump, "catch_up", "feed: catch_up"),
        (ApiRouter, "__call__", "http: api requests"),
    ):
        timed(owner, name, label)
HookedLinuxDriver.process_message = process_message  # type: ignore[method-assign]
KeyOrder.key_read = key_read  # type: ignore[method-assign]
KeyOrder.frame_drawn = frame_drawn  # type: ignore[method-assign]


def dump() -> None:
    STATE["phases"] = sorted(((k, round(v, 1)) for k, v in PHASE_MS.items()), key=lambda kv: -kv[1])
    STATE["rendered"] = [(name, lines, round(RENDER_MS[name], 1))
                         for name, lines in RENDERED.most_common()]
    OUT.write_text(json.dumps(STATE))


def dumping() -> None:
    while True:
        time.sleep(1.0)
        dump()


if __name__ == "__main__":
    threading.Thread(target=dumping, daemon=True).start()
    try:
        code = main(sys.argv[1:])
    finally:
        dump()
        if _profiler is not None and PROFILE:
            _profiler.disable()
            _profiler.dump_stats(PROFILE)
    sys.exit(code)
