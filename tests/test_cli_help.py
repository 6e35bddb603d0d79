"""`motia COMMAND --help` says what the command does and what each of its flags is for, and
`motia emit` reports a refusal as the server's message, not its raw JSON."""

from __future__ import annotations

import argparse
import signal
import subprocess
from pathlib import Path

import pytest
from test_cli import MOTIA, free_port, running, wait_for_line

from motia_tui.cli import build_parser

COMMANDS = [
    "create", "types", "dev", "tui", "demo", "replay", "start", "emit", "openapi", "queue",
    "trace",
]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("motia has no subcommands")


def test_every_command_of_the_readme_is_there() -> None:
    assert sorted(_subcommands()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_says_what_the_command_and_each_flag_do(command: str) -> None:
    shown = subprocess.run([*MOTIA, command, "--help"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    summary = _subcommands()[command].description
    assert summary and summary in " ".join(shown.stdout.split())
    for action in _subcommands()[command]._actions:
        assert action.help, f"motia {command} {'/'.join(action.option_strings)} has no help"


def test_emit_prints_the_servers_refusal_as_one_line(tmp_path: Path) -> None:
    subprocess.run([*MOTIA, "create", "app"], cwd=tmp_path, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(["start", "--dir", str(tmp_path / "app"), "--port", str(port),
                  "--introspect-token", "s3cret"]) as p:
        wait_for_line(p, "press Ctrl+C to stop")
        refused = subprocess.run(
            [*MOTIA, "emit", "--topic", "order.placed", "--url", url], capture_output=True,
            text=True,
        )
        assert refused.returncode == 1
        assert refused.stderr == "motia emit: 401 missing or wrong introspection token\n"
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0


def test_create_where_nothing_can_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    for target in (tmp_path / "afile" / "shop", Path("/proc/motia-shop")):
        done = subprocess.run([*MOTIA, "create", str(target)], capture_output=True, text=True)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith(f"motia create: cannot write {target}: ")
        assert done.stderr.count("\n") == 1, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
