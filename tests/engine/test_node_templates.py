"""Motia's own templates (motia@0.17.6-beta.187: hello, hello_js, hello_multilang), unchanged:
the api step answers, the chain crosses languages, the trace has every span, the logs every
record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import logs, served, trace_of
from node_support import template_project

from engine import Settings

FAST = Settings(retry_base_s=0.01, retry_max_s=0.05)

EXPECTED: dict[str, dict[str, Any]] = {
    "hello": {
        "languages": {"HelloAPI": "typescript", "ProcessGreeting": "typescript"},
        "message": "Hello request received! Check logs for processing.",
        "records": [
            ("HelloAPI", "Hello API endpoint called"),
            ("ProcessGreeting", "Processing greeting"),
            ("ProcessGreeting", "Greeting processed successfully"),
        ],
    },
    "hello_js": {
        "languages": {"HelloAPI": "javascript", "ProcessGreeting": "javascript"},
        "message": "Hello request received! Check logs for processing.",
        "records": [
            ("HelloAPI", "Hello API endpoint called"),
            ("ProcessGreeting", "Processing greeting"),
            ("ProcessGreeting", "Greeting processed successfully"),
        ],
    },
    "hello_multilang": {
        "languages": {
            "HelloAPI": "typescript",
            "ProcessGreeting": "python",
            "LogGreeting": "javascript",
        },
        "message": "Hello request received! Processing in Python...",
        "records": [
            ("HelloAPI", "Hello API endpoint called (TypeScript)"),
            ("ProcessGreeting", "Processing greeting (Python)"),
            ("ProcessGreeting", "Greeting processed successfully (Python)"),
            ("LogGreeting", "Logging greeting (JavaScript)"),
            ("LogGreeting", "Greeting workflow complete (JavaScript)"),
        ],
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_the_template_runs_unchanged(tmp_path: Path, name: str) -> None:
    expected = EXPECTED[name]
    project = template_project(tmp_path, name)
    async with served(project, FAST) as (engine, client):
        assert engine.errors == {}
        assert {s.name: s.language for s in engine.steps.values()} == expected["languages"]
        response = await client.get("/hello")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "message": expected["message"],
            "status": "processing",
            "appName": "Motia App",
        }
        steps = list(expected["languages"])
        trace = await trace_of(client, response.headers["x-trace-id"], spans=len(steps))
        assert sorted(s["step"] for s in trace["spans"]) == sorted(steps)
        assert {s["status"] for s in trace["spans"]} == {"ok"}
        records = await logs(client, traceId=trace["traceId"])
        assert [(r["step"], r["msg"]) for r in records] == expected["records"]
        assert not [r for r in engine.logs.recent if r["level"] in ("warn", "error")]
        await engine.idle()
        (greeting,) = engine.state.groups()["greetings"].values()
        assert greeting["greeting"] == "Hello Motia App!"


async def test_typescript_without_esbuild_installs_it_once_and_says_so(tmp_path: Path) -> None:
    project = template_project(tmp_path, "hello", share_esbuild=False)
    async with served(project, FAST) as (engine, client):
        said = [r["msg"] for r in engine.logs.recent if "esbuild" in r["msg"]]
        assert said == [
            "installing esbuild@0.28.2 into .motia/node_modules to run TypeScript steps"
        ]
        assert (project / ".motia" / "node_modules" / "esbuild" / "package.json").is_file()
        assert (await client.get("/hello")).status_code == 200
    async with served(project, FAST) as (engine, client):
        said = [r for r in engine.logs.recent if "installing esbuild" in r["msg"]]
        assert len(said) == 1  # the first start's record, from the store
        assert (await client.get("/hello")).status_code == 200
