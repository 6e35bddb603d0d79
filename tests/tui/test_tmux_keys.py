"""Keys typed ahead in a real terminal at 80x24: `motia tui` in tmux, each key sent by its
own `tmux send-keys` with no pause, ends where the same keys sent slowly end."""

from __future__ import annotations

import os
import random
import re
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pane_harness import copy_project
from test_tmux import TMUX, Terminal, free_port, motia_command

SIZE = (80, 24)
TEAM_USERS_API = """
config = {"type": "api", "name": "TeamUser", "path": "/accounts/:team/users/:userId",
          "method": "GET", "emits": [], "flows": ["greetings"]}


async def handler(req, context):
    return {"status": 200, "body": req.pathParams}
"""
PANE_MARKS = {
    "Endpoints": "Routes",
    "Traces": "Enter opens",
    "Logs": "Follow tail",
    "State": "Edit value",
}
"""What only that pane shows at 80x24 (its list heading, status line or footer)."""


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[list[Terminal]]:
    if TMUX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed")
        pytest.skip("tmux is not installed")
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


def open_workbench(tmp_path: Path, terminals: list[Terminal]) -> tuple[Terminal, str]:
    project = copy_project(tmp_path)
    (project / "steps" / "team_user_step.py").write_text(TEAM_USERS_API, encoding="utf-8")
    port = free_port()
    name = f"keys-{uuid.uuid4().hex[:8]}"
    term = Terminal(name, tmp_path / f"{name}.sock", size=SIZE)
    terminals.append(term)
    command = " ".join(
        shlex.quote(part)
        for part in [*motia_command(), "tui", "--dir", str(project), "--port", str(port)]
    )
    term.start(f"{command}; sleep 60", project)
    url = f"http://127.0.0.1:{port}"
    term.wait_for(lambda s: "7 steps" in s and "Next node" in s, "the workbench to start")
    return term, url


def settled(term: Terminal) -> str:
    """The screen once three captures a fifth of a second apart agree."""
    seen = [term.screen()]
    deadline = time.monotonic() + 15
    while len(seen) < 3 or len(set(seen[-3:])) > 1:
        assert time.monotonic() < deadline, "the screen never settled"
        time.sleep(0.2)
        seen.append(term.screen())
    return seen[-1]


def footer(screen: str) -> str:
    lines = [line for line in screen.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def test_pane_keys_sent_together_each_switch_the_pane_and_its_keys(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term, _url = open_workbench(tmp_path, terminals)
    term.burst("2", "3", "4")
    screen = term.wait_for(lambda s: "Follow tail" in footer(s), "the Logs keys in the footer")
    assert "Open trace" not in screen
    term.burst("Enter")
    term.wait_for(lambda s: '"level": "info"' in s, "a log record")
    term.burst("Escape", "2", "3", "5")
    term.wait_for(lambda s: "Edit value" in footer(s), "the State keys in the footer")
    term.burst("1", "2", "4")
    term.wait_for(lambda s: "Follow tail" in footer(s), "the Logs keys in the footer")


def test_typing_with_tab_between_inputs_sent_together(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term, url = open_workbench(tmp_path, terminals)
    term.keys("2")
    term.wait_for(lambda s: "/accounts/:team" in s, "the route list")
    term.burst("Enter", *"acme", "Tab", *"u42", "C-s")
    screen = term.wait_for(lambda s: '"userId": "u42"' in s, "the answer to the request")
    assert '"team": "acme"' in screen
    assert httpx.get(f"{url}/accounts/acme/users/u42", timeout=5).json() == {
        "team": "acme", "userId": "u42",
    }


def test_esc_then_a_pane_key_leaves_the_waterfall(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term, url = open_workbench(tmp_path, terminals)
    trace_id = httpx.post(f"{url}/greet", json={"name": "Esc"}, timeout=5).json()["traceId"]
    term.keys("3")
    term.wait_for(lambda s: trace_id[:8] in s, "the trace in the list")
    term.keys("Enter")
    term.wait_for(lambda s: "Copy span" in footer(s), "the waterfall")
    term.burst("Escape", "2")
    term.wait_for(lambda s: "Routes" in s and "Send" in footer(s), "Endpoints")


def marks(screen: str) -> tuple[str, str]:
    """The pane on screen and the footer, without numbers that change between runs."""
    shown = next((pane for pane, mark in PANE_MARKS.items() if mark in screen), "other")
    return shown, re.sub(r"\d+", "#", footer(screen))


@pytest.mark.parametrize("seed", [13, 42])
def test_generated_keys_sent_together_end_as_sent_slowly(
    tmp_path: Path, terminals: list[Terminal], seed: int
) -> None:
    rng = random.Random(seed)
    alphabet = ["1", "2", "3", "4", "5", "F2", "F3", "F4", "Tab", "Escape", "j", "k"]
    keys = [rng.choice(alphabet) for _ in range(rng.randint(8, 20))]
    slow, _ = open_workbench(tmp_path / "slow", terminals)
    fast, _ = open_workbench(tmp_path / "fast", terminals)
    for key in keys:
        slow.keys(key)
        settled(slow)
    fast.burst(*keys)
    expected = marks(settled(slow))
    fast.wait_for(lambda s: marks(s) == expected, f"{expected} after {keys}")


def test_attached_workbench_marks_its_link_and_refuses_to_send_while_down(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    project = copy_project(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def serve() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(
            [*motia_command(), "dev", "--no-tui", "--dir", str(project), "--port", str(port)],
            cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/__motia/steps", timeout=1)
                return server
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the engine never served"
                time.sleep(0.1)

    def stop(server: subprocess.Popen[bytes]) -> None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    server = serve()
    try:
        name = f"attach-{uuid.uuid4().hex[:8]}"
        term = Terminal(name, tmp_path / f"{name}.sock", size=SIZE)
        terminals.append(term)
        command = " ".join(shlex.quote(p) for p in [*motia_command(), "tui", "--attach", url])
        term.start(f"{command}; sleep 60", project)
        term.wait_for(lambda s: "● connected" in s and "6 steps" in s, "the connected mark")
        stop(server)
        term.wait_for(lambda s: "✗ disconnected" in s, "the disconnected mark", timeout=20)
        term.keys("2", "Enter", "C-s")
        term.wait_for(lambda s: "not sent" in s, "Send refused while the link is down")
        server = serve()
        term.wait_for(lambda s: "● connected" in s, "connected again", timeout=20)
        term.keys("C-s")
        term.wait_for(lambda s: "200 OK" in s and "not sent" not in s, "Send working again")
    finally:
        stop(server)
