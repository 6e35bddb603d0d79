"""Where the workbench's data comes from: an engine in this process, or one reached over HTTP.

Panes never touch engine internals; they talk to an `EngineSource`. Every method answers the
same JSON shapes as the `/__motia/` introspection API, so a pane cannot tell whether it is
looking at its own engine or attached to a remote one.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventFeed(Protocol):
    """A bounded window on the engine event stream, read in coalesced batches."""

    def drain(self) -> list[dict[str, Any]]:
        """Everything buffered since the last drain: `{"type", "time", "data"}` dicts."""
        ...

    def take_dropped(self) -> int:
        """Events lost to overflow since the last call; non-zero means reload from the source."""
        ...

    async def wait(self) -> None:
        """Return once at least one event is buffered."""
        ...

    def close(self) -> None: ...


class HttpAnswer(Protocol):
    status: int
    headers: dict[str, str]
    body: str
    elapsed_ms: float
    trace_id: str | None


class EngineSource(Protocol):
    """What every pane may ask of an engine."""

    label: str
    """The server address shown in the header, e.g. `http://127.0.0.1:3000`."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self) -> EventFeed: ...

    async def steps(self) -> dict[str, Any]: ...

    async def flows(self) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]: ...

    async def traces(self, limit: int = 200, status: str | None = None,
                     step: str | None = None) -> list[dict[str, Any]]: ...

    async def trace(self, trace_id: str) -> dict[str, Any] | None: ...

    async def logs(self, trace_id: str | None = None, step: str | None = None,
                   level: str | None = None, q: str | None = None,
                   limit: int = 10_000) -> list[dict[str, Any]]: ...

    async def state(self) -> dict[str, dict[str, Any]]: ...

    async def set_state(self, group: str, key: str, value: Any) -> None: ...

    async def delete_state(self, group: str, key: str | None) -> None: ...

    async def streams(self) -> list[dict[str, Any]]: ...

    async def stream_group(self, name: str, group: str) -> list[dict[str, Any]]: ...

    async def dlq(self) -> list[dict[str, Any]]: ...

    async def retry_dlq(self, item_id: str) -> str: ...

    async def emit(self, topic: str, data: Any) -> str: ...

    async def trigger_cron(self, name: str) -> str: ...

    async def request(self, method: str, path: str, headers: dict[str, str],
                      body: str | None) -> HttpAnswer:
        """Send a request to the project's HTTP server (the Endpoints pane's send)."""
        ...
