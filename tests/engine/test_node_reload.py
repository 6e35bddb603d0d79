"""Hot reload of TypeScript and JavaScript steps with the real watcher and a real worker: a
save reloads the step (and a helper it imports), a broken save is reported with its file and
line while the last good version keeps serving, and runs in flight finish on their version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from engine_support import served, wait_until
from node_support import node_project

from engine import Settings

WITHIN = 10.0

STEP = """
import {{ greet }} from '../services/greet'
import type {{ Handlers }} from 'motia'

export const config = {{ type: 'api', name: 'Greet', path: '/greet', method: 'GET', emits: [] }}

export const handler: Handlers['Greet'] = async (req, {{ state }}) => {{
  const count: number = ((await state.get('greet', 'count')) ?? 0) + 1
  await state.set('greet', 'count', count)
  if (req.queryParams.wait) await new Promise((resolve) => setTimeout(resolve, 1500))
  return {{ status: 200, body: {{ version: '{version}', text: greet('Ada'), count }} }}
}}
""".lstrip("\n")

HELPER = """
export const greet = (name: string): string => `{greeting}, ${{name}}`
"""


async def _body(client: httpx.AsyncClient) -> dict[str, object] | None:
    response = await client.get("/greet")
    return response.json() if response.status_code == 200 else None


async def test_saves_reload_the_step_and_its_helper_keeping_state(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/greet.step.ts": STEP.format(version="v1"),
            "services/greet.ts": HELPER.format(greeting="Hello"),
        },
    )
    step_file = project / "src" / "greet.step.ts"
    async with served(project, Settings(), watch=True) as (engine, client):
        assert await _body(client) == {"version": "v1", "text": "Hello, Ada", "count": 1}
        slow = asyncio.ensure_future(client.get("/greet", params={"wait": "1"}))
        await wait_until(lambda: engine.executor.stats["Greet"]["running"], what="slow run")
        step_file.write_text(STEP.format(version="v2"))

        async def reloaded() -> bool:
            body = await _body(client)
            return bool(body and body["version"] == "v2")

        await wait_until(reloaded, WITHIN, what="v2 serving")
        in_flight = (await slow).json()
        assert in_flight["version"] == "v1"  # the run that started on v1 finished on v1
        assert engine.state.get("greet", "count") >= 2  # state outlives the reload

        (project / "services" / "greet.ts").write_text(HELPER.format(greeting="Hi"))

        async def helper_reloaded() -> bool:
            body = await _body(client)
            return bool(body and body["text"] == "Hi, Ada")

        await wait_until(helper_reloaded, WITHIN, what="the helper's change")
        assert engine.node.pool is not None and len(engine.node.pool.workers) == 1


async def test_a_broken_save_names_file_and_line_and_the_last_good_version_serves(
    tmp_path: Path,
) -> None:
    project = node_project(
        tmp_path,
        {
            "src/greet.step.ts": STEP.format(version="v1"),
            "services/greet.ts": HELPER.format(greeting="Hello"),
        },
    )
    step_file = project / "src" / "greet.step.ts"
    async with served(project, Settings(), watch=True) as (engine, client):
        lines = STEP.format(version="v2").splitlines()
        lines[6] = "  const count: number = = 1"
        step_file.write_text("\n".join(lines))
        error = await wait_until(lambda: engine.errors.get(step_file), WITHIN, what="error")
        assert Path(error.file) == step_file
        assert error.line == 7
        assert 'Unexpected "="' in error.reason
        body = await _body(client)
        assert body is not None and body["version"] == "v1"
        records = [r["msg"] for r in engine.logs.recent if r["level"] == "error"]
        assert any(f"{step_file}:7" in m for m in records), records

        (project / "services" / "greet.ts").write_text("export const greet = (: string) => 1\n")
        helper = project / "services" / "greet.ts"

        async def helper_error() -> bool:
            found = engine.errors.get(step_file)
            return bool(found and Path(found.file) == helper)

        step_file.write_text(STEP.format(version="v3"))
        await wait_until(helper_error, WITHIN, what="the helper's error")
        failed = engine.errors[step_file]
        assert failed.line == 1 and failed.imported_by == ("src/greet.step.ts",)
        body = await _body(client)
        assert body is not None and body["version"] == "v1"

        helper.write_text(HELPER.format(greeting="Hey"))

        async def fixed() -> bool:
            body = await _body(client)
            return bool(body and body["version"] == "v3" and body["text"] == "Hey, Ada")

        await wait_until(fixed, WITHIN, what="the fixed version")
        assert step_file not in engine.errors

        step_file.unlink()
        await wait_until(lambda: "Greet" not in engine.steps, WITHIN, what="removed")
        assert (await client.get("/greet")).status_code == 404


async def test_types_follow_the_steps_as_they_are_saved(tmp_path: Path) -> None:
    project = node_project(
        tmp_path,
        {
            "src/greet.step.ts": STEP.format(version="v1"),
            "services/greet.ts": HELPER.format(greeting="Hello"),
        },
    )
    types = project / "types.d.ts"
    async with served(project, Settings(), watch=True) as (_engine, _client):
        assert '"Greet": ApiRouteHandler<any, ApiResponse<number, any>, never>' in types.read_text()
        schema = "{ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }"
        source = STEP.format(version="v2").replace(
            "emits: [] }", f"emits: ['greeted'], bodySchema: {schema} }}"
        )
        (project / "src" / "greet.step.ts").write_text(source)
        await wait_until(
            lambda: "ApiRouteHandler<{ name: string }" in types.read_text(), WITHIN, what="types"
        )
        (project / "src" / "greeted_step.py").write_text(
            'config = {"type": "event", "name": "Greeted", "subscribes": ["greeted"],\n'
            '          "input": {"type": "object", "properties": {"at": {"type": "number"}}}}\n\n'
            "async def handler(input, context):\n    pass\n"
        )
        await wait_until(
            lambda: '{ topic: "greeted"; data: { at?: number } }' in types.read_text(),
            WITHIN,
            what="the Python subscriber's input in the TS step's emits",
        )
