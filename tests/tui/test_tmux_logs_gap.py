"""A loss past what the Logs pane reads back, in a real terminal: the gap line, Enter.

One request logs 160,000 records without yielding: the workbench's feed (50,000 events)
keeps only the newest, a read-back takes the 100,000 before them, and the oldest ones are
left to a gap line at the top that says how many it stands for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pane_harness import copy_project
from tmux_harness import Terminal, free_port, motia_command, terminal_of

LINES = 160_000
FLOOD = f'''
config = {{"type": "api", "name": "Flood", "path": "/flood", "method": "POST", "emits": []}}


async def handler(req, context):
    for line in range({LINES}):
        context.logger.info("flood line", {{"line": line}})
    return {{"status": 200, "body": {{}}}}
'''


@pytest.fixture
def wide_terminal(tmp_path: Path) -> Iterator[Terminal]:
    yield from terminal_of(tmp_path, 160, 30)


def test_a_gap_line_in_tmux_says_how_many_and_enter_reads_them(
    tmp_path: Path, wide_terminal: Terminal
) -> None:
    term = wide_terminal
    project = copy_project(tmp_path)
    (project / "steps" / "flood_step.py").write_text(FLOOD, encoding="utf-8")
    port = free_port()
    term.start(motia_command("tui", "--dir", str(project), "--port", str(port)), project)
    term.wait_for(lambda s: "7 steps" in s, "the workbench to start")
    term.keys("4")
    term.wait_for(lambda s: "records  ·" in s, "the Logs pane")
    answer = httpx.post(f"http://127.0.0.1:{port}/flood", json={}, timeout=120)
    assert answer.status_code == 200
    screen = term.wait_for(lambda s: re.search(r"[\d,]+ not shown in 1 gap", s) is not None,
                           "the gap counted", timeout=120)
    found = re.search(r"([\d,]+) not shown in 1 gap", screen)
    assert found is not None
    missing = int(found.group(1).replace(",", ""))
    assert missing > 0

    term.keys("Home")
    screen = term.wait_for(lambda s: "records not shown" in s, "the gap line at the top")
    rows = screen.splitlines()
    status = next(i for i, row in enumerate(rows) if "records  ·" in row)
    gap = next(i for i, row in enumerate(rows) if "records not shown" in row)
    assert f"{missing:,} records not shown" in rows[gap]
    assert "Enter reads them from the store" in rows[gap]
    term.keys(*["j"] * (gap - status - 1), "Enter")
    term.wait_for(lambda s: "not shown" not in s and "reading a gap" not in s,
                  "the gap read back", timeout=120)
    term.keys("/", *"line.: 1234}", "Enter")
    term.wait_for(lambda s: "1 match" in s, "a record from the gap found")
    term.keys("Escape")
    screen = term.wait_for(lambda s: "match" not in s, "the filter cleared")
    total = re.search(r"([\d,]+) records  ·", screen)
    assert total is not None
    stored = httpx.get(f"http://127.0.0.1:{port}/__motia/logs/count", timeout=30).json()
    assert int(total.group(1).replace(",", "")) == stored["count"]
