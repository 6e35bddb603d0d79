"""SIGTERM stops the workbench as it stops `motia dev --no-tui`: the same drain, then exit.

Without it the signal's default action killed the process at once: requests in flight were
cut, the tape was not closed and the terminal was left in the workbench's raw, alternate
screen. The first SIGTERM (or a SIGINT sent from outside: in the terminal Ctrl+C is a key)
quits as `q` does, which stops taking work and lets running handlers finish; if that takes
longer than `shutdown_grace_s`, or a second signal comes, the terminal is given back and
the process exits with status 1 (128 + the signal for the second).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from engine.settings import Settings
from motia_tui.shutdown_guard import ShutdownGuard
from motia_tui.writer import WorkbenchDriver

if TYPE_CHECKING:
    from motia_tui.app import WorkbenchApp


def grace_of(app: WorkbenchApp) -> float:
    """The project's `shutdown_grace_s` where the workbench runs the engine, else the default."""
    settings = getattr(getattr(app.source, "engine", None), "settings", None)
    return (settings if isinstance(settings, Settings) else Settings()).shutdown_grace_s


def stop_on_signal(app: WorkbenchApp) -> ShutdownGuard:
    """Install the handlers; the caller tells the guard when the stop has finished."""
    loop = asyncio.get_running_loop()
    grace_s = grace_of(app)

    def stop() -> None:
        if app.is_running:
            app.notify(
                f"stopping: running handlers get up to {grace_s:g}s (setting shutdown_grace_s)",
                title="Signal received",
                timeout=grace_s,
            )
        app.call_later(app.action_quit)

    def give_back_terminal() -> None:
        """Leave the alternate screen and raw mode, and wait (briefly) until the terminal has
        taken it: the line that follows must land on the user's own screen."""
        driver = app._driver
        if driver is not None:
            driver.stop_application_mode()
            if isinstance(driver, WorkbenchDriver):
                driver.writer.stop(timeout=1.0)

    guard = ShutdownGuard(loop, stop, grace_s, sys.stderr, before_exit=give_back_terminal)
    guard.install()
    return guard
