"""The `motia` command as a user runs it: real processes, real ports, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
MOTIA = [sys.executable, "-m", "motia_tui.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 20) -> list[str]:
    """Read stdout until a line holds `needle`; answer every line read."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never printed; got:\n" + "\n".join(lines))


@contextmanager
def running(args: list[str], cwd: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*MOTIA, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env, stdin=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_create_writes_the_template_and_prints_the_next_command(tmp_path: Path) -> None:
    result = subprocess.run([*MOTIA, "create", "shop"], cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    assert "next: cd shop && motia dev" in result.stdout
    steps = sorted(p.name for p in (tmp_path / "shop").rglob("*_step.py"))
    assert "hello_api_step.py" in steps
    assert not (tmp_path / "shop" / ".motia").exists()
    again = subprocess.run([*MOTIA, "create", "shop"], cwd=tmp_path, capture_output=True,
                           text=True)
    assert again.returncode == 1
    assert "not empty" in again.stderr


@pytest.mark.parametrize("lang", ["py", "ts", "js", "multi"])
def test_a_created_project_keeps_request_secrets_out_of_git(tmp_path: Path, lang: str) -> None:
    subprocess.run([*MOTIA, "create", "shop", "--lang", lang], cwd=tmp_path,
                   capture_output=True, check=True)
    project = tmp_path / "shop"
    env = project / "motia-requests" / "env"
    env.mkdir(parents=True)
    (env / "dev.env").write_text("host=127.0.0.1\n")
    (env / "dev.local.env").write_text("token=abcdef123\n")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    ignored = subprocess.run(
        ["git", "check-ignore", "motia-requests/env/dev.local.env", "motia-requests/env/dev.env"],
        cwd=project, capture_output=True, text=True,
    )
    assert ignored.stdout.split() == ["motia-requests/env/dev.local.env"]


def test_version_prints_the_installed_version() -> None:
    from importlib import metadata

    result = subprocess.run([*MOTIA, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"motia {metadata.version('motia-tui')}"


def test_create_quotes_paths_and_refuses_names_nobody_can_type(tmp_path: Path) -> None:
    result = subprocess.run([*MOTIA, "create", "bad name/x"], cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    assert "next: cd 'bad name/x' && motia dev" in result.stdout
    assert f"created '{tmp_path / 'bad name' / 'x'}'" in result.stdout
    assert (tmp_path / "bad name" / "x" / "steps" / "hello_api_step.py").is_file()
    for bad in ["", "  ", "shop\nx"]:
        refused = subprocess.run([*MOTIA, "create", bad], cwd=tmp_path, capture_output=True,
                                 text=True)
        assert refused.returncode == 2, bad
        assert refused.stderr.startswith("motia create: the project name"), refused.stderr
    (tmp_path / "a file").write_text("x")
    clash = subprocess.run([*MOTIA, "create", "a file"], cwd=tmp_path, capture_output=True,
                           text=True)
    assert clash.returncode == 1
    assert f"'{tmp_path / 'a file'}' is a file" in clash.stderr


def test_dev_headless_serves_prints_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    subprocess.run([*MOTIA, "create", "app"], cwd=tmp_path, check=True, capture_output=True)
    port = free_port()
    with running(["dev", "--no-tui", "--dir", str(tmp_path / "app"), "--port", str(port)]) as p:
        banner = wait_for_line(p, "press Ctrl+C to stop")
        text = "\n".join(banner)
        assert f"http://127.0.0.1:{port}" in text
        assert "GET /default" in text and "POST /orders" in text
        assert "order.placed" in text and "OrderReport * * * * *" in text
        answer = httpx.get(f"http://127.0.0.1:{port}/default", timeout=10)
        assert answer.json() == {"message": "Hello World from Motia!"}
        line = wait_for_line(p, "hello world requested")[-1]
        assert line.startswith("INFO ") and "HelloWorld" in line
        assert answer.headers["x-trace-id"][:8] in line

        emitted = subprocess.run(
            [*MOTIA, "emit", "--topic", "order.placed", "--data",
             '{"id": "cli1", "item": "tea", "quantity": 3}', "--url",
             f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True,
        )
        assert emitted.stdout.startswith("emitted order.placed: trace ")
        wait_for_line(p, "customer notified")
        state = httpx.get(f"http://127.0.0.1:{port}/__motia/state/orders/cli1", timeout=10)
        assert state.json()["total"] == 13.5

        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0


def test_dev_json_prints_banner_and_records_as_json_lines(tmp_path: Path) -> None:
    subprocess.run([*MOTIA, "create", "app"], cwd=tmp_path, check=True, capture_output=True)
    port = free_port()
    with running(["dev", "--json", "--dir", str(tmp_path / "app"), "--port", str(port)]) as p:
        lines = wait_for_line(p, '"type": "banner"')
        banner = json.loads(lines[-1])
        assert banner["routes"] == ["GET /default", "POST /orders"]
        assert all(json.loads(line) for line in lines)
        httpx.get(f"http://127.0.0.1:{port}/default", timeout=10)
        record = json.loads(wait_for_line(p, "hello world requested")[-1])
        assert record["step"] == "HelloWorld" and record["level"] == "info"
        p.send_signal(signal.SIGINT)
        assert p.wait(15) == 0


def test_start_serves_introspection_only_with_its_token(tmp_path: Path) -> None:
    subprocess.run([*MOTIA, "create", "app"], cwd=tmp_path, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(["start", "--dir", str(tmp_path / "app"), "--port", str(port)]) as p:
        wait_for_line(p, "press Ctrl+C to stop")
        assert httpx.get(f"{url}/default", timeout=10).status_code == 200
        assert httpx.get(f"{url}/__motia/steps", timeout=10).status_code == 404
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    with running(["start", "--dir", str(tmp_path / "app"), "--port", str(port),
                  "--introspect-token", "s3cret"]) as p:
        wait_for_line(p, "press Ctrl+C to stop")
        assert httpx.get(f"{url}/__motia/steps", timeout=10).status_code == 401
        ok = httpx.get(f"{url}/__motia/steps", headers={"authorization": "Bearer s3cret"},
                       timeout=10)
        assert ok.status_code == 200 and len(ok.json()["steps"]) == 6
        refused = subprocess.run(
            [*MOTIA, "emit", "--topic", "order.placed", "--url", url], capture_output=True,
            text=True,
        )
        assert refused.returncode == 1 and "401" in refused.stderr


def test_a_bad_setting_stops_the_start_naming_key_and_source(tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / "steps").mkdir(parents=True)
    (project / "motia.toml").write_text('max_body_bytes = "lots"\n')
    result = subprocess.run([*MOTIA, "dev", "--no-tui", "--dir", str(project)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "max_body_bytes" in result.stderr and "motia.toml" in result.stderr


def test_contradicting_settings_stop_the_start_in_one_line(tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / "steps").mkdir(parents=True)
    (project / "motia.toml").write_text("retry_base_s = 40\n")
    result = subprocess.run([*MOTIA, "start", "--dir", str(project)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr == (
        f"motia: setting 'retry_base_s' from {project / 'motia.toml'}: 40.0 is above "
        "'retry_max_s' (30.0 from the default); the first retry delay cannot be longer than "
        "the longest\n"
    )


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "steps").mkdir()
        result = subprocess.run([*MOTIA, "dev", "--no-tui", "--dir", str(tmp_path), "--port",
                                 str(port)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "address already in use" in result.stderr


def test_headless_dev_never_imports_the_workbench(tmp_path: Path) -> None:
    (tmp_path / "steps").mkdir()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "motia_tui.cli", "dev", "--no-tui", "--dir",
         str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for_line(process, "press Ctrl+C to stop")
        process.send_signal(signal.SIGTERM)
        _out, imports = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in imports.splitlines() if "|" in line}
    assert "uvicorn" in imported
    assert not {name for name in imported if name.split(".")[0] in ("textual", "rich")}


def incompatible_store(project: Path) -> Path:
    """A store file of another schema version, as a newer release would leave it."""
    store = project / ".motia" / "store.sqlite3"
    store.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(store) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    return store


def test_an_incompatible_store_is_one_line_for_every_command(tmp_path: Path) -> None:
    """`dev --no-tui`, `start` and `tui` build their server the same way, so they refuse a
    store of another schema version with the same one line (here without a terminal)."""
    (tmp_path / "steps").mkdir()
    store = incompatible_store(tmp_path)
    for command in (["dev", "--no-tui"], ["start"], ["tui"]):
        result = subprocess.run(
            [*MOTIA, *command, "--dir", str(tmp_path), "--port", str(free_port())],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr, command
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"motia: {store} was written by store schema version 99"), line
        assert result.stdout == ""


START_UP_COLLECTIONS = """
import gc, sys
from motia_tui.cli import main
seen = []
gc.callbacks.append(lambda phase, info: phase == "start" and seen.append(info["generation"]))
code = main(["tui", "--dir", sys.argv[1]])
print(code, 2 in seen, gc.isenabled())
"""


def test_the_workbench_starts_with_the_collector_off_and_turns_it_on_again(
    tmp_path: Path,
) -> None:
    """Importing Textual and loading the project run no full collection (one among the
    imports walked everything start-up had made); a workbench that cannot start (here: no
    terminal) leaves the collector on."""
    subprocess.run([*MOTIA, "create", "app"], cwd=tmp_path, check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-c", START_UP_COLLECTIONS, str(tmp_path / "app")],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split("\n")[-2] == "2 False True", result.stdout + result.stderr
