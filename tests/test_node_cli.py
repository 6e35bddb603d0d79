"""Node steps through the `motia` command: Motia's templates (hello, hello_js,
hello_multilang) under `motia dev --no-tui`, and `motia create --lang` for every language."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from node_support import esbuild_prefix, installed_template, template_project
from test_cli import MOTIA, free_port, running, wait_for_line

LANGS = {
    "py": {"hello_api_step.py", "process_order_step.py", "notify_customer_step.py"},
    "ts": {"hello-api.step.ts", "process-order.step.ts", "notify-customer.step.ts"},
    "js": {"hello-api.step.js", "process-order.step.js", "notify-customer.step.js"},
    "multi": {"hello-api.step.ts", "process_order_step.py", "notify-customer.step.js"},
}


TEMPLATE_RECORDS = {
    "hello": [
        ("HelloAPI", "Hello API endpoint called"),
        ("ProcessGreeting", "Processing greeting"),
        ("ProcessGreeting", "Greeting processed successfully"),
    ],
    "hello_js": [
        ("HelloAPI", "Hello API endpoint called"),
        ("ProcessGreeting", "Processing greeting"),
        ("ProcessGreeting", "Greeting processed successfully"),
    ],
    "hello_multilang": [
        ("HelloAPI", "Hello API endpoint called (TypeScript)"),
        ("ProcessGreeting", "Processing greeting (Python)"),
        ("ProcessGreeting", "Greeting processed successfully (Python)"),
        ("LogGreeting", "Logging greeting (JavaScript)"),
        ("LogGreeting", "Greeting workflow complete (JavaScript)"),
    ],
}


@pytest.mark.parametrize("name", sorted(TEMPLATE_RECORDS))
def test_motias_templates_under_motia_dev_no_tui(tmp_path: Path, name: str) -> None:
    expected = TEMPLATE_RECORDS[name]
    project = template_project(tmp_path, name)
    port = free_port()
    with running(["dev", "--no-tui", "--json", "--dir", str(project), "--port", str(port)]) as p:
        wait_for_line(p, '"type": "banner"')
        response = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=10)
        assert response.status_code == 200
        assert response.json()["status"] == "processing"
        trace_id = response.headers["x-trace-id"]
        lines = wait_for_line(p, expected[-1][1])
        records = [json.loads(line) for line in lines if line.startswith("{")]
        ours = [(r["step"], r["msg"]) for r in records if r.get("traceId") == trace_id]
        assert ours == expected
        trace = httpx.get(f"http://127.0.0.1:{port}/__motia/traces/{trace_id}", timeout=10).json()
        assert sorted(s["step"] for s in trace["spans"]) == sorted({s for s, _ in expected})
        assert {s["status"] for s in trace["spans"]} == {"ok"}
        assert (project / "types.d.ts").is_file()


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_create_writes_a_project_in_each_language(tmp_path: Path, lang: str) -> None:
    done = subprocess.run([*MOTIA, "create", "shop", "--lang", lang], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    project = tmp_path / "shop"
    names = {p.name for p in project.rglob("*") if p.is_file()}
    assert LANGS[lang] <= names, names
    if lang == "py":
        assert "next: cd shop && motia dev" in done.stdout
        assert not (project / "package.json").exists()
        return
    assert "next: cd shop && npm install && motia dev" in done.stdout
    package = json.loads((project / "package.json").read_text())
    assert package["type"] == "module" and "zod" in package["dependencies"]
    (project / "node_modules").symlink_to(installed_template("hello") / "node_modules")
    (project / ".motia").mkdir()
    (project / ".motia" / "node_modules").symlink_to(esbuild_prefix())
    port = free_port()
    with running(["dev", "--no-tui", "--dir", str(project), "--port", str(port)]) as p:
        wait_for_line(p, "press Ctrl+C to stop")
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/default", timeout=10).json() == {
            "message": "Hello World from Motia!"
        }
        bad = httpx.post(f"{url}/orders", json={"item": "tea", "quantity": 0}, timeout=10)
        assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "quantity"
        placed = httpx.post(f"{url}/orders", json={"item": "tea", "quantity": 2}, timeout=10)
        assert placed.status_code == 202, placed.text
        wait_for_line(p, "customer notified")
        order_id = placed.json()["orderId"]
        state = httpx.get(f"{url}/__motia/state/orders/{order_id}", timeout=10)
        assert state.json()["total"] == 9.0, state.text

