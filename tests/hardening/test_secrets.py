"""Item 8: what `motia start` tells clients, and what the banner prints of a token."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from engine_support import served, write_files
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine.run_lifecycle import GENERIC_ERROR

SECRET = "secret-db-password=hunter2"
STEPS = {
    "steps/leak_step.py": f"""
        config = {{"type": "api", "name": "Leak", "path": "/leak", "method": "GET",
                  "emits": []}}

        async def handler(req, ctx):
            raise RuntimeError("could not connect: {SECRET}")
    """,
}
MOTIA = [sys.executable, "-m", "motia_tui.cli"]


def _project(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    return write_files(tmp_path / "project", {**STEPS, **(extra or {})})


async def test_start_answers_a_failure_with_a_generic_message_and_the_trace_id(
    tmp_path: Path,
) -> None:
    async with served(_project(tmp_path), mode="start", introspect=False) as (engine, client):
        answer = await client.get("/leak")
        assert answer.status_code == 500
        assert SECRET not in answer.text
        trace_id = answer.headers["x-trace-id"]
        assert answer.json() == {"error": GENERIC_ERROR, "traceId": trace_id}
        records = await engine.logs.find(trace_id, None, None, None, limit=10)
        assert any(SECRET in r["msg"] for r in records)  # the log keeps the detail


async def test_dev_still_shows_the_failure_to_its_developer(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        answer = await client.get("/leak")
        assert answer.status_code == 500
        assert SECRET in answer.json()["error"]


async def test_start_refuses_a_broken_auth_hook_without_its_message(tmp_path: Path) -> None:
    broken = {"motia_auth.py": f'raise RuntimeError("{SECRET}")\n'}
    async with served(_project(tmp_path, broken), mode="start", introspect=False) as (
        _engine,
        client,
    ):
        url = str(client.base_url).replace("http://", "ws://", 1) + "/"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        assert refused.value.response.status_code == 500
        assert SECRET.encode() not in refused.value.response.body
        assert json.loads(refused.value.response.body) == {"error": GENERIC_ERROR}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _banner(args: list[str], project: Path, env: dict[str, str] | None = None) -> list[str]:
    """Run `motia ARGS --json` until its banner, stop it, and answer every line it printed."""
    process = subprocess.Popen(
        [*MOTIA, *args, "--json", "--dir", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line.rstrip("\n"))
            if '"type": "banner"' in line:
                break
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=15)
        lines.extend(rest.splitlines())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return lines


def _banner_of(lines: list[str]) -> dict:
    for line in lines:
        if '"type": "banner"' in line:
            return json.loads(line)
    raise AssertionError("no banner in:\n" + "\n".join(lines))


def test_the_banner_names_where_a_supplied_token_came_from(tmp_path: Path) -> None:
    project = _project(tmp_path)
    port = str(_free_port())
    from_flag = _banner(["start", "--port", port, "--introspect-token", "flagtok1"], project)
    assert _banner_of(from_flag)["introspectionTokenFrom"] == "--introspect-token"
    from_env = _banner(["start", "--port", port], project, {"MOTIA_INTROSPECT_TOKEN": "envtok2"})
    assert _banner_of(from_env)["introspectionTokenFrom"] == "MOTIA_INTROSPECT_TOKEN"
    (project / "motia.toml").write_text('introspect_token = "filetok3"\n')
    from_file = _banner(["start", "--port", port], project)
    assert _banner_of(from_file)["introspectionTokenFrom"] == str(project / "motia.toml")
    for lines, token in ((from_flag, "flagtok1"), (from_env, "envtok2"), (from_file, "filetok3")):
        assert _banner_of(lines)["introspectionToken"] is None
        assert not any(token in line for line in lines), lines


def test_a_generated_token_is_printed_once(tmp_path: Path) -> None:
    lines = _banner(["dev", "--host", "127.0.0.2", "--port", str(_free_port())], _project(tmp_path))
    banner = _banner_of(lines)
    token = banner["introspectionToken"]
    assert token and banner["introspectionTokenFrom"] is None
    assert sum(line.count(token) for line in lines) == 1


def test_dev_takes_introspect_token(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            *MOTIA,
            "dev",
            "--no-tui",
            "--port",
            str(port),
            "--introspect-token",
            "devtok4",
            "--dir",
            str(_project(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        printed: list[str] = []
        while not any("press Ctrl+C" in line for line in printed):
            line = process.stdout.readline()
            assert line, "motia dev exited:\n" + "".join(printed)
            printed.append(line)
        assert "  introspection token: from --introspect-token\n" in printed
        assert httpx.get(f"{url}/__motia/steps", timeout=10).status_code == 401
        allowed = httpx.get(
            f"{url}/__motia/steps", headers={"authorization": "Bearer devtok4"}, timeout=10
        )
        assert allowed.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        process.stdout.close()
