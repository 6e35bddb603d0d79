"""Where `motia trace` finds traces: a project's own store, or a running engine's API.

`LocalTraces` reads the store file of the project (the same file `motia dev` writes, which
SQLite lets several processes read) and, to re-run, starts the project's engine in process
for the length of the re-run. `AttachedTraces` asks a running engine (`--attach URL`), with
its introspection token. Both answer in the introspection API's shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from engine import trace_io
from engine.http import build_app
from engine.rerun import RerunError, Rerunner
from engine.runtime import Engine
from engine.settings import Settings
from engine.stores import Persistence, StoreError, open_store
from engine.trace_view import trace_summary

SCAN_LIMIT = 10_000


class TraceCommandError(Exception):
    """What `motia trace` reports on one line before it exits with `code`."""

    def __init__(self, message: str, code: int = 1, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


class TraceSource(Protocol):
    async def traces(
        self, limit: int, status: str | None, step: str | None
    ) -> list[dict[str, Any]]: ...

    async def trace(self, trace_id: str) -> dict[str, Any] | None: ...

    async def export(self, trace_id: str) -> dict[str, Any] | None: ...

    async def import_trace(self, document: Any) -> str: ...

    async def rerun(
        self,
        trace_id: str,
        span_id: str | None,
        input_: Any,
        headers: dict[str, str],
    ) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class LocalTraces:
    """A project's store, read (and imported into) directly."""

    def __init__(self, project_dir: Path, settings: Settings) -> None:
        self.project_dir = project_dir
        self.settings = settings
        if settings.store_path(project_dir) is None:
            raise TraceCommandError(
                "this project keeps no store (store = \":memory:\"): attach to its running "
                "server with --attach URL",
                2,
            )
        self._store: Persistence | None = None

    def _opened(self) -> Persistence:
        if self._store is None:
            try:
                self._store = open_store(self.settings, self.project_dir)
            except StoreError as exc:
                raise TraceCommandError(str(exc)) from None
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def traces(
        self, limit: int, status: str | None, step: str | None
    ) -> list[dict[str, Any]]:
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for data in self._opened().recent_spans(SCAN_LIMIT):
            span = json.loads(data)
            by_trace.setdefault(span["traceId"], []).append(span)
        found: list[dict[str, Any]] = []
        for trace_id in reversed(list(by_trace)):
            spans = by_trace[trace_id]
            if step and not any(s.get("step") == step for s in spans):
                continue
            summary = dict(trace_summary(trace_id, spans))
            if status and summary["status"] != status:
                continue
            found.append(summary)
            if len(found) >= limit:
                break
        return found

    async def trace(self, trace_id: str) -> dict[str, Any] | None:
        spans = [json.loads(data) for data in self._opened().trace_spans(trace_id)]
        if not spans:
            return None
        detail: dict[str, Any] = dict(trace_summary(trace_id, spans))
        detail["reruns"] = [
            t["traceId"]
            for t in await self.traces(SCAN_LIMIT, None, None)
            if t.get("rerunOf") == trace_id
        ]
        detail["spans"] = spans
        return detail

    async def export(self, trace_id: str) -> dict[str, Any] | None:
        trace = await self.trace(trace_id)
        if trace is None:
            return None
        store = self._opened()
        logs = [json.loads(r) for r in store.query_logs(trace_id, None, None, None, 10_000)]
        trigger = store.trigger(trace_id)
        return trace_io.build(trace, logs, None if trigger is None else json.loads(trigger))

    async def import_trace(self, document: Any) -> str:
        try:
            return trace_io.import_into_store(self._opened(), document)
        except trace_io.TraceFileError as exc:
            raise TraceCommandError(exc.message) from None

    async def rerun(
        self,
        trace_id: str,
        span_id: str | None,
        input_: Any,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        """Start the project's engine, send the trigger again, wait until it is idle."""
        await self.close()
        try:
            engine = Engine(self.project_dir, self.settings, mode="dev")
        except StoreError as exc:
            raise TraceCommandError(str(exc)) from None
        app = build_app(engine, cors_origins=None, introspection=None, streams=None)
        await engine.start()
        await engine.cron.stop()  # a re-run is no time for this process to fire cron ticks
        try:
            rerunner = Rerunner(engine, app)
            if span_id is None:
                answer = await rerunner.rerun(trace_id, headers)
            else:
                answer = await rerunner.rerun_from(trace_id, span_id, input_, headers)
            await engine.idle(timeout=60)
            return answer
        except RerunError as exc:
            raise TraceCommandError(exc.message, 1, exc.details) from None
        finally:
            await engine.stop()


class AttachedTraces:
    """A running engine's traces through its introspection API."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx  # here: it loads a terminal library `motia dev --no-tui` never needs

        base = url if "://" in url else f"http://{url}"
        self.base = base.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=f"{self.base}/__motia/", headers=headers, timeout=60
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, *, params: Any = None, body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        import httpx

        try:
            response = await self._client.request(
                method, path, params=params, json=body if body is not None else None
            )
        except httpx.HTTPError as exc:
            raise TraceCommandError(f"cannot reach {self.base}: {exc}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            try:
                answer = response.json()
            except ValueError:
                answer = {"error": response.text}
            raise TraceCommandError(
                f"{self.base}: {answer.get('error', response.text)}",
                1,
                answer.get("details"),
            )
        return response.json()

    async def traces(
        self, limit: int, status: str | None, step: str | None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"limit": limit, "status": status, "step": step}.items() if v}
        answer = await self._call("GET", "traces", params=params)
        return list(answer["traces"])

    async def trace(self, trace_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._call(
            "GET", f"traces/{trace_id}", missing_ok=True
        )
        return found

    async def export(self, trace_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._call(
            "GET", f"traces/{trace_id}/export", missing_ok=True
        )
        return found

    async def import_trace(self, document: Any) -> str:
        return str((await self._call("POST", "traces/import", body=document))["traceId"])

    async def rerun(
        self,
        trace_id: str,
        span_id: str | None,
        input_: Any,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"headers": headers}
        if span_id is not None:
            body.update(fromSpan=span_id, input=input_)
        answer: dict[str, Any] = await self._call("POST", f"traces/{trace_id}/rerun", body=body)
        return answer


async def resolve(source: TraceSource, wanted: str) -> str:
    """A whole trace id for an id or the start of one (at least 4 characters)."""
    if len(wanted) == 32:
        return wanted
    if len(wanted) < 4:
        raise TraceCommandError(f"{wanted!r}: give at least the first 4 characters of a trace id")
    matches = [
        t["traceId"]
        for t in await source.traces(SCAN_LIMIT, None, None)
        if str(t["traceId"]).startswith(wanted.lower())
    ]
    if not matches:
        raise TraceCommandError(f"no trace starts with {wanted!r}")
    if len(matches) > 1:
        raise TraceCommandError(
            f"{len(matches)} traces start with {wanted!r}: give more of the id"
        )
    return str(matches[0])
