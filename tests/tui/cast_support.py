"""Reading asciicast v2 files the way a player does, and playing them with `asciinema cat`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ANSI = re.compile(r"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|[=>])")
RESIZE = re.compile(r"^\d+x\d+$")


def read_cast(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """The header and events; fails unless every line is whole JSON, the header has the v2
    fields and the times never go backwards."""
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "the cast ends inside a line"
    lines = raw.decode("utf-8").split("\n")[:-1]
    parsed = [json.loads(line) for line in lines]
    header, events = parsed[0], parsed[1:]
    assert header["version"] == 2
    assert isinstance(header["width"], int) and isinstance(header["height"], int)
    assert isinstance(header["timestamp"], int)
    assert isinstance(header["title"], str) and header["title"]
    assert isinstance(header["env"]["TERM"], str) and header["env"]["TERM"]
    last = 0.0
    for event in events:
        assert isinstance(event, list) and len(event) == 3, event
        at, code, data = event
        assert isinstance(at, int | float) and at >= last, (last, event)
        assert code in ("o", "r", "m"), event
        assert isinstance(data, str)
        if code == "r":
            assert RESIZE.match(data), event
        last = at
    return header, events


def output_of(events: list[list[Any]]) -> str:
    return "".join(data for _at, code, data in events if code == "o")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def asciinema() -> str:
    """The asciinema player (PyPI's 2.4, which `.ci/run` installs)."""
    beside = Path(sys.executable).with_name("asciinema")
    found = str(beside) if beside.exists() else shutil.which("asciinema")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("asciinema is not installed (pip install asciinema==2.4.0)")
        pytest.skip("asciinema is not installed")
    return found


def play(path: Path) -> str:
    """What `asciinema cat` writes for the cast; it must read every line."""
    done = subprocess.run([asciinema(), "cat", str(path)], capture_output=True, text=True,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout
