"""A WebSocket upgrade to a `/__motia/` path with no socket is 404 in the JSON error shape,
as any other unknown socket path is, not Starlette's bare close (which every client reads as
403 `Forbidden`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_support import served, write_files, ws_url
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine import Settings

HELLO = {
    "steps/hello_step.py": """
        config = {"type": "api", "name": "Hello", "path": "/hello", "method": "GET", "emits": []}

        async def handler(req, ctx):
            return {"status": 200, "body": {}}
    """,
}


@pytest.mark.parametrize("path", ["/__motia/nope", "/__motia/steps", "/__motia"])
async def test_an_unknown_motia_socket_is_404_json(tmp_path: Path, path: str) -> None:
    project = write_files(tmp_path / "project", HELLO)
    async with served(project, Settings(store=":memory:")) as (_engine, client):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(client, path)):
                pass
        assert refused.value.response.status_code == 404
        assert json.loads(refused.value.response.body) == {"error": f"no socket at {path}"}
        async with connect(ws_url(client, "/__motia/events")):
            pass  # the real one still opens
