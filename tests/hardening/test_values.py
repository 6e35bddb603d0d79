"""Item 7: values are kept exactly or refused, never changed on the way."""

from __future__ import annotations

from pathlib import Path

from engine_support import logs, served, wait_until, write_files

STEPS = {
    "steps/count_step.py": """
        config = {"type": "api", "name": "Count", "path": "/count", "method": "POST",
                  "emits": [],
                  "bodySchema": {"type": "object",
                                 "properties": {"n": {"type": "integer"}}}}

        async def handler(req, ctx):
            return {"status": 200, "body": {"n": req.body.get("n"), "body": req.body}}
    """,
    "steps/tags_step.py": """
        config = {"type": "api", "name": "Tags", "path": "/tags", "method": "GET",
                  "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {"tags": {"a", "b"}}}
    """,
    "steps/on_note_step.py": """
        config = {"type": "event", "name": "OnNote", "subscribes": ["note"], "emits": []}

        async def handler(data, ctx):
            pass
    """,
}


def _project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "project", STEPS)


async def _post(client, body: str):
    return await client.post("/count", content=body, headers={"content-type": "application/json"})


async def test_an_integer_beyond_64_bits_is_refused_400_naming_the_field(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        answer = await _post(client, '{"n": 18446744073709551616}')
        assert answer.status_code == 400
        body = answer.json()
        assert "the integer at n does not fit in 64 bits" in body["error"]
        assert body["details"][0]["field"] == "n"
        nested = await _post(client, '{"items": [{"id": 1}, {"id": -9223372036854775809}]}')
        assert nested.status_code == 400
        assert nested.json()["details"][0]["field"] == "items.1.id"


async def test_integers_within_64_bits_and_long_digit_strings_pass_unchanged(
    tmp_path: Path,
) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        top = await _post(client, '{"n": 18446744073709551615}')
        assert top.status_code == 200
        assert top.json()["n"] == 2**64 - 1
        bottom = await _post(client, '{"n": -9223372036854775808}')
        assert bottom.json()["n"] == -(2**63)
        text = await _post(client, '{"code": "123456789012345678901234567890"}')
        assert text.status_code == 200
        assert text.json()["body"] == {"code": "123456789012345678901234567890"}


async def test_an_emit_with_an_integer_beyond_64_bits_is_refused_400(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        answer = await client.post(
            "/__motia/emit",
            content='{"topic": "note", "data": {"big": [1, 2, 36893488147419103232]}}',
        )
        assert answer.status_code == 400
        assert "data.big.2 does not fit in 64 bits" in answer.json()["error"]


async def test_a_set_in_a_response_body_is_500_naming_type_and_step_in_the_log(
    tmp_path: Path,
) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        answer = await client.get("/tags")
        assert answer.status_code == 500
        error = answer.json()["error"]
        assert error.startswith("Tags failed") and "set" in error
        trace_id = answer.headers["x-trace-id"]

        async def logged() -> list:
            return [r for r in await logs(client, traceId=trace_id) if r["level"] == "error"]

        records = await wait_until(logged, what="the failure in the log")
        assert records[0]["step"] == "Tags"
        assert "not JSON" in records[0]["msg"] and "set" in records[0]["msg"]
