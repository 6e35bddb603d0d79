"""The panes at 80x24 in a real terminal: what a person over SSH sees and types."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pane_harness import copy_project
from test_panes_dead_letters import project_with_failures
from tmux_harness import Terminal, free_port, motia_command, terminal_of


@pytest.fixture
def small_terminal(tmp_path: Path) -> Iterator[Terminal]:
    yield from terminal_of(tmp_path, 80, 24)


def start_workbench(terminal: Terminal, project: Path, steps: int) -> str:
    port = free_port()
    terminal.start(motia_command("tui", "--dir", str(project), "--port", str(port)), project)
    url = f"http://127.0.0.1:{port}"
    terminal.wait_for(lambda s: f"{steps} steps" in s, "the workbench to start")
    return url


def test_dead_letters_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = project_with_failures(tmp_path)
    url = start_workbench(small_terminal, project, steps=7)
    emitted = httpx.post(f"{url}/__motia/emit", timeout=5,
                         json={"topic": "order.placed", "data": {"email": "ada@example.com"}})
    assert emitted.status_code == 202
    small_terminal.keys("7")
    small_terminal.wait_for(
        lambda s: "1 dead letter" in s and "NotifyCustomer" in s and "order.placed" in s,
        "the dead letter in pane 7",
    )
    small_terminal.keys("Enter")
    small_terminal.wait_for(
        lambda s: "could not handle" in s and "ada@example.com" in s, "the dead letter in full"
    )
    small_terminal.keys("q")  # closes the detail (Esc too, but a key right after it is Alt+key)
    small_terminal.wait_for(lambda s: "could not handle" not in s, "the detail to close")
    small_terminal.keys("r")
    small_terminal.wait_for(lambda s: "re-queued order.placed" in s, "the re-queue")
    small_terminal.wait_for(lambda s: "1 dead letter" in s, "the letter failing again")
    small_terminal.keys("d")
    small_terminal.wait_for(lambda s: "Drop the dead letter" in s, "the question")
    small_terminal.keys("y")
    small_terminal.wait_for(lambda s: "0 dead letters" in s, "the drop")
    small_terminal.keys("3")
    small_terminal.wait_for(lambda s: "drop order.placed" in s, "the drop in Traces")
    assert httpx.get(f"{url}/__motia/dlq", timeout=5).json()["items"] == []


def test_a_busy_port_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    import socket

    project = copy_project(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        small_terminal.start(motia_command("tui", "--dir", str(project), "--port", str(port)),
                             project)
        screen = small_terminal.wait_for(
            lambda s: "could not start" in s, "the workbench to give up"
        )
    assert "address already in use" in " ".join(screen.split())


def test_flows_fit_80_columns_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = copy_project(tmp_path)
    start_workbench(small_terminal, project, steps=6)
    small_terminal.wait_for(lambda s: "{NOOP} Announce" in s, "the full drawing")
    assert "RecordGreeting" not in small_terminal.screen()  # off to the right
    small_terminal.keys("p", "f")
    screen = small_terminal.wait_for(
        lambda s: all(n in s for n in ("Announce", "GreetApi", "MakeGreeting", "RecordGreet")),
        "the whole flow on one screen",
    )
    assert "steps/greet_api_step.py" not in screen  # the side panel is hidden
    assert "→ Jan 1" in screen  # CountTicks' next fire
    small_terminal.keys("+")
    screen = small_terminal.wait_for(lambda s: "RecordGreet" not in s, "the zoomed-in drawing")
    assert "steps/greet_api_step.py" not in screen  # zoomed, not the panel back
    small_terminal.keys("l", "l", "l")
    small_terminal.wait_for(lambda s: "RecordGreeting" in s, "the view following the selection")


def test_a_tall_flow_fits_80x24_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = copy_project(tmp_path, "tall_flow")
    start_workbench(small_terminal, project, steps=7)
    names = ("PlaceOrder", "AddPoints", "ChargeCard", "PackParcel", "ReserveStock",
             "SendReceipt", "Ledger")
    screen = small_terminal.wait_for(lambda s: "PlaceOrder" in s, "the full drawing")
    assert not all(name in screen for name in names)  # taller and wider than the screen
    small_terminal.keys("p", "f")
    small_terminal.wait_for(lambda s: all(name in s for name in names),
                            "the whole flow on one screen")
    small_terminal.keys("+", "+", "+")
    screen = small_terminal.wait_for(lambda s: "SendReceipt" not in s, "the full drawing again")
    assert "(EVT) PackParcel" in screen and "steps/" not in screen  # zoomed, the panel hidden
    small_terminal.keys("j", "j", "j", "j", "j")  # down the middle column to SendReceipt
    small_terminal.wait_for(lambda s: "SendReceipt" in s, "the view following the selection")


HELPER_IMPORTER = """\
from src.lib.greet import greet

config = {"type": "api", "name": "Hello", "path": "/hello", "method": "GET",
          "flows": ["greetings"]}


async def handler(req, context):
    return {"status": 200, "body": greet()}
"""
MISSPELLED = """\
config = {"type": "event", "name": "Typo", "subscribe": ["greet.made"], "flows": ["greetings"]}


async def handler(input, context):
    pass
"""


def test_load_errors_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = copy_project(tmp_path)
    (project / "src" / "lib").mkdir(parents=True)
    (project / "src" / "lib" / "greet.py").write_text("def greet(:\n    return 'hi'\n")
    (project / "steps" / "hello_step.py").write_text(HELPER_IMPORTER)
    (project / "steps" / "typo_step.py").write_text(MISSPELLED)
    start_workbench(small_terminal, project, steps=6)
    small_terminal.wait_for(lambda s: "greet.py:1" in s, "the helper's error in Flows")
    small_terminal.keys("!", "w")  # the errors in Logs, whole lines wrapped
    screen = small_terminal.wait_for(
        lambda s: "wrapping" in s and "A step failed to load" not in s,
        "the wrapped errors, once the load toasts are gone", timeout=30,
    )
    flat = "".join(line.rstrip("\n") for line in screen.splitlines())
    assert "greet.py:1: syntax error" in flat
    assert "(imported by steps/hello_step.py)" in flat
    assert "did you mean 'subscribes' instead of 'subscribe'?" in flat


def test_logs_sideways_wrap_and_t_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = copy_project(tmp_path)
    url = start_workbench(small_terminal, project, steps=6)
    name = "Ada" + "-very-long" * 8
    assert httpx.post(f"{url}/greet", json={"name": name}, timeout=5).status_code == 200
    small_terminal.keys("4")
    small_terminal.wait_for(lambda s: "greeting recorded" in s, "the log line")
    small_terminal.keys("/", *"recorded", "Enter")
    small_terminal.wait_for(lambda s: "1 match" in s, "the filtered line")
    small_terminal.keys(">")
    small_terminal.wait_for(lambda s: "cells right" in s, "the view shifted")
    small_terminal.keys("w")
    screen = small_terminal.wait_for(lambda s: "wrapping" in s, "the wrapped line")
    assert "very-long-very-long" in screen
    small_terminal.keys("t")
    screen = small_terminal.wait_for(lambda s: "── input" in s, "the waterfall")
    assert any(line.lstrip().startswith("▶") and "RecordGreeting" in line
               for line in screen.splitlines()), screen


def test_traces_filter_after_a_restart_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = copy_project(tmp_path)
    url = start_workbench(small_terminal, project, steps=6)
    trace_id = httpx.post(f"{url}/greet", json={"name": "Ada"}, timeout=5).json()["traceId"]
    small_terminal.keys("3")
    small_terminal.wait_for(lambda s: trace_id[:8] in s, "the trace")
    small_terminal.keys("q")
    small_terminal.wait_for(lambda s: "motia  http" not in s, "the workbench to quit")
    small_terminal.close()
    again = Terminal(tmp_path / "tmux2.sock", 80, 24)
    try:
        url = start_workbench(again, project, steps=6)
        again.keys("3")
        again.wait_for(lambda s: trace_id[:8] in s, "the trace read back from the store")
        again.keys("/", *"step:MakeGreeting", "Enter")
        again.wait_for(lambda s: trace_id[:8] in s and "step:MakeGreeting" in s,
                       "the trace found by a step that is not its entry")
        found = httpx.get(f"{url}/__motia/traces?step=MakeGreeting", timeout=5).json()
        assert [t["traceId"] for t in found["traces"]] == [trace_id]
    finally:
        again.close()



LONG_ROUTE = """\
config = {"type": "api", "name": "Long", "method": "GET",
          "path": "/" + "/".join(f"segment{n}" for n in range(12))}


async def handler(req, context):
    return {"status": 204}
"""
AUDIT_STEP = """\
config = {"type": "event", "name": "AuditGreeting", "subscribes": ["greet.requested"],
          "emits": []}


async def handler(input, context):
    pass
"""


def test_endpoints_lists_and_emit_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "long_api_step.py").write_text(LONG_ROUTE)
    (project / "steps" / "a_audit_step.py").write_text(AUDIT_STEP)
    start_workbench(small_terminal, project, steps=8)
    small_terminal.keys("2")
    screen = small_terminal.wait_for(lambda s: "/segment0/" in s, "the route list")
    (route,) = [line for line in screen.splitlines() if "/segment0/" in line]
    assert "…" in route  # cut, not wrapped
    assert not any("segment11" in line for line in screen.splitlines())
    small_terminal.keys("End", "Enter")  # "emit an event"
    small_terminal.wait_for(lambda s: "greet.made" in s, "the Emit tab")
    small_terminal.keys("Enter", "Down", "Enter")  # pick greet.requested
    small_terminal.wait_for(lambda s: '"name": "string"' in s, "the data from MakeGreeting")


FAILING_API = """\
config = {"type": "api", "name": "NotifyCustomer", "path": "/notify", "method": "POST",
          "emits": [], "flows": ["greetings"]}


async def handler(req, context):
    raise ConnectionError("mail server refused")
"""


def test_repeated_failures_toast_once_in_tmux(tmp_path: Path, small_terminal: Terminal) -> None:
    project = copy_project(tmp_path)
    (project / "steps" / "notify_api_step.py").write_text(FAILING_API)
    url = start_workbench(small_terminal, project, steps=7)
    small_terminal.keys("4")
    small_terminal.wait_for(lambda s: "4 Logs" in s and "records" in s, "the Logs pane")
    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(12):
            assert client.post("/notify", json={}).status_code == 500
    screen = small_terminal.wait_for(
        lambda s: "NotifyCustomer failed \u00d7" in s, "the coalesced toast", timeout=20
    )
    lines = screen.splitlines()
    toast_row = next(i for i, line in enumerate(lines) if "NotifyCustomer failed" in line)
    assert toast_row < len(lines) // 2  # at the top, off the newest log lines


def test_a_terminal_paste_of_curl_fills_the_builder_in_tmux(
    tmp_path: Path, small_terminal: Terminal
) -> None:
    project = copy_project(tmp_path)
    url = start_workbench(small_terminal, project, steps=6)
    small_terminal.keys("2")
    small_terminal.wait_for(lambda s: "/greetings/:id" in s, "the route list")
    small_terminal.keys("Down", "Enter")  # GET /greetings/:id: the focus goes to :id
    small_terminal.wait_for(lambda s: ":id       value" in s and "esc Leave" in s,
                            "the focus in the :id input")
    small_terminal.keys("BTab")  # back to the URL line
    time.sleep(0.5)
    command = (f"curl -X POST '{url}/greet' -H 'content-type: application/json' "
               "--data-raw '{\"name\":\"Pasted\"}'")
    small_terminal.paste(command)
    screen = small_terminal.wait_for(lambda s: '"name": "Pasted"' in s,
                                     "the pasted request in the builder")
    assert "POST      ▼  /greet" in screen
    small_terminal.keys("C-j")
    small_terminal.wait_for(lambda s: "200 OK" in s, "the answer")
