"""SIGTERM to `motia tui` in a real terminal drains as `motia dev --no-tui` does: a request
in flight is answered, the process exits 0 and gives the terminal back; a handler that
outlives `shutdown_grace_s` ends the process with status 1, saying so."""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tmux_harness import Terminal, free_port, motia_command, terminal_of

SLOW = """
    import asyncio
    import os
    import time
    from pathlib import Path

    config = {"type": "api", "name": "Slow", "path": "/slow", "method": "POST", "emits": []}

    async def handler(req, ctx):
        (Path(__file__).resolve().parent.parent / "pid").write_text(str(os.getpid()))
        if req.body.get("block"):  # holds the whole engine: nothing can cancel it
            time.sleep(req.body["seconds"])
        await asyncio.sleep(req.body["seconds"])
        return {"status": 200, "body": {"slept": req.body["seconds"]}}
"""


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    yield from terminal_of(tmp_path, 100, 30)


def _workbench(tmp_path: Path, terminal: Terminal, toml: str = "") -> tuple[Path, str, Path]:
    project = tmp_path / "project"
    (project / "steps").mkdir(parents=True)
    (project / "steps" / "slow_step.py").write_text(
        "\n".join(line[4:] for line in SLOW.splitlines())
    )
    (project / "motia.toml").write_text(toml)
    port = free_port()
    status = tmp_path / "status"
    command = motia_command("tui", "--dir", str(project), "--port", str(port))
    terminal.start(f"{command}; echo $? > {shlex.quote(str(status))}", project)
    url = f"http://127.0.0.1:{port}"
    terminal.wait_for(lambda s: url in s and "1 step" in s, "the workbench to start", 60)
    return project, url, status


def _status(status: Path, terminal: Terminal, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not status.exists() or not status.read_text().strip():
        assert time.monotonic() < deadline, f"no exit status; screen:\n{terminal.screen()}"
        time.sleep(0.1)
    return status.read_text().strip()


def _post_in_background(
    url: str, seconds: float, block: bool = False
) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def post() -> None:
        try:
            body = {"seconds": seconds, "block": block}
            response = httpx.post(f"{url}/slow", json=body, timeout=30)
            answer["status"], answer["body"] = response.status_code, response.json()
        except httpx.HTTPError as exc:
            answer["error"] = repr(exc)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, answer


def _pid(project: Path) -> int:
    deadline = time.monotonic() + 20
    while not (project / "pid").exists() or not (project / "pid").read_text():
        assert time.monotonic() < deadline, "the handler never started"
        time.sleep(0.05)
    return int((project / "pid").read_text())


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(
    tmp_path: Path, terminal: Terminal
) -> None:
    project, url, status = _workbench(tmp_path, terminal)
    thread, answer = _post_in_background(url, 2.0)
    os.kill(_pid(project), signal.SIGTERM)
    thread.join(30)
    assert answer == {"status": 200, "body": {"slept": 2.0}}
    assert _status(status, terminal, 20) == "0"
    screen = terminal.screen()
    assert url not in screen, f"the workbench is still on the screen:\n{screen}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/__motia/health", timeout=2)


def test_an_async_handler_past_half_the_grace_is_cancelled_with_503_and_exit_0(
    tmp_path: Path, terminal: Terminal
) -> None:
    project, url, status = _workbench(tmp_path, terminal, "shutdown_grace_s = 4\n")
    thread, answer = _post_in_background(url, 60.0)
    os.kill(_pid(project), signal.SIGTERM)
    thread.join(30)
    assert answer["status"] == 503
    assert answer["body"]["error"] == "the server shut down before answering; try again"
    assert _status(status, terminal, 20) == "0"


def test_a_handler_blocking_past_shutdown_grace_s_ends_the_workbench_with_status_1(
    tmp_path: Path, terminal: Terminal
) -> None:
    project, _url, status = _workbench(tmp_path, terminal, "shutdown_grace_s = 2\n")
    thread, _answer = _post_in_background(_url, 8.0, block=True)
    os.kill(_pid(project), signal.SIGTERM)
    started = time.monotonic()
    assert _status(status, terminal, 20) == "1"
    assert time.monotonic() - started < 7
    screen = terminal.wait_for(
        lambda s: "did not finish within 2s" in s, "the line saying why", 5
    )
    assert "(setting shutdown_grace_s)" in screen
    assert _url not in screen, f"the workbench is still on the screen:\n{screen}"
    thread.join(30)
