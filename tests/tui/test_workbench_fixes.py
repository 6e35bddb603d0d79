"""Things a user found in the workbench, each checked through the whole app."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pane_harness import copy_project, wait_for

from engine.settings import Settings
from motia_tui.app import make_workbench
from motia_tui.source import LocalSource


async def test_a_busy_port_says_address_already_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        source = LocalSource(copy_project(tmp_path), Settings(), "127.0.0.1", port, watch=False)
        app = make_workbench(source)
        async with app.run_test(size=(80, 24)):
            await wait_for(lambda: app._exit, what="the workbench to give up")
    assert app.return_code == 1
    printed = " ".join(capsys.readouterr().err.split())
    assert f"could not listen on 127.0.0.1:{port}" in printed
    assert "address already in use" in printed
