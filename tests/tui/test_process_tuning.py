"""Once the workbench is ready it tunes its process and starts handing freed C memory back
until the event `_run` sets when it ends."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

from engine import tuning
from motia_tui import run


class ReadyApp:
    def __init__(self) -> None:
        self.ready = asyncio.Event()


async def test_trimming_starts_once_ready_with_the_stop_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[threading.Event] = []
    monkeypatch.setattr(gc, "freeze", lambda: None)  # this test process stays as it is
    monkeypatch.setattr(tuning, "tune_process", lambda: None)
    monkeypatch.setattr(tuning, "trim_freed_memory",
                        lambda stop, **_: started.append(stop) or True)
    app: Any = ReadyApp()
    stop = threading.Event()
    tune = asyncio.ensure_future(run._tune_process(app, stop))
    await asyncio.sleep(0)
    assert started == []
    app.ready.set()
    await tune
    assert started == [stop]
