"""Project code the router calls outside the handler, a pydantic `bodySchema` whose validator
raises something pydantic does not turn into a validation error, once escaped every handler of
the HTTP app. It is the step's failure now, answered in the JSON error shape with the trace
id: the cause for the developer in `motia dev`, nothing of it for the client under `motia
start` (the log keeps it), and the server goes on serving."""

from __future__ import annotations

from pathlib import Path

import httpx
from engine_support import served, write_files
from process_support import motia

from engine import Settings

SECRET = "db password hunter2"

STEPS = {
    "steps/check_step.py": f"""
        from pydantic import BaseModel, field_validator


        class Order(BaseModel):
            item: str

            @field_validator("item")
            @classmethod
            def look_up(cls, value):
                raise RuntimeError("{SECRET} refused")


        config = {{"type": "api", "name": "Check", "path": "/check", "method": "POST",
                  "emits": [], "bodySchema": Order}}

        async def handler(req, ctx):
            return {{"status": 200, "body": {{}}}}
    """,
    "steps/ok_step.py": """
        config = {"type": "api", "name": "Ok", "path": "/ok", "method": "GET", "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {"ok": True}}
    """,
}


def _json_error(answer: httpx.Response) -> str:
    assert answer.status_code == 500, answer.text
    assert answer.headers["content-type"] == "application/json", answer.text
    body = answer.json()
    assert set(body) <= {"error", "details", "traceId"}, body
    assert isinstance(body["error"], str) and body["error"]
    return str(body["error"])


async def test_dev_answers_a_body_model_that_raises_as_json_with_its_cause(tmp_path: Path) -> None:
    project = write_files(tmp_path / "project", STEPS)
    async with served(project, Settings(store=":memory:"), mode="dev") as (_engine, client):
        answer = await client.post("/check", json={"item": "tea"})
        assert _json_error(answer) == f"Check's bodySchema check failed: {SECRET} refused"
        assert answer.json()["traceId"] == answer.headers["x-trace-id"]
        assert (await client.get("/ok")).json() == {"ok": True}


def test_start_answers_a_body_model_that_raises_as_json_without_its_cause(tmp_path: Path) -> None:
    project = write_files(tmp_path / "project", STEPS)
    with motia(["start"], project, {"MOTIA_STORE": ":memory:"}) as server:
        server.wait_serving()
        answer = httpx.post(f"{server.url}/check", json={"item": "tea"}, timeout=10)
        error = _json_error(answer)
        assert error == "internal error; the server log has the details"
        assert SECRET not in answer.text
        assert answer.json()["traceId"]
        assert httpx.get(f"{server.url}/ok", timeout=10).json() == {"ok": True}
        server.wait_for_line(f"RuntimeError: {SECRET} refused")  # the log keeps the cause
