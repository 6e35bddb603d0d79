"""Placeholder replaced by the stream socket implementation."""

from typing import Any


class StreamSocket:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.close", "code": 1011})

    async def close_all(self) -> None:
        return None
