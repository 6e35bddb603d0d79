"""`Engine`: loads a project, wires the stores, the bus, cron and the executor, reloads files.

The engine is one object a caller starts and stops inside its own event loop: the headless
server, the workbench and the tests all use it the same way. It never imports anything about
terminals; whatever wants to watch it subscribes to `engine.events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from pathlib import Path
from typing import Any

from engine import discovery, triggers
from engine import events as ev
from engine.bus import Bus
from engine.cron import CronScheduler
from engine.effects import QueuePurged
from engine.env_file import load_env_file
from engine.events import EventHub
from engine.execution import Executor
from engine.flows import build_flows
from engine.importing import Importer, ImportTimedOut
from engine.logs import LoggingBridge, LogStore
from engine.node.steps import NodeSteps
from engine.overload import QueueFull
from engine.registry import StepRegistry
from engine.settings import Settings
from engine.state import StateView, encode
from engine.steps import Step, StepError, build_step, merge_errors
from engine.stores import StoreHealth, failing_error, open_store
from engine.streams import StreamDefinition, StreamStore, build_stream
from engine.tracing import ERROR, TraceStore

ENGINE_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "motia", "asyncio", "watchfiles")


class Engine:
    """A running Motia-format project."""

    def __init__(
        self, project_dir: Path | str, settings: Settings | None = None, *, mode: str = "dev"
    ) -> None:
        self.project_dir = Path(project_dir).resolve()
        self.settings = settings or Settings()
        self.mode = mode
        self._env_problems = load_env_file(self.project_dir / ".env")
        self.events = EventHub()
        self.store = open_store(self.settings, self.project_dir)
        self.traces = TraceStore(
            self.events, self.store, self.settings.memory_window, self.settings.max_trace_spans,
            self.settings.memory_window_bytes,
        )
        self.logs = LogStore(self.events, self.store, self.settings.memory_window)
        self.state = StateView(self.store)
        self.stream_store = StreamStore(self.store)
        self.registry = StepRegistry()
        self.importer = Importer(self.project_dir, self.settings.import_timeout_s)
        self.bus = Bus(
            self.events,
            self.store,
            self.registry,
            self.settings.retry_base_s,
            self.settings.retry_max_s,
            self.settings.max_queued,
            self.settings.max_dead_letters,
        )
        self.executor = Executor(
            self.settings,
            self.project_dir,
            self.events,
            self.store,
            self.traces,
            self.logs,
            self.stream_store,
            self.bus,
            self.registry,
        )
        self.bus.dead_letter_bound.warn = self.executor.system_log.warn
        offset = self.settings.clock_offset_s
        self.cron = CronScheduler(self._cron_tick, lambda: time.time() + offset)
        self.registry.on_change.append(self.cron.reschedule)
        self.steps = self.registry.steps
        self.stream_definitions = self.registry.streams
        self.errors = self.registry.errors
        self.node = NodeSteps(
            self.project_dir,
            self.executor.system_log,
            self._install_step,
            self._fail,
            self.remove_file,
            self._types_changed,
        )
        self.recovered = 0
        self._cron_claims: set[asyncio.Task[None]] = set()
        self._watch_task: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()
        self._bridge: LoggingBridge | None = None
        self.started = False

    # -- life cycle -------------------------------------------------------------------

    async def start(self, *, watch: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.executor.bind(loop)
        self.store.start(loop, self._store_health)
        self.store.listen(self._remote_change)
        self.store.share_events(self.events)
        if self.store.health.warning:
            self.executor.system_log.warn(self.store.health.warning)
        self._bridge = LoggingBridge(self.executor.record_sink)
        for name in ENGINE_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self._bridge)
            logger.propagate = False
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.INFO)
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
        for notice in (*self._env_problems, *self.store.notices):
            self.executor.system_log.warn(notice)
        self.traces.warm()
        self.logs.warm()
        self.bus.load_dlq()
        await self.load_all()
        await self.node.load_all()
        self._types_changed()
        self.recovered = self.bus.recover()
        if self.recovered:
            self.executor.system_log.info(
                f"resuming {self.recovered} queued event(s) from the last run"
            )
        self.cron.start()
        self.bus.watch.start(loop)
        if watch:
            watching = asyncio.Event()
            self._watch_task = asyncio.ensure_future(self._watch(watching))
            await watching.wait()
        self.started = True

    async def stop(self) -> None:
        """Stop taking work, let the store commit what it has, close the file."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
        await self.cron.stop()
        await self.executor.stop_cron_runs()
        if self.store.shared_queue:
            unfinished = await self.bus.drain(self.settings.drain_grace_s)
            if unfinished:
                self.executor.system_log.warn(
                    f"draining: {unfinished} event(s) unfinished after "
                    f"{self.settings.drain_grace_s:g}s, handed back to the other workers"
                )
        await self.bus.stop()
        await self.executor.deadlines.stop()
        await self.node.stop()
        await self.traces.stop()
        if self._bridge is not None:
            for name in ENGINE_LOGGERS:
                logging.getLogger(name).removeHandler(self._bridge)
        self.executor.shutdown()
        await self.store.close()
        self.started = False

    def _store_health(self, health: StoreHealth) -> None:
        """The store stopped or resumed committing: pause or resume the work that needs it."""
        log = self.executor.system_log
        if health.ok:
            resumed = self.bus.resume()
            log.info(
                f"store writes again: resuming api requests, cron and {resumed} queued event(s)"
            )
        else:
            self.bus.suspend()
            log.error(
                f"store cannot write ({health.error}): api requests answer 503, events and cron "
                "wait until a commit succeeds; retrying",
                {"store": health.location},
            )
        self.events.publish(ev.STORE_HEALTH, health.to_json())

    def _cron_tick(self, step: Step, tick: float) -> None:
        if not self.store.health.ok:
            self.executor.system_log.warn(
                f"cron {step.name}: tick skipped while the store cannot write"
            )
            return
        claimed = self.store.claim_tick(step.name, tick)
        if inspect.isawaitable(claimed):
            task = asyncio.ensure_future(self._cron_claimed(step, claimed))
            self._cron_claims.add(task)
            task.add_done_callback(self._cron_claims.discard)
        elif claimed:
            self.executor.fire_cron(step)

    async def _cron_claimed(self, step: Step, claimed: Any) -> None:
        if await claimed:
            self.executor.fire_cron(step)

    def _remote_change(self, kind: str, change: dict[str, Any]) -> None:
        """Another worker sharing the store changed state, a stream or the dead letters."""
        if kind == "state":
            self.events.publish(ev.STATE_CHANGE, change)
        elif kind == "stream":
            self.stream_store.notify(change)
            self.events.publish(ev.STREAM_CHANGE, change)
        else:
            self.bus.remote_dead_letter(kind, change)

    # -- loading ----------------------------------------------------------------------

    async def load_all(self) -> None:
        discovery.prepare_import_path(self.project_dir)
        for path in discovery.find_files(self.project_dir):
            await self.load_file(path)

    async def load_file(self, path: Path) -> None:
        """Import one step or stream file (off the loop, within `import_timeout_s`) and put
        what it defines in service."""
        path = path.resolve()
        try:
            module = await self.importer.load(path)
            line = discovery.config_line(path)
            config = getattr(module, "config", None)
            if config is None:
                raise StepError(path, 1, "no `config` defined")
            if discovery.is_stream_file(path):
                self._install_stream(path, build_stream(config, path, line))
            else:
                self._install_step(
                    path, build_step(config, module.__dict__.get("handler"), path, line)
                )
        except StepError as exc:
            self._fail(path, exc)

    def _fail(self, path: Path, error: StepError, log: bool = True) -> None:
        steps = self.registry.fail(path, error)
        if log:
            fields: dict[str, Any] = {"file": error.file, "line": error.line}
            if isinstance(error, ImportTimedOut):
                fields["abandonedImports"] = self.importer.abandoned
            self.executor.system_log.error(
                f"failed to load {error.file}:{error.line}: {error.message}", fields
            )
        self.events.publish(ev.STEP_FAILED, {**error.to_json(), "steps": steps})

    def _install_step(self, path: Path, step: Step) -> None:
        self.registry.add_step(path, step)
        for warning in step.warnings:
            self.executor.system_log.warn(f"{path}:{step.line}: {warning}")
        self.events.publish(ev.STEP_LOADED, step.to_json(self.project_dir))

    def _install_stream(self, path: Path, definition: StreamDefinition) -> None:
        self.registry.add_stream(path, definition)
        for warning in definition.warnings:
            self.executor.system_log.warn(f"{path}:{definition.line}: {warning}")
        self.events.publish(ev.STEP_LOADED, {"stream": definition.to_json(self.project_dir)})

    def remove_file(self, path: Path) -> None:
        path = path.resolve()
        names, stream = self.registry.remove_file(path)
        for name in names:
            self.events.publish(ev.STEP_REMOVED, {"name": name, "file": str(path)})
        if stream is not None:
            self.events.publish(ev.STEP_REMOVED, {"stream": stream, "file": str(path)})

    # -- hot reload ---------------------------------------------------------------------

    async def _watch(self, watching: asyncio.Event) -> None:
        from engine.watching import watch_project

        try:
            await watch_project(self.project_dir, self.apply_changes, self._watch_failed, watching)
        except OSError as exc:
            self._watch_failed([self.project_dir], exc)
        finally:
            watching.set()  # start-up waits on it, also when the watch failed

    def _watch_failed(self, folders: list[Path], exc: OSError) -> None:
        names = ", ".join(str(folder) for folder in folders)
        self.executor.system_log.error(
            f"hot reload does not see {names}: {exc}; restart to retry",
            {"folders": [str(folder) for folder in folders]},
        )

    async def apply_changes(self, changes: list[tuple[bool, Path]]) -> None:
        """Reload what changed: a step file alone, or every step when a helper changed; the
        TypeScript and JavaScript files go to the Node steps, which reload in the workers.
        One batch at a time, since imports take turns with serving."""
        node_changes = [
            (deleted, path.resolve())
            for deleted, path in changes
            if discovery.is_node_code(path.resolve(), self.project_dir)
        ]
        if node_changes:
            self.node.changed(node_changes)
        changes = [(deleted, path) for deleted, path in changes if path.suffix == ".py"]
        async with self._reloading:
            await self._apply(changes)

    async def _apply(self, changes: list[tuple[bool, Path]]) -> None:
        helper_changed = False
        for deleted, path in changes:
            path = path.resolve()
            discovery.forget_bytecode(path)
            if discovery.is_project_file(path, self.project_dir):
                if deleted:
                    self.remove_file(path)
                    self.executor.system_log.info(f"removed {path.relative_to(self.project_dir)}")
                continue
            helper_changed = True
        if helper_changed:
            discovery.forget_project_modules(self.project_dir)
            for path in self.registry.loaded_paths():
                if path.exists() and path.suffix == ".py":
                    await self.load_file(path)
            self.executor.system_log.info("a helper module changed: reloaded every step")
            self._types_changed()
            return
        for deleted, path in changes:
            path = path.resolve()
            if not deleted and discovery.is_project_file(path, self.project_dir):
                await self.load_file(path)
                if path not in self.errors:
                    self.executor.system_log.info(f"reloaded {path.relative_to(self.project_dir)}")
        if changes:
            self._types_changed()

    def _types_changed(self) -> None:
        """Steps were reloaded: a project with Node steps gets its types.d.ts rewritten."""
        if self.node.loaded:
            try:
                self.write_types()
            except OSError as exc:
                self.executor.system_log.warn(f"types.d.ts not written: {exc}")

    def write_types(self) -> Path:
        """`types.d.ts` for editors, from the steps in service (`motia types` calls it too)."""
        from engine.node.types import write_types

        return write_types(self.project_dir, self.steps.values(), self.stream_definitions.values())

    # -- views ----------------------------------------------------------------------------

    def steps_json(self) -> dict[str, Any]:
        return {
            "steps": [s.to_json(self.project_dir) for s in self.steps.values()],
            "streams": [d.to_json(self.project_dir) for d in self.stream_definitions.values()],
            "errors": merge_errors(self.errors.values()),
        }

    def flows_json(self) -> dict[str, Any]:
        return {"flows": build_flows(list(self.steps.values()))}

    def stats_json(self) -> dict[str, Any]:
        """Live counters for the flow graph: per node and per edge."""
        return {
            "steps": self.executor.stats,
            "edges": [
                {"topic": topic, "to": step, "queued": count}
                for (topic, step), count in self.bus.queued_by_edge.items()
            ],
            "deadLetters": self.bus.dead_letter_bound.stats(len(self.bus.dlq)),
        }

    # -- controls (the introspection API and the workbench call these) ------------------------

    def emit(self, topic: str, data: Any) -> str:
        """A manual emit: a new trace whose root span is the person who sent it. Its events
        reach the store within milliseconds; `emit_committed` waits until they have."""
        return self._emit(topic, data, durable=False)[0]

    async def emit_committed(self, topic: str, data: Any) -> str:
        trace_id, done = self._emit(topic, data, durable=True)
        if done is not None:
            await done
        return trace_id

    def _emit(
        self, topic: str, data: Any, durable: bool
    ) -> tuple[str, asyncio.Future[None] | None]:
        run = self.executor.manual_run(f"emit {topic}", data)
        triggers.record(
            self.store, run.trace_id, triggers.emit_trigger(topic, data), run.span.start
        )
        self.executor.emit_from_run(run, {"topic": topic, "data": data})
        try:
            self.bus.check_room(run.emitted)
        except QueueFull as exc:
            self.executor.traces.end_span(run.span, ERROR, error={"message": str(exc)})
            raise
        return run.trace_id, self.executor.finish_manual(run, durable=durable)

    def trigger_cron(self, name: str) -> str:
        step = self.steps.get(name)
        if step is None or step.type != "cron":
            raise KeyError(f"no cron step named {name!r}")
        if not self.store.health.ok:
            raise failing_error(self.store.health)
        return self.executor.fire_cron(step)

    def set_state(self, group: str, key: str, value: Any) -> asyncio.Future[None] | None:
        """A person's state edit; raises `StoreFailing` while the store cannot write."""
        encode(value)
        run = self.executor.manual_run("manual state edit", {"group": group, "key": key})
        self.executor.state_set(run, group, key, value)
        return self.executor.finish_manual(run)

    def delete_state(self, group: str, key: str | None) -> bool:
        run = self.executor.manual_run("manual state edit", {"group": group, "key": key})
        if key is None:
            existed = bool(self.state.get_group(group))
            self.executor.state_clear(run, group)
        else:
            existed = self.executor.state_delete(run, group, key) is not None
        self.executor.finish_manual(run)
        return existed

    def remove_dead_letter(self, item_id: str) -> asyncio.Future[None] | None:
        """Drop a dead letter, recorded as a manual trace ("drop TOPIC") naming the step, the
        event and the trace it failed in; KeyError when there is none, `StoreFailing` while
        the store cannot write."""
        item = self.bus.dlq.get(item_id)
        effect = self.bus.remove_dead_letter(item_id)
        if item is None or effect is None:
            raise KeyError(item_id)
        keys = ("id", "step", "topic", "traceId", "attempts", "data")
        run = self.executor.manual_run(f"drop {item['topic']}", {k: item.get(k) for k in keys})
        run.effects.append(effect)
        done = self.executor.finish_manual(run)
        self.bus.forget_dead_letter(item_id)
        return done

    def purge_queue(self, topic: str) -> tuple[int, asyncio.Future[None] | None]:
        """Throw away every delivery still queued for `topic`, recorded as a manual trace
        ("purge TOPIC"); answers how many there were and the commit to wait for. Runs already
        under way finish, but none of them is retried. Raises `StoreFailing` while the store
        cannot write (and then purges nothing)."""
        run = self.executor.manual_run(f"purge {topic}", {"topic": topic})
        run.effects.append(QueuePurged(topic))
        done = self.executor.finish_manual(run, durable=True)
        purged = self.bus.purge(topic)
        self.executor.system_log.info(f"purged {purged} queued event(s) of {topic!r}")
        self.events.publish(ev.QUEUE_PURGED, {"topic": topic, "purged": purged})
        return purged, done

    def retry_dead_letter(self, item_id: str) -> str:
        item = self.bus.dlq.get(item_id)
        if item is None:
            raise KeyError(item_id)
        step = self.steps.get(item["step"])
        if step is None or item["topic"] not in step.subscribes:
            raise KeyError(f"step {item['step']!r} no longer subscribes to {item['topic']!r}")
        removal = self.bus.remove_dead_letter(item_id)
        run = self.executor.manual_run(f"retry {item['topic']}", item["data"], item["traceId"])
        if removal is not None:
            run.effects.append(removal)
        self.executor.queue_deliveries(
            run,
            self.bus.make_deliveries(
                item["topic"],
                encode(item["data"]),
                run.trace_id,
                run.span.span_id,
                only=step.name,
                delivery_id=item_id,
            ),
        )
        self.executor.finish_manual(run)
        self.bus.forget_dead_letter(item_id)
        return str(item["traceId"])

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no delivery is queued or running (tests and tools use it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.bus.in_flight or any(s["running"] for s in self.executor.stats.values()):
            if loop.time() > deadline:
                raise TimeoutError("engine still busy")
            await asyncio.sleep(0.005)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.store.settled(), timeout)
