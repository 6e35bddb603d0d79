"""`/__motia/health` answers GET and HEAD; any other method is 405 in the JSON error shape, as
every other `/__motia/` route does, also where the API is off (`motia start` without a token)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import served, write_files

from engine import Settings

HELLO = {
    "steps/hello_step.py": """
        config = {"type": "api", "name": "Hello", "path": "/hello", "method": "GET", "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {}}
    """,
}


@pytest.mark.parametrize(("mode", "introspect"), [("dev", True), ("start", False)])
async def test_health_refuses_methods_it_does_not_answer(
    tmp_path: Path, mode: str, introspect: bool
) -> None:
    project = write_files(tmp_path / "project", HELLO)
    settings = Settings(store=":memory:")
    async with served(project, settings, mode=mode, introspect=introspect) as (_engine, client):
        assert (await client.get("/__motia/health")).status_code == 200
        assert (await client.head("/__motia/health")).status_code == 200
        for method in ("POST", "PUT", "DELETE"):
            refused = await client.request(method, "/__motia/health")
            assert refused.status_code == 405, (method, refused.text)
            assert refused.headers["allow"] == "GET, HEAD"
            assert refused.json() == {
                "error": f"method {method} not allowed for /__motia/health"
            }
