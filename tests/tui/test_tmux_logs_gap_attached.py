"""The Logs pane's gap line when attached: `motia tui --attach` to a running `motia dev`.

The engine runs in its own process and the workbench reads it only through the
introspection API and the events websocket, as over a network: one request logs 160,000
records without yielding, the feed keeps only the newest, a read-back takes the 100,000
before them, and the oldest are left to a gap line. Its count comes from
`GET /__motia/logs/count`, `Enter` reads it back through `GET /__motia/logs?since=&until=`,
and a filter finds a record that was in the gap.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pane_harness import copy_project
from test_tmux_logs_gap import FLOOD
from tmux_harness import Terminal, free_port, motia_command, terminal_of


@pytest.fixture
def wide_terminal(tmp_path: Path) -> Iterator[Terminal]:
    yield from terminal_of(tmp_path, 160, 30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """`motia dev --no-tui` on a free port, serving a project with the flood step."""
    project = copy_project(tmp_path)
    (project / "steps" / "flood_step.py").write_text(FLOOD, encoding="utf-8")
    port = free_port()
    command = [Path(sys.executable).with_name("motia"), "dev", "--no-tui", "--dir", project,
               "--port", str(port)]
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/__motia/flows", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield project, port
    finally:
        process.terminate()
        process.wait(timeout=20)


def count_of(pattern: str, screen: str) -> int:
    found = re.search(pattern, screen)
    assert found is not None, screen
    return int(found.group(1).replace(",", ""))


def flood_until_a_gap(url: str, term: Terminal) -> str:
    """One flood request; the screen once the gap line it left is counted."""
    answer = httpx.post(f"{url}/flood", json={}, timeout=120)
    assert answer.status_code == 200
    return term.wait_for(lambda s: re.search(r"[\d,]+ not shown in 1 gap", s) is not None,
                         "the gap counted", timeout=250)


@pytest.mark.timeout(600)
def test_an_attached_gap_line_is_counted_read_back_and_searched_through_the_api(
    served: tuple[Path, int], wide_terminal: Terminal
) -> None:
    project, port = served
    url = f"http://127.0.0.1:{port}"
    term = wide_terminal
    term.start(motia_command("tui", "--attach", url), project)
    term.wait_for(lambda s: "7 steps" in s, "the workbench attached")
    term.keys("4")
    term.wait_for(lambda s: "records  ·" in s, "the Logs pane")

    screen = flood_until_a_gap(url, term)
    missing = count_of(r"([\d,]+) not shown in 1 gap", screen)
    shown = count_of(r"([\d,]+) records  ·", screen)
    stored = httpx.get(f"{url}/__motia/logs/count", timeout=30).json()["count"]
    assert missing > 0
    assert shown + missing == stored

    term.keys("Home")
    screen = term.wait_for(lambda s: "records not shown" in s, "the gap line at the top")
    rows = screen.splitlines()
    status = next(i for i, row in enumerate(rows) if "records  ·" in row)
    gap = next(i for i, row in enumerate(rows) if "records not shown" in row)
    assert f"{missing:,} records not shown" in rows[gap]
    term.keys(*["j"] * (gap - status - 1), "Enter")
    screen = term.wait_for(lambda s: "not shown" not in s and "reading a gap" not in s,
                           "the gap read back", timeout=120)
    assert count_of(r"([\d,]+) records  ·", screen) == stored

    term.keys("End")
    flood_until_a_gap(url, term)  # a second gap, in the middle this time
    term.keys("/", *"line.: 1234}", "Enter")
    term.wait_for(lambda s: "2 match" in s and "not shown" not in s,
                  "the filter read the gap back and found its record there", timeout=120)
    term.keys("Escape")
    screen = term.wait_for(lambda s: "match" not in s, "the filter cleared")
    stored = httpx.get(f"{url}/__motia/logs/count", timeout=30).json()["count"]
    assert count_of(r"([\d,]+) records  ·", screen) == stored
