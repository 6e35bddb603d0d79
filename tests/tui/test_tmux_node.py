"""`motia tui` in a real terminal on Motia's multi-language template, unchanged: the
TypeScript api step answers, the chain crosses into Python and JavaScript, Traces shows every
span and Logs every record."""

from __future__ import annotations

import shlex
from pathlib import Path

import httpx
from node_support import template_project
from test_tmux import Terminal, free_port, motia_command, terminal  # noqa: F401 (fixture)

RECORDS = (
    "Hello API endpoint called (TypeScript)",
    "Processing greeting (Python)",
    "Greeting processed successfully (Python)",
    "Logging greeting (JavaScript)",
    "Greeting workflow complete (JavaScript)",
)


def test_the_multilang_template_in_motia_tui(tmp_path: Path, terminal: Terminal) -> None:  # noqa: F811
    project = template_project(tmp_path, "hello_multilang")
    port = free_port()
    command = " ".join(
        shlex.quote(part)
        for part in [*motia_command(), "tui", "--dir", str(project), "--port", str(port)]
    )
    terminal.start(f"{command}; sleep 60", project)
    url = f"http://127.0.0.1:{port}"
    terminal.wait_for(lambda s: url in s and "3 steps" in s, "the workbench to start", 60)
    terminal.wait_for(
        lambda s: "ts GET /hello" in s and "py process-greeting" in s, "the languages in Flows"
    )

    response = httpx.get(f"{url}/hello", timeout=10)
    assert response.status_code == 200
    trace_id = response.headers["x-trace-id"]

    terminal.keys("3")
    terminal.wait_for(lambda s: trace_id[:8] in s and "3 sp" in s, "the trace in Traces")
    terminal.keys("Enter")
    terminal.wait_for(
        lambda s: all(step in s for step in ("HelloAPI", "ProcessGreeting", "LogGreeting")),
        "every span in the waterfall",
    )
    terminal.keys("Escape")
    terminal.keys("4")
    terminal.wait_for(lambda s: all(r in s for r in RECORDS), "every record in Logs")
