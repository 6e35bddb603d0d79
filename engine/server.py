"""Serving an engine with uvicorn inside the caller's event loop.

The server never installs signal handlers of its own (the headless runner or the workbench
owns Ctrl+C) and never configures logging (`log_config=None`: uvicorn's records reach the
log store through the engine's logging bridge, never the terminal directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import uvicorn

from engine import events as ev
from engine.http import ASGIApp, build_app
from engine.http_protocol import (
    ConnectionLimits,
    JsonWebSocketProtocol,
    guarded_protocol,
    write_whole,
)
from engine.origins import OriginPolicy
from engine.runtime import Engine
from engine.settings import Settings
from engine.stream_socket import StreamSocket

if TYPE_CHECKING:
    from engine.introspect import IntrospectionApi

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host application."""

    def install_signal_handlers(self) -> None:
        """The host application owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn takes SIGINT and SIGTERM over while it serves, and raises them again once
        it has stopped: the host's own handlers (its grace, its second signal) would never
        run. The host owns signals."""
        yield

    @property
    def bound_port(self) -> int | None:
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None


class EngineServer:
    """An engine, its ASGI app and the uvicorn server, started and stopped together."""

    def __init__(
        self,
        engine: Engine,
        host: str,
        port: int,
        *,
        introspect: bool,
        token: str | None,
        cors_origins: str | None,
        watch: bool,
    ) -> None:
        self.engine = engine
        self.host = host
        self.watch = watch
        if engine.mode == "start" and token is None:
            introspect = False  # production serves `/__motia/` only behind a token it was given
        self.token_generated = introspect and token is None and not is_loopback(host)
        if self.token_generated:
            token = secrets.token_urlsafe(24)
        self.token = token
        self.introspection: IntrospectionApi | None = None
        if introspect:  # loaded only here: `motia start` without a token starts without it
            from engine.introspect import IntrospectionApi

            self.introspection = IntrospectionApi(engine, token, host)
        self.stream_socket = StreamSocket(
            engine, OriginPolicy(engine.settings.allowed_origins, engine.mode, host)
        )
        self.app: ASGIApp = build_app(
            engine,
            cors_origins=cors_origins,
            introspection=self.introspection,
            streams=self.stream_socket,
            write_whole=write_whole,
        )
        if self.introspection is not None:
            self.introspection.serve_reruns(self.app)
        settings = engine.settings
        limits = ConnectionLimits(
            settings.max_header_bytes,
            settings.header_timeout_s,
            settings.max_connections,
            settings.body_timeout_s,
        )
        self.config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            http=guarded_protocol(limits),
            interface="asgi3",  # the app is a plain function that answers a coroutine
            log_config=None,
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,  # no need to tell clients which server this is
            ws=JsonWebSocketProtocol,
            timeout_graceful_shutdown=max(1, round(engine.settings.shutdown_grace_s / 2)),
        )
        self.server = QuietServer(self.config)
        self._task: asyncio.Task[Any] | None = None

    @property
    def port(self) -> int:
        return self.server.bound_port or self.config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start the engine, then the server; return once the port accepts connections."""
        await self.engine.start(watch=self.watch)
        self._task = asyncio.ensure_future(self._serve())
        while not self.server.started:
            if self._task.done():
                await self.engine.stop()
                reason = self._task.exception() if not self._task.cancelled() else None
                detail = "" if reason is None else f": {reason}"
                raise RuntimeError(
                    f"could not listen on {self.host}:{self.config.port}{detail}"
                ) from None
            await asyncio.sleep(0.01)
        self.engine.events.publish(
            ev.SERVER_STARTED, {"url": self.url, "host": self.host, "port": self.port}
        )

    async def _serve(self) -> None:
        """uvicorn exits the process when it cannot bind; turn that into an error we report."""
        try:
            await self.server.serve()
        except SystemExit as exc:
            raise OSError(
                self._bind_problem() or f"uvicorn could not start (exit status {exc.code})"
            ) from None

    def _bind_problem(self) -> str | None:
        """Why the address cannot be bound (`[Errno 98] address already in use`): uvicorn only
        logs it before exiting, and the workbench must say it where the user looks."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((self.host, self.config.port))
        except OSError as exc:
            if not exc.strerror:
                return str(exc)
            return f"[Errno {exc.errno}] {exc.strerror[0].lower()}{exc.strerror[1:]}"
        return None

    async def stop(self) -> None:
        """Finish in-flight requests, then stop the engine (which commits its store)."""
        if self.stream_socket is not None:
            await self.stream_socket.close_all()
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.engine.stop()


def build_server(
    project_dir: Path | str,
    settings: Settings,
    mode: Literal["dev", "start"],
    *,
    watch: bool | None = None,
) -> EngineServer:
    """The one way a served engine is built, for `motia dev` and `motia start` headless and for
    the workbench alike, so they serve the same thing and fail the same way.

    `dev` serves the introspection API (with a token off loopback), allows any CORS origin
    unless told otherwise and watches the code (`watch` overrides that); `start` serves
    `/__motia/` only with `introspect_token`. Raises `StoreError` before anything listens when
    the store file cannot be used, for the caller to report in one line."""
    engine = Engine(project_dir, settings, mode=mode)
    dev = mode == "dev"
    token = settings.introspect_token
    return EngineServer(
        engine,
        settings.host,
        settings.port,
        introspect=dev or token is not None,
        token=token,
        cors_origins=settings.cors_origins or ("*" if dev else None),
        watch=dev if watch is None else watch,
    )
