"""Hot reload with the real file watcher: one step at a time, nothing dropped, errors reported."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from engine_support import wait_until

MakeProject = Callable[[dict[str, str]], Path]
WITHIN = 1.0

STEP = """
import time

LOADED_AT = time.time_ns()

config = {{"type": "api", "name": "{name}", "path": "/{path}", "method": "GET"}}

async def handler(req, context):
    return {{"status": 200, "body": {{"version": "{version}", "loadedAt": LOADED_AT}}}}
"""


def step_source(name: str, path: str, version: str) -> str:
    return STEP.format(name=name, path=path, version=version)


async def _body(client: httpx.AsyncClient, path: str) -> dict | None:
    response = await client.get(path)
    return response.json() if response.status_code == 200 else None


async def _version_is(client: httpx.AsyncClient, path: str, version: str | None) -> bool:
    body = await _body(client, path)
    return (body or {}).get("version") == version if version else body is None


async def test_add_edit_delete_change_just_that_step(project: MakeProject, serve) -> None:
    root = project(
        {
            "steps/a_step.py": step_source("A", "a", "a1"),
            "steps/b_step.py": step_source("B", "b", "b1"),
        }
    )
    async with serve(root, watch=True) as (engine, client):
        b_before = await _body(client, "/b")
        b_step = engine.steps["B"]

        (root / "steps" / "c_step.py").write_text(step_source("C", "c", "c1"))
        await wait_until(lambda: _version_is(client, "/c", "c1"), WITHIN, what="C added")

        (root / "steps" / "a_step.py").write_text(step_source("A", "a", "a2"))
        await wait_until(lambda: _version_is(client, "/a", "a2"), WITHIN, what="A edited")

        (root / "steps" / "a_step.py").write_text(step_source("A", "a", "a3"))
        await wait_until(lambda: _version_is(client, "/a", "a3"), WITHIN, what="A edited again")

        (root / "steps" / "c_step.py").unlink()
        await wait_until(lambda: _version_is(client, "/c", None), WITHIN, what="C deleted")
        assert (await client.get("/c")).status_code == 404

        names = sorted(s["name"] for s in (await client.get("/__motia/steps")).json()["steps"])
        assert names == ["A", "B"]
        assert engine.steps["B"] is b_step
        assert await _body(client, "/b") == b_before


async def test_renaming_a_step_and_moving_its_route(project: MakeProject, serve) -> None:
    root = project({"steps/a_step.py": step_source("A", "a", "1")})
    async with serve(root, watch=True) as (engine, client):
        (root / "steps" / "a_step.py").write_text(step_source("Renamed", "moved", "2"))
        await wait_until(lambda: _version_is(client, "/moved", "2"), WITHIN, what="moved")
        assert (await client.get("/a")).status_code == 404
        assert set(engine.steps) == {"Renamed"}


SLOW = """
import asyncio

config = {{"type": "api", "name": "Slow", "path": "/slow", "method": "GET"}}

async def handler(req, context):
    if {sleep}:
        await asyncio.sleep({sleep})
    return {{"status": 200, "body": {{"version": "{version}"}}}}
"""


async def test_requests_in_flight_survive_a_reload(project: MakeProject, serve) -> None:
    root = project({"steps/slow_step.py": SLOW.format(sleep=1.0, version="old")})
    async with serve(root, watch=True) as (engine, client):
        in_flight = asyncio.ensure_future(client.get("/slow"))
        await wait_until(
            lambda: engine.executor.stats.get("Slow", {}).get("running") == 1,
            what="the slow request to start",
        )
        old_step = engine.steps["Slow"]
        (root / "steps" / "slow_step.py").write_text(SLOW.format(sleep=0, version="new"))
        await wait_until(lambda: engine.steps["Slow"] is not old_step, WITHIN, what="reload")
        assert (await client.get("/slow")).json() == {"version": "new"}
        assert not in_flight.done()
        response = await in_flight
        assert response.status_code == 200
        assert response.json() == {"version": "old"}


GOOD = """
config = {"type": "api", "name": "Good", "path": "/good", "method": "GET"}

async def handler(req, context):
    return {"status": 200, "body": "good"}
"""


async def test_a_file_that_fails_is_reported_and_the_rest_serves(
    project: MakeProject, serve
) -> None:
    root = project(
        {
            "steps/good_step.py": GOOD,
            "steps/flaky_step.py": step_source("Flaky", "flaky", "1"),
        }
    )
    async with serve(root, watch=True) as (_engine, client):

        async def errors() -> list[dict]:
            return (await client.get("/__motia/steps")).json()["errors"]

        (root / "steps" / "flaky_step.py").write_text("import time\n\n\ndef handler(:\n")
        (error,) = await wait_until(errors, WITHIN, what="the syntax error")
        assert error["file"].endswith("steps/flaky_step.py")
        assert error["line"] == 4
        assert error["message"].startswith("syntax error")
        assert (await client.get("/good")).text == "good"

        (root / "steps" / "flaky_step.py").write_text(
            'config = {"type": "api", "name": "Flaky", "path": "/flaky", "method": "FETCH"}\n'
            "def handler(req, context):\n    pass\n"
        )
        await wait_until(
            lambda: _error_mentions(client, "'method' must be one of"), WITHIN, what="bad method"
        )
        (root / "steps" / "new_bad_step.py").write_text("raise RuntimeError('at import')\n")
        await wait_until(lambda: _error_mentions(client, "at import"), WITHIN, what="import error")
        assert (await client.get("/good")).text == "good"

        (root / "steps" / "flaky_step.py").write_text(step_source("Flaky", "flaky", "2"))
        (root / "steps" / "new_bad_step.py").unlink()
        await wait_until(lambda: _version_is(client, "/flaky", "2"), WITHIN, what="the fix")
        await wait_until(lambda: _no_errors(client), WITHIN, what="errors cleared")


async def _error_mentions(client: httpx.AsyncClient, text: str) -> bool:
    errors = (await client.get("/__motia/steps")).json()["errors"]
    return any(text in e["message"] for e in errors)


async def _no_errors(client: httpx.AsyncClient) -> bool:
    return (await client.get("/__motia/steps")).json()["errors"] == []


HELPERS = {
    "steps/lib/words.py": 'GREETING = "hello"\n',
    "src/shared/punctuation.py": 'MARK = "!"\n',
    "steps/lib/relative_step.py": """
        from .words import GREETING
        from src.shared.punctuation import MARK

        config = {"type": "api", "name": "Relative", "path": "/relative", "method": "GET"}

        async def handler(req, context):
            return {"status": 200, "body": GREETING + MARK}
    """,
    "src/absolute_step.py": """
        from src.shared import punctuation

        config = {"type": "api", "name": "Absolute", "path": "/absolute", "method": "GET"}

        async def handler(req, context):
            return {"status": 200, "body": "absolute" + punctuation.MARK}
    """,
}


async def test_a_helper_change_reloads_the_steps_that_import_it(
    project: MakeProject, serve
) -> None:
    root = project(HELPERS)
    async with serve(root, watch=True) as (_engine, client):
        assert (await client.get("/relative")).text == "hello!"
        assert (await client.get("/absolute")).text == "absolute!"

        (root / "steps" / "lib" / "words.py").write_text('GREETING = "howdy"\n')
        await wait_until(
            lambda: _text_is(client, "/relative", "howdy!"), WITHIN, what="relative helper"
        )
        (root / "src" / "shared" / "punctuation.py").write_text('MARK = "?"\n')
        await wait_until(
            lambda: _text_is(client, "/absolute", "absolute?"), WITHIN, what="absolute helper"
        )
        await wait_until(lambda: _text_is(client, "/relative", "howdy?"), WITHIN)


async def _text_is(client: httpx.AsyncClient, path: str, text: str) -> bool:
    return (await client.get(path)).text == text


async def test_without_watch_nothing_reloads(project: MakeProject, serve) -> None:
    root = project({"steps/a_step.py": step_source("A", "a", "1")})
    async with serve(root) as (_engine, client):
        (root / "steps" / "a_step.py").write_text(step_source("A", "a", "2"))
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert (await _body(client, "/a") or {}).get("version") == "1"
            await asyncio.sleep(0.05)


async def test_quick_same_size_edits_are_not_hidden_by_bytecode_caches(
    project: MakeProject, serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    root = project(
        {
            "steps/lib/words.py": 'WORD = "w1"\n',
            "steps/a_step.py": """
                from .lib.words import WORD

                config = {"type": "api", "name": "A", "path": "/a", "method": "GET"}

                async def handler(req, context):
                    return {"status": 200, "body": "a1 " + WORD}
            """,
        }
    )
    async with serve(root, watch=True) as (_engine, client):
        assert (await client.get("/a")).text == "a1 w1"
        assert list((root / "steps" / "__pycache__").glob("a_step*.pyc"))
        source = (root / "steps" / "a_step.py").read_text()
        (root / "steps" / "a_step.py").write_text(source.replace("a1", "a2"))
        await wait_until(lambda: _text_is(client, "/a", "a2 w1"), WITHIN, what="step edit")
        (root / "steps" / "lib" / "words.py").write_text('WORD = "w2"\n')
        await wait_until(lambda: _text_is(client, "/a", "a2 w2"), WITHIN, what="helper edit")


ROOT_HELPER_STEP = """
import settings_helper
from services import words

config = {"type": "api", "name": "Uses", "path": "/uses", "method": "GET"}

async def handler(req, context):
    return {"status": 200, "body": settings_helper.PREFIX + words.WORD}
"""


async def test_helpers_at_the_top_and_in_a_folder_made_after_start_are_watched(
    project: MakeProject, serve
) -> None:
    root = project(
        {"steps/a_step.py": step_source("A", "a", "1"), "settings_helper.py": 'PREFIX = "<"\n'}
    )
    async with serve(root, watch=True) as (_engine, client):
        (root / "services").mkdir()
        (root / "services" / "__init__.py").write_text("")
        (root / "services" / "words.py").write_text('WORD = "one"\n')
        (root / "steps" / "uses_step.py").write_text(ROOT_HELPER_STEP)
        await wait_until(lambda: _text_is(client, "/uses", "<one"), WITHIN, what="the new step")

        (root / "settings_helper.py").write_text('PREFIX = ">"\n')
        await wait_until(lambda: _text_is(client, "/uses", ">one"), WITHIN, what="top helper")
        await asyncio.sleep(0.3)
        (root / "services" / "words.py").write_text('WORD = "two"\n')
        await wait_until(
            lambda: _text_is(client, "/uses", ">two"), WITHIN, what="helper in the new folder"
        )


async def test_python_files_in_hidden_folders_reload_nothing(project: MakeProject, serve) -> None:
    """The store's folder, a virtualenv, git: written often, never the project's code."""
    root = project({"steps/a_step.py": step_source("A", "a", "1")})
    async with serve(root, watch=True) as (engine, client):
        a_step = engine.steps["A"]
        for hidden in (".motia", ".venv/lib"):
            (root / hidden).mkdir(parents=True, exist_ok=True)
            (root / hidden / "module.py").write_text("X = 1\n")
        (root / "steps" / "b_step.py").write_text(step_source("B", "b", "1"))
        await wait_until(lambda: _version_is(client, "/b", "1"), WITHIN, what="B added")
        assert engine.steps["A"] is a_step
