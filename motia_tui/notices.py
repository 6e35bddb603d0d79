"""What each batch of engine events tells the user outside the panes: the header's counters
(steps, broken steps, errors, a failing store) and the notifications (a step that failed to
load, a reload, a runaway queue, handler failures gathered into one toast an interval)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual.timer import Timer

from engine import events as ev
from engine.events import QueueWarningData, StepLoadedEvent, StepRemovedEvent, WireEvent
from motia_tui.header import WorkbenchHeader
from motia_tui.toasts import FailureDigest

if TYPE_CHECKING:
    from motia_tui.app import WorkbenchApp

TOAST_INTERVAL_S = 3.0
"""Handler failures at 500 requests/s must not bury the screen: one toast per interval."""


def queue_warning_text(warning: QueueWarningData) -> str:
    """What a runaway topic's toast says, and how to throw its backlog away."""
    topic, queued = warning["topic"], warning["queued"]
    if warning["full"]:
        what = (f"{topic}: {queued:,} events queued, at its bound of {warning['bound']:,}; "
                "runs that emit to it fail and retry.")
    else:
        what = f"{topic}: {queued:,} events queued, growing by {warning['perSecond'] or 0:,.0f}/s."
    return f'{what}\nPress : and choose "Purge queue {topic}" to throw them away.'


class Notices:
    """The header's counters and the app's toasts, kept from the event stream."""

    def __init__(self, app: WorkbenchApp, header: WorkbenchHeader) -> None:
        self.app = app
        self.header = header
        self.steps = 0
        self.broken = 0
        self.errors = 0
        self.store_problem: str | None = None
        self.failures = FailureDigest()
        self.last_toast = 0.0
        self._toast_timer: Timer | None = None

    def account(self, events: list[WireEvent], *, starting: bool = False) -> None:
        """Header counters and notifications for a batch."""
        steps_changed = False
        for event in events:
            if event["type"] == ev.LOG:
                if event["data"].get("level") == "error":
                    self.errors += 1
            elif event["type"] == ev.STEP_FAILED:
                failed = event["data"]
                steps_changed = True
                self.app.notify(
                    f"{failed.get('file')}:{failed.get('line')}: {failed.get('message')}\n"
                    "Press ! to see the errors.",
                    title="A step failed to load",
                    severity="error",
                    timeout=8,
                )
            elif event["type"] == ev.SPAN_END:
                span = event["data"]
                if span.get("status") != "error":
                    continue
                error = span.get("error") or {}
                message = error.get("message") if isinstance(error, dict) else str(error)
                self.failures.add(str(span.get("step")), str(message))
            elif event["type"] == ev.STEP_LOADED or event["type"] == ev.STEP_REMOVED:
                steps_changed = True
                if not starting:
                    self._notify_reload(event)
            elif event["type"] == ev.SERVER_STARTED:
                self.show_header()
            elif event["type"] == ev.QUEUE_WARNING:
                self.app.notify(
                    queue_warning_text(event["data"]),
                    title="A queue is running away",
                    severity="warning",
                    timeout=10,
                )
            elif event["type"] == ev.DLQ_FULL:
                full = event["data"]
                self.app.notify(
                    f"dropped the {full['dropped']} oldest to keep {full['bound']} "
                    f"(setting max_dead_letters); {full['totalDropped']} dropped since start",
                    title="The dead-letter queue is full",
                    severity="warning",
                    timeout=10,
                )
            elif event["type"] == ev.STORE_HEALTH:
                health = event["data"]
                failing = health["status"] != "ok"
                self.store_problem = (health["error"] or "commit failed") if failing else None
        self._toast_failures()
        if steps_changed:
            self.app.run_worker(self.count_steps(), exclusive=True, group="steps")
        else:
            self.show_header()

    def _notify_reload(self, event: StepLoadedEvent | StepRemovedEvent) -> None:
        if event["type"] == ev.STEP_LOADED:
            loaded = event["data"]
            stream = loaded.get("stream")
            what = loaded.get("name") or (stream.get("name") if stream else None)
            self.app.notify(f"reloaded {what}", timeout=2)
        else:
            removed = event["data"]
            self.app.notify(f"removed {removed.get('name') or removed.get('stream')}", timeout=2)

    def _toast_failures(self) -> None:
        """At most one failure toast an interval; what comes between waits for the next one
        (a timer, so a burst that then stops is still reported)."""
        now = asyncio.get_running_loop().time()
        if not self.failures:
            return
        wait = self.last_toast + TOAST_INTERVAL_S - now
        if wait > 0:
            if self._toast_timer is None:
                self._toast_timer = self.app.set_timer(wait, self._toast_due, name="toast")
            return
        self.last_toast = now
        self.app.notify(
            f"{self.failures.take()}\nPress ! to see the errors.",
            title="A handler failed",
            severity="error",
            timeout=TOAST_INTERVAL_S,
        )

    def _toast_due(self) -> None:
        self._toast_timer = None
        self._toast_failures()

    async def count_steps(self) -> None:
        answer = await self.app.source.steps()
        self.steps = len(answer.get("steps", []))
        self.broken = len(answer.get("errors", []))
        self.show_header()

    def show_header(self) -> None:
        source = self.app.source
        link: str | None = getattr(source, "link", None)
        self.header.show(
            source.label, link, self.steps, self.broken, self.errors, self.store_problem
        )
