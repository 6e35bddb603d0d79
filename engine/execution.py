"""Running steps: an event's delivery and a cron tick, each an attempt of a run.

A delivery's attempt settles it (done, retried later, or in the dead-letter queue) in the same
unit of work as the run's effects; a handler whose process died is delivered again without
counting the attempt. The run itself (its span, handler call, timeout and commit) is
`engine.run_lifecycle`; the context's calls are `engine.run_operations`; the api request path
is `engine.http`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from pathlib import Path

from engine import jsonio, triggers
from engine.bus import Bus, Delivery
from engine.context import FlowContext
from engine.effects import DeadLettered, DeliveryFailed
from engine.events import EventHub
from engine.logs import LogStore
from engine.records import wrap
from engine.registry import StepRegistry
from engine.run_lifecycle import RunLifecycle, error_info
from engine.runs import HandlerLost, Run
from engine.settings import Settings
from engine.span_bounds import cut_body
from engine.steps import Step
from engine.stores import Persistence, StoreFailing
from engine.streams import StreamStore
from engine.tracing import TraceStore

LOST_REDELIVERIES = 5
"""Deliveries of one event in a row whose handler's process died before they count as a
failed attempt."""


class Executor(RunLifecycle):
    """Runs handlers and carries out the context's calls."""

    def __init__(
        self,
        settings: Settings,
        project_dir: Path,
        hub: EventHub,
        store: Persistence,
        traces: TraceStore,
        logs: LogStore,
        streams: StreamStore,
        bus: Bus,
        registry: StepRegistry,
    ) -> None:
        super().__init__(
            settings, project_dir, hub, store, traces, logs, streams, bus, registry
        )
        self._cron_runs: set[asyncio.Task[None]] = set()
        bus.serve(self.handle_delivery, self.delivery_crashed)

    async def handle_delivery(self, delivery: Delivery) -> bool:
        """One attempt of one delivery; True once it is settled (or no longer this bus's)."""
        bus = self.bus
        if delivery.generation != bus.generation or bus.suspended or delivery.purged:
            return True
        step = self.steps.get(delivery.step)
        if step is None or step.type != "event":
            self.system_log.warn(
                f"dropping event {delivery.topic!r}: step {delivery.step!r} no longer exists",
                {"traceId": delivery.trace_id},
            )
            with contextlib.suppress(StoreFailing):
                self.store.commit([self.bus.finished(delivery)], False, self.store.epoch)
            return True
        raw, limit = delivery.data_json, self.settings.span_body_bytes
        data = jsonio.loads(raw)  # `delivery.data`, without the property's call
        run = self.begin(
            step,
            "event",
            data if len(raw) <= limit else cut_body(raw.encode(), limit),
            delivery.trace_id,
            delivery.parent_span,
            delivery.attempt,
            delivery.id,
        )
        run.span.topic = delivery.topic
        try:
            if step.input_schema is not None:  # a model's own code that raises fails the attempt
                problems = step.input_schema.errors(data)
                if problems:
                    self.step_logger(run).warn(
                        f"input does not match {step.name}'s schema", {"details": problems}
                    )
            if step.middleware or not step.is_async or step.handler is None:
                output = await self.invoke(step, run, (wrap(data),))
            else:  # `invoke` written out: a coroutine fewer a delivery
                context = FlowContext(self, run)
                timeout = step.timeout_s or self.settings.handler_timeout_s
                task = asyncio.current_task(self._loop)  # the bound loop, as `invoke` does
                assert task is not None
                self.deadlines.watch(run, task, timeout)
                try:
                    output = await step.handler(wrap(data), context)
                    if (
                        output is not None
                        and type(output) is not dict
                        and inspect.isawaitable(output)
                    ):
                        output = await output
                    if run.pending:
                        await asyncio.gather(*run.pending)
                    if run.emitted:
                        self.bus.check_room(run.emitted)
                except asyncio.CancelledError:
                    if not run.timed_out:
                        raise
                    raise self.timed_out(step, run, task, timeout) from None
                finally:
                    self.deadlines.forget(run)
        except HandlerLost as lost:
            if self._lost(run, delivery, lost):
                return False
            error = error_info(lost, self.project_dir)
            settled, effect = self.bus.after_failure(delivery, step.queue.max_retries, error)
            self.end(run, error=error)
            return self._settle(run, delivery, False, effect, settled)
        except Exception as exc:
            error = error_info(exc, self.project_dir)
            settled, effect = self.bus.after_failure(delivery, step.queue.max_retries, error)
            retries = step.queue.max_retries + 1
            outcome = "moved to the dead-letter queue" if settled else "will retry"
            self.log_failure(
                run,
                f"{step.name} failed (attempt {run.span.attempt}/{retries}), {outcome}: "
                f"{error['message']}",
                error,
            )
            self.end(run, error=error)
            return self._settle(run, delivery, False, effect, settled)
        self.end(run, output)
        return self._settle(run, delivery, True, None, True)

    def _lost(self, run: Run, delivery: Delivery, exc: HandlerLost) -> bool:
        """The handler's process died: the attempt did not happen, as after a crash of the
        engine. True when the delivery goes again at once, with the same attempt number;
        after LOST_REDELIVERIES in a row it counts as a failure, so an event that kills its
        worker every time ends in the dead-letter queue rather than looping."""
        delivery.lost += 1
        error = error_info(exc, self.project_dir)
        if delivery.lost > LOST_REDELIVERIES:
            delivery.lost = 0
            self.log_failure(run, f"{run.step_name}: {exc} ({delivery.lost} times in a row)", error)
            return False
        self.step_logger(run).warn(
            f"{run.step_name}: {exc}; delivering the event again "
            f"(attempt {delivery.attempt} is not counted)"
        )
        self.end(run, error=error)
        return True

    def delivery_crashed(self, delivery: Delivery, exc: Exception) -> None:
        """The engine failed around a handler (not in it): log it as an engine error and
        move the delivery to the dead-letter queue, where it can be seen and retried."""
        error = error_info(exc)
        self.system_log.error(
            f"engine error delivering {delivery.topic!r} to {delivery.step}: {error['message']};"
            " moved to the dead-letter queue",
            {"traceId": delivery.trace_id, "traceback": error["traceback"]},
        )
        _, effect = self.bus.after_failure(delivery, -1, error)
        if effect is None:
            return
        try:
            self.store.commit([effect], False, self.store.epoch)
        except StoreFailing:
            return  # the store holds the delivery still; it runs again once the store recovers
        self.bus.settled(delivery, effect)

    def _settle(
        self,
        run: Run,
        delivery: Delivery,
        succeeded: bool,
        effect: DeliveryFailed | DeadLettered | None,
        settled: bool,
    ) -> bool:
        if not self.bus.current(delivery):
            return True
        try:
            self.finish(run, succeeded, effect or self.bus.finished(delivery))
        except StoreFailing as exc:
            if succeeded:
                self.refused(run, exc)
            return True  # the bus was suspended: the store still holds the delivery
        if effect is not None:
            self.bus.settled(delivery, effect)
        return settled

    def fire_cron(self, step: Step, trace_id: str | None = None) -> str:
        """Start a cron run now (a tick or a manual trigger); answer its trace id."""
        run = self.begin(step, "cron", None, trace_id)
        if trace_id is None:
            triggers.record(self.store, run.trace_id, triggers.cron_trigger(step.name))
        task = asyncio.ensure_future(self._cron_run(step, run))
        self._cron_runs.add(task)
        task.add_done_callback(self._cron_runs.discard)
        return run.trace_id

    async def stop_cron_runs(self) -> None:
        """Cancel the cron runs still going at shutdown, as the bus cancels its workers."""
        runs = list(self._cron_runs)
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    async def _cron_run(self, step: Step, run: Run) -> None:
        try:
            output = await self.invoke(step, run, ())
        except Exception as exc:
            error = error_info(exc, self.project_dir)
            self.log_failure(run, f"cron {step.name} failed: {error['message']}", error)
            self.end(run, error=error)
            succeeded = False
        else:
            self.end(run, output=output)
            succeeded = True
        try:
            self.finish(run, succeeded)
        except StoreFailing as failing:
            self.step_logger(run).error(f"cron {step.name}'s run was not kept: {failing}")
            if succeeded:
                self.refused(run, failing)
