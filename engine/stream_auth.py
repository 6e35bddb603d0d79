"""Who may open the stream socket, and which streams they may join.

A project opts in with `motia_auth.py` at its root: `authenticate(headers, query)` runs before
the WebSocket upgrade and answers an auth context (any value) or None, which refuses the
connection with 401. Each join then asks the stream's own `canAccess(subscription, context)`.
Both hooks may be plain or async functions; plain ones run in the engine's worker threads, as
sync handlers do (the same timeout, the same bound on stuck threads), so a hook that blocks
never stalls the loop. The file is re-imported when it changes, and when a helper reload has
forgotten it, so a project's auth reloads like its steps.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.steps import StepError
from engine.sync_pool import PoolExhausted

if TYPE_CHECKING:
    from engine.runtime import Engine
    from engine.streams import StreamDefinition

AUTH_FILE = "motia_auth.py"


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to a connection attempt: a refusal status, or the auth context to keep."""

    status: int | None
    message: str = ""
    context: Any = None


class StreamAuth:
    """The project's `authenticate` hook and the streams' `canAccess` checks."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._path = engine.project_dir / AUTH_FILE
        self._stamp: tuple[int, int] | None = None
        self._module: types.ModuleType | None = None
        self._error: str | None = None
        self._looking = asyncio.Lock()

    async def _hook(self) -> tuple[Callable[..., Any] | None, str | None]:
        """The current `authenticate` function, or why there is none that can be trusted.
        One connection at a time looks: the others wait for a load under way rather than
        find no hook yet and walk in."""
        async with self._looking:
            return await self._current_hook()

    async def _current_hook(self) -> tuple[Callable[..., Any] | None, str | None]:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            self._stamp, self._module, self._error = None, None, None
            return None, None
        stamp = (stat.st_mtime_ns, stat.st_size)
        module = self._module
        fresh = module is None or sys.modules.get(module.__name__) is module
        if stamp != self._stamp or not fresh:
            await self._load(stamp)
        if self._error is not None:
            return None, self._error
        hook = getattr(self._module, "authenticate", None)
        if hook is None:
            return None, None
        if not callable(hook):
            return None, f"{AUTH_FILE}: 'authenticate' must be a function"
        return hook, None

    async def _load(self, stamp: tuple[int, int]) -> None:
        self._stamp = stamp
        try:
            self._module = await self._engine.importer.load(self._path)
            self._error = None
        except StepError as exc:
            self._module = None
            self._error = f"{AUTH_FILE} failed to load: {exc.message}"
            self._engine.executor.system_log.error(
                f"failed to load {exc.file}:{exc.line}: {exc.message}",
                {"file": exc.file, "line": exc.line},
            )
            return
        self._engine.executor.system_log.info(f"loaded {AUTH_FILE}")

    async def authenticate(self, headers: dict[str, str], query: dict[str, Any]) -> Admission:
        """Admit or refuse a connection; a hook that fails refuses rather than lets anyone in."""
        hook, error = await self._hook()
        if error is not None:
            return Admission(500, error)
        if hook is None:
            return Admission(None)
        try:
            context = await self._call(hook, headers, query)
        except PoolExhausted as exc:
            return Admission(503, str(exc))
        except Exception as exc:
            self._engine.executor.system_log.warn(
                f"{AUTH_FILE}: authenticate raised {type(exc).__name__}: {exc}"
            )
            return Admission(401, "authentication failed")
        if context is None or context is False:
            return Admission(401, "authentication failed")
        return Admission(None, context=context)

    async def can_access(
        self, definition: StreamDefinition, subscription: dict[str, Any], context: Any
    ) -> str | None:
        """None when the join is allowed, else the reason it is not."""
        check = definition.can_access
        if check is None:
            return None
        try:
            allowed = await self._call(check, dict(subscription), context)
        except PoolExhausted as exc:
            return str(exc)
        except Exception as exc:
            self._engine.executor.system_log.warn(
                f"stream {definition.name!r}: canAccess raised {type(exc).__name__}: {exc}"
            )
            return "access check failed"
        return None if allowed else "access denied"

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A plain hook runs as a plain handler does: on the sync pool, with the handler
        timeout counted from when a thread takes it up."""
        if inspect.iscoroutinefunction(fn):
            result = await fn(*args)
        else:
            timeout = self._engine.settings.handler_timeout_s
            result = await self._engine.executor.pool.call(fn, *args, timeout_s=timeout)
        if inspect.isawaitable(result):
            result = await result
        return result
