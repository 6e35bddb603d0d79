"""`motia trace` as a user runs it: against a running server (`--attach`, with its token) and
on a project's own store, in real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_cli import MOTIA, ROOT, free_port, running, wait_for_line

pytestmark = pytest.mark.timeout(600)
"""Each test starts servers and runs `motia` some twenty times, each a fresh interpreter."""


def motia(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MOTIA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, input=stdin,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def create(tmp_path: Path, name: str) -> Path:
    subprocess.run([*MOTIA, "create", name], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path / name


def order(port: int) -> str:
    answer = httpx.post(
        f"http://127.0.0.1:{port}/orders", json={"item": "tea", "quantity": 2},
        headers={"authorization": "Bearer user-token"}, timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return answer.headers["x-trace-id"]


def test_trace_commands_against_an_attached_server(tmp_path: Path) -> None:
    shop = create(tmp_path, "shop")
    other = create(tmp_path, "other")
    port, other_port = free_port(), free_port()
    url, other_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{other_port}"
    serve = ["start", "--introspect-token", "tok", "--port"]
    attach = ["--attach", url, "--token", "tok"]
    with running([*serve, str(port), "--dir", str(shop)]) as server:
        wait_for_line(server, "press Ctrl+C to stop")
        trace_id = order(port)
        wait_for_line(server, "customer notified")

        refused = motia("trace", "list", "--attach", url)
        assert refused.returncode == 1 and "token" in refused.stderr

        listed = motia("trace", "list", *attach)
        assert listed.returncode == 0, listed.stderr
        assert trace_id in listed.stdout and "PlaceOrder" in listed.stdout
        by_step = motia("trace", "list", *attach, "--step", "NotifyCustomer", "--json")
        assert [t["traceId"] for t in json.loads(by_step.stdout)] == [trace_id]
        assert json.loads(motia("trace", "list", *attach, "--status", "error",
                                "--json").stdout) == []

        shown = motia("trace", "show", trace_id[:8], *attach)
        assert shown.returncode == 0, shown.stderr
        assert "ProcessOrder [event]" in shown.stdout and "NotifyCustomer" in shown.stdout

        needs = motia("trace", "rerun", trace_id, *attach)
        assert needs.returncode == 1
        assert "authorization" in needs.stderr and "--header 'authorization: ...'" in needs.stderr
        rerun = motia("trace", "rerun", trace_id, *attach,
                      "--header", "authorization: Bearer again")
        assert rerun.returncode == 0, rerun.stderr
        new_id = rerun.stdout.split("as trace ")[1].split()[0]
        assert "answered 202" in rerun.stdout

        detail = json.loads(motia("trace", "show", trace_id, *attach, "--json").stdout)
        process = next(s for s in detail["spans"] if s["step"] == "ProcessOrder")
        edited = tmp_path / "input.json"
        edited.write_text(json.dumps({**process["input"], "quantity": 5}), encoding="utf-8")
        from_span = motia("trace", "rerun", trace_id, *attach, "--from", process["spanId"],
                          "--input", str(edited))
        assert from_span.returncode == 0, from_span.stderr
        edited_id = from_span.stdout.split("as trace ")[1].split()[0]
        wait_for_line(server, "customer notified")

        same = motia("trace", "diff", trace_id, new_id, *attach)
        assert same.returncode == 0 and "the traces did the same" in same.stdout
        differ = motia("trace", "diff", trace_id, edited_id, *attach, "--json")
        result = json.loads(differ.stdout)
        assert result["same"] is False
        state = next(s for s in result["sections"] if s["title"] == "state")
        assert state["rows"][0]["b"]["after"]["total"] == 22.5

        exported = motia("trace", "export", trace_id, *attach)
        assert exported.returncode == 0
        document = json.loads(exported.stdout)
        assert document["trigger"]["withheld"] == ["authorization"]
        assert "user-token" not in exported.stdout
        (tmp_path / "t.json").write_text(exported.stdout, encoding="utf-8")

        written = motia("trace", "test", trace_id, *attach, "--dir", str(shop),
                        "-o", str(shop / "tests" / "test_order.py"))
        assert written.returncode == 0, written.stderr
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_order.py"],
            cwd=shop, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr

    other_attach = ["--attach", other_url, "--token", "tok"]
    with running([*serve, str(other_port), "--dir", str(other)]) as server:
        wait_for_line(server, "press Ctrl+C to stop")
        imported = motia("trace", "import", str(tmp_path / "t.json"), *other_attach)
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.strip() == f"imported trace {trace_id}"
        again = motia("trace", "import", str(tmp_path / "t.json"), *other_attach)
        assert again.returncode == 1 and trace_id in again.stderr
        listed = motia("trace", "list", *other_attach)
        assert trace_id in listed.stdout and "(imported)" in listed.stdout


def test_trace_commands_on_the_project_store(tmp_path: Path) -> None:
    shop = create(tmp_path, "shop")
    other = create(tmp_path, "other")
    port = free_port()
    with running(["dev", "--no-tui", "--dir", str(shop), "--port", str(port)]) as server:
        wait_for_line(server, "press Ctrl+C to stop")
        trace_id = order(port)
        wait_for_line(server, "customer notified")
        deadline = time.monotonic() + 10  # history reaches the file within half a second
        while True:
            while_running = motia("trace", "list", "--dir", str(shop))
            assert while_running.returncode == 0, while_running.stderr
            if trace_id in while_running.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert trace_id in while_running.stdout
        # Ctrl+C, as a user stops it: the store hands over the triggers still waiting.
        server.send_signal(signal.SIGINT)
        assert server.wait(20) == 0

    listed = motia("trace", "list", "--step", "ProcessOrder", cwd=shop)
    assert listed.returncode == 0, listed.stderr
    assert trace_id in listed.stdout
    shown = motia("trace", "show", trace_id[:6], "--dir", str(shop))
    assert "PlaceOrder [api]" in shown.stdout

    rerun = motia("trace", "rerun", trace_id, "--dir", str(shop),
                  "--header", "authorization: Bearer again")
    assert rerun.returncode == 0, rerun.stderr
    new_id = rerun.stdout.split("as trace ")[1].split()[0]
    relisted = motia("trace", "list", "--dir", str(shop))
    assert f"re-run of {trace_id[:8]}" in relisted.stdout
    detail = json.loads(motia("trace", "show", new_id, "--dir", str(shop), "--json").stdout)
    assert detail["rerunOf"] == trace_id and detail["rerunOfSpan"] is None
    assert [s["status"] for s in detail["spans"]] == ["ok", "ok", "ok"]
    original = json.loads(motia("trace", "show", trace_id, "--dir", str(shop), "--json").stdout)
    assert original["reruns"] == [new_id]

    process = next(s for s in original["spans"] if s["step"] == "ProcessOrder")
    from_span = motia("trace", "rerun", trace_id, "--dir", str(shop), "--from", process["spanId"],
                      "--input", "-", stdin=json.dumps({**process["input"], "quantity": 3}))
    assert from_span.returncode == 0, from_span.stderr
    no_input = motia("trace", "rerun", trace_id, "--dir", str(shop), "--from", process["spanId"])
    assert no_input.returncode == 2 and "--input" in no_input.stderr

    diffed = motia("trace", "diff", trace_id, new_id, "--dir", str(shop))
    assert "the traces did the same" in diffed.stdout, diffed.stdout + diffed.stderr

    exported = motia("trace", "export", trace_id, "--dir", str(shop))
    (tmp_path / "t.json").write_text(exported.stdout, encoding="utf-8")
    first = motia("trace", "import", str(tmp_path / "t.json"), "--dir", str(other))
    assert first.returncode == 0, first.stderr
    second = motia("trace", "import", str(tmp_path / "t.json"), "--dir", str(other))
    assert second.returncode == 1 and f"trace {trace_id} is already in this store" in second.stderr
    assert "(imported)" in motia("trace", "list", "--dir", str(other)).stdout

    written = motia("trace", "test", trace_id, "--dir", str(shop))
    assert written.returncode == 0, written.stderr
    assert (shop / "tests" / "test_post_orders.py").is_file()
    twice = motia("trace", "test", trace_id, "--dir", str(shop))
    assert twice.returncode == 1 and "exists" in twice.stderr
    missing = motia("trace", "show", "ffffffff", "--dir", str(shop))
    assert missing.returncode == 1 and "no trace starts with 'ffffffff'" in missing.stderr
