"""One Node worker process: its channel, its runs in flight, and what it prints.

The channel is one end of a socket pair passed to the process as an extra descriptor, so
stdout and stderr stay the user's: what reaches them outside a run (Node's own warnings, a
crash report) becomes a system log record. A context call from a run is carried out on the
engine's loop, through the run's own `FlowContext`, before the next message is read, so the
effects of one run land in the order the handler made them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from engine.context import FlowContext
from engine.logs import StepLogger
from engine.node import protocol
from engine.runs import ForeignHandlerError, HandlerLost

START_TIMEOUT_S = 30.0
STOP_GRACE_S = 2.0
LEVELS = ("debug", "info", "warn", "error")


def worker_script() -> Path:
    return Path(str(resources.files("engine.node").joinpath("worker.mjs")))


@dataclass(slots=True)
class _Run:
    file: Path
    context: FlowContext
    done: asyncio.Future[Any]


class NodeWorker:
    """A started `node` process running worker.mjs for one project."""

    def __init__(
        self,
        node: str,
        project_dir: Path,
        esbuild: Path | None,
        system_log: StepLogger,
        on_exit: Callable[[NodeWorker, int | None], None],
    ) -> None:
        self._node = node
        self._project_dir = project_dir
        self._esbuild = esbuild
        self._log = system_log
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._runs: dict[int, _Run] = {}
        self._loads: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._ready: asyncio.Future[None] | None = None
        self.stopping = False
        self.alive = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def in_flight(self) -> int:
        return len(self._runs)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        env = {
            **os.environ,
            "MOTIA_CHANNEL_FD": str(theirs.fileno()),
            "MOTIA_PROJECT_DIR": str(self._project_dir),
            "MOTIA_ESBUILD": str(self._esbuild) if self._esbuild else "",
        }
        try:
            self._process = await asyncio.create_subprocess_exec(
                self._node,
                "--enable-source-maps",
                str(worker_script()),
                cwd=self._project_dir,
                env=env,
                pass_fds=(theirs.fileno(),),
                # Its own session: Ctrl+C in the terminal stops the engine, which stops the
                # worker; the worker leaves by itself when the channel closes.
                start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        finally:
            theirs.close()
        reader, self._writer = await asyncio.open_unix_connection(
            sock=ours, limit=protocol.LINE_LIMIT
        )
        self._ready = loop.create_future()
        self.alive = True
        assert self._process.stdout is not None and self._process.stderr is not None
        self._tasks = [
            asyncio.ensure_future(self._read(reader)),
            asyncio.ensure_future(self._drain(self._process.stdout, "info")),
            asyncio.ensure_future(self._drain(self._process.stderr, "error")),
        ]
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            raise HandlerLost(
                f"the node worker did not start within {START_TIMEOUT_S:g}s"
            ) from None

    def _send(self, message: dict[str, Any]) -> None:
        if self._writer is None or not self.alive:
            raise HandlerLost("the node worker is not running")
        self._writer.write(protocol.encode(message))

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def load(self, file: Path) -> dict[str, Any]:
        """The file's answer: `loaded` with its config, or `failed` with the error's place."""
        message_id = self._new_id()
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._loads[message_id] = answer
        try:
            self._send({"t": "load", "id": message_id, "file": str(file)})
            return await answer
        finally:
            self._loads.pop(message_id, None)

    def forget(self, file: Path) -> None:
        with contextlib.suppress(HandlerLost):
            self._send({"t": "forget", "file": str(file)})

    async def run(self, file: Path, kind: str, input_: Any, context: FlowContext) -> Any:
        run_id = self._new_id()
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._runs[run_id] = _Run(file, context, done)
        try:
            self._send(
                {
                    "t": "run",
                    "id": run_id,
                    "file": str(file),
                    "kind": kind,
                    "input": input_,
                    "traceId": context.trace_id,
                    "flows": context.flows,
                }
            )
            return await done
        finally:
            self._runs.pop(run_id, None)

    # -- what the worker sends ----------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                self._handle(protocol.decode(line))
        except (ValueError, ConnectionError) as exc:
            self._log.error(f"node worker {self.pid}: channel broken: {exc}")
        finally:
            await self._exited()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "call":
            self._call(message)
        elif kind == "log":
            self._record(message)
        elif kind in ("done", "error"):
            self._finish(message)
        elif kind in ("loaded", "failed"):
            answer = self._loads.get(message["id"])
            if answer is not None and not answer.done():
                answer.set_result(message)
        elif kind == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _finish(self, message: dict[str, Any]) -> None:
        run = self._runs.get(message["id"])
        if run is None or run.done.done():
            return
        if message["t"] == "done":
            run.done.set_result(message.get("value"))
        else:
            run.done.set_exception(ForeignHandlerError(message["error"]))

    def _record(self, message: dict[str, Any]) -> None:
        level = str(message.get("level"))
        if level not in LEVELS:
            level = "info"
        run = self._runs.get(message.get("run") or 0)
        logger = run.context.logger if run is not None else self._log
        fields = message.get("fields")
        if message.get("printed"):
            fields = {"printed": "stderr" if level == "error" else "stdout"}
        getattr(logger, level)(str(message.get("msg", "")), fields)

    def _call(self, message: dict[str, Any]) -> None:
        call_id = message["id"]
        run = self._runs.get(message.get("run") or 0)
        if run is None:
            self._reply(
                call_id, error=RuntimeError("the run has ended: its context takes no more calls")
            )
            return
        try:
            result = dispatch(run.context, str(message["op"]), list(message.get("args") or []))
        except Exception as exc:
            self._reply(call_id, error=exc)
            return
        if isinstance(result, asyncio.Future) and result.done():
            self._reply_from(call_id, result)
        elif isinstance(result, asyncio.Future):
            result.add_done_callback(lambda future: self._reply_from(call_id, future))
        else:
            self._reply(call_id, value=result)

    def _reply_from(self, call_id: int, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self._reply(call_id, error=RuntimeError("the call was cancelled"))
        elif future.exception() is not None:
            error = future.exception()
            assert error is not None
            self._reply(call_id, error=error)
        else:
            self._reply(call_id, value=future.result())

    def _reply(self, call_id: int, value: Any = None, error: BaseException | None = None) -> None:
        message: dict[str, Any] = {"t": "reply", "id": call_id, "ok": error is None}
        if error is None:
            message["value"] = value
        else:
            message["error"] = {
                "message": str(error) or type(error).__name__,
                "type": type(error).__name__,
            }
        with contextlib.suppress(HandlerLost):
            self._send(message)

    async def _drain(self, stream: asyncio.StreamReader, level: str) -> None:
        while True:
            line = await stream.readline()
            if not line:
                return
            text = line.decode("utf-8", errors="replace").rstrip()
            if text:
                getattr(self._log, level)(f"node worker {self.pid}: {text}")

    async def _exited(self) -> None:
        self.alive = False
        code: int | None = None
        process = self._process
        if process is not None:
            try:
                code = await asyncio.wait_for(process.wait(), STOP_GRACE_S)
            except TimeoutError:
                # The channel broke with the process alive (a message over the limit): a
                # worker the engine cannot talk to is no use, and must not outlive it.
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                code = await process.wait()
        lost = HandlerLost(
            f"the node worker (pid {self.pid}) exited"
            + (f" with code {code}" if code is not None else "")
            + " before the handler finished"
        )
        for run in list(self._runs.values()):
            if not run.done.done():
                run.done.set_exception(lost)
        for answer in list(self._loads.values()):
            if not answer.done():
                answer.set_exception(lost)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(lost)
        if not self.stopping:
            self._on_exit(self, code)

    async def stop(self) -> None:
        self.stopping = True
        if self._writer is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self._writer.close()
        process = self._process
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def dispatch(context: FlowContext, op: str, args: list[Any]) -> Any:
    """A context operation named by the worker, through the run's own context."""
    if op == "emit":
        return context.emit(*args)
    group, _, method = op.partition(".")
    if group == "state" and method in ("get", "set", "delete", "getGroup", "clear"):
        return getattr(context.state, method)(*args)
    if group == "streams" and method in ("get", "set", "delete", "getGroup", "send") and args:
        client = getattr(context.streams, str(args[0]))
        return getattr(client, method)(*args[1:])
    raise ValueError(f"unknown context operation {op!r}")
