"""Run `motia` with the thread CPU of the workbench's feed functions added up, for `feed_cpu.py`.

    python bench/cost_probe.py OUT.json tui --dir PROJECT ...

Before the workbench starts, each function of `MEASURED` is wrapped so that every call adds
the CPU time its thread spent inside it (`time.thread_time`, which a thread waiting for the
interpreter lock or for a core does not accrue) and one call to a total; the totals go to
OUT.json every second and at exit, as `{"totals": {"module.Class.function": [seconds,
calls]}}`. Nested functions count within their callers too (the feed pump's tick holds the
Logs pane's sealing). The functions are called a few times a frame, not once a request, so
the wrappers add little to what they measure.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

del sys.path[0]  # this folder: its engine.py is not the engine package
from motia_tui.cli import main  # noqa: E402

MEASURED = (
    ("motia_tui.feed_pump", "FeedPump._tick"),
    ("motia_tui.feed_pump", "FeedPump._hand_out"),
    ("motia_tui.source", "_LocalFeed.drain"),
    ("motia_tui.panes.logs", "LogsPane.apply_events"),
    ("motia_tui.panes.logs", "LogView.lines_changed"),
    ("motia_tui.log_store", "RecordStore._seal"),
    ("motia_tui.notices", "Notices.account"),
    ("motia_tui.panes.workers", "WorkersPane.apply_events"),
    ("textual.screen", "Screen._on_timer_update"),
    ("textual.app", "App._display"),
)
"""(module, attribute path) of each function measured; one that a tree lacks is skipped."""

TOTALS: dict[str, list[float]] = {}


def measured(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    total = TOTALS[name] = [0.0, 0]
    clock = time.thread_time

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = clock()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += clock() - began
            total[1] += 1

    return wrapper


def install() -> None:
    for module_name, path in MEASURED:
        owner: Any = importlib.import_module(module_name)
        *parents, attribute = path.split(".")
        try:
            for parent in parents:
                owner = getattr(owner, parent)
            function = getattr(owner, attribute)
        except AttributeError:
            continue
        name = f"{module_name.rsplit('.', 1)[-1]}.{path}"
        setattr(owner, attribute, measured(name, function))


def dump(out: Path) -> None:
    partial = out.with_suffix(".tmp")
    partial.write_text(json.dumps({"totals": TOTALS}))
    partial.replace(out)


def dumping(out: Path) -> None:
    while True:
        time.sleep(1.0)
        dump(out)


if __name__ == "__main__":
    if sys.argv[1:2] in ([], ["-h"], ["--help"]):
        print(__doc__)
        sys.exit(0 if sys.argv[1:] else 2)
    OUT = Path(sys.argv.pop(1))
    install()
    threading.Thread(target=dumping, args=(OUT,), daemon=True).start()
    try:
        code = main(sys.argv[1:])
    finally:
        dump(OUT)
    sys.exit(code)
