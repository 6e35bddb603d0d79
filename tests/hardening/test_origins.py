"""Item 5: which pages may drive `/__motia/` and open the stream socket."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from engine_support import served, write_files
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine import Settings
from engine.settings import SettingsError, load_settings

PROJECT = {
    "steps/on_note_step.py": """
        config = {"type": "event", "name": "OnNote", "subscribes": ["note"], "emits": []}

        async def handler(data, ctx):
            pass
    """,
}


def _project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "project", PROJECT)


def _stream_url(client: httpx.AsyncClient) -> str:
    return str(client.base_url).replace("http://", "ws://", 1).rstrip("/") + "/"


async def _socket_status(client: httpx.AsyncClient, origin: str) -> int:
    """101 when the stream socket opens for a page of `origin`, else the refusal's status."""
    try:
        async with connect(_stream_url(client), origin=origin):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.parametrize(
    "origin",
    ["http://localhost", "https://localhost", "http://127.0.0.1", "http://127.0.0.1:1", "null"],
)
async def test_motia_refuses_loopback_pages_on_another_port(tmp_path: Path, origin: str) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        answer = await client.post(
            "/__motia/emit",
            content='{"topic": "note", "data": {}}',
            headers={"Origin": origin, "Content-Type": "text/plain"},
        )
        assert answer.status_code == 403
        assert answer.json() == {"error": "cross-origin requests to /__motia are refused"}


async def test_motia_accepts_its_own_origin_by_any_loopback_name(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        port = client.base_url.port
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
            answer = await client.post(
                "/__motia/emit", json={"topic": "note", "data": {}}, headers={"Origin": origin}
            )
            assert answer.status_code == 202, origin
        wrong_scheme = await client.get(
            "/__motia/steps", headers={"Origin": f"https://127.0.0.1:{port}"}
        )
        assert wrong_scheme.status_code == 403


async def test_stream_socket_in_dev_refuses_a_foreign_site(tmp_path: Path) -> None:
    async with served(_project(tmp_path)) as (_engine, client):
        assert await _socket_status(client, "http://evil.com") == 403
        assert await _socket_status(client, "http://localhost.evil.com:5173") == 403
        assert await _socket_status(client, "http://localhost:5173") == 101
        assert await _socket_status(client, "http://127.0.0.1:8080") == 101
        async with connect(_stream_url(client)):  # no Origin: not a page
            pass


async def test_stream_socket_in_start_accepts_only_its_own_origin(tmp_path: Path) -> None:
    async with served(_project(tmp_path), mode="start", introspect=False) as (_engine, client):
        port = client.base_url.port
        assert await _socket_status(client, "http://localhost:5173") == 403
        assert await _socket_status(client, "http://evil.com") == 403
        assert await _socket_status(client, f"http://127.0.0.1:{port}") == 101


async def test_allowed_origins_names_the_pages_the_stream_socket_accepts(tmp_path: Path) -> None:
    settings = Settings(allowed_origins="https://app.example.com, http://localhost:5173")
    async with served(_project(tmp_path), settings) as (_engine, client):
        assert await _socket_status(client, "https://app.example.com") == 101
        assert await _socket_status(client, "http://localhost:5173") == 101
        assert await _socket_status(client, "http://localhost:5174") == 403
        assert await _socket_status(client, "http://app.example.com") == 403
    async with served(_project(tmp_path), Settings(allowed_origins="*")) as (_engine, client):
        assert await _socket_status(client, "http://evil.com") == 101


def test_allowed_origins_refuses_what_is_not_an_origin(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"allowed_origins.*not an origin"):
        load_settings(tmp_path, {"allowed_origins": "app.example.com"}, environ={})
