"""Keys handled one at a time, each by the widget that has focus when it is read.

Textual forwards a key to the focused widget the moment the app reads it from the driver,
while the focus moves that earlier keys cause (a pane switch, Tab, Enter into a form) are
deferred to later turns of the app's queue. Keys that arrive together, as they do over SSH
or from a paste, were therefore delivered to the widget that had focus *before* the first
of them was handled: `2 3 4` showed Traces with the Logs keys in effect, `acme` Tab `u42`
typed everything into the first input.

`KeyOrder` holds every key that arrives while an earlier one is still travelling through
the widget tree, and lets the next go only once the earlier key has been handled (stopped by
a widget, or handled by a binding at the app) and what that handling set off has settled:
the messages it posted along the way (Enter on a route posts `OptionSelected`, whose handler
moves the focus into the form) and the focus moves queued on the app. Settled means a round
of callbacks through every node the key passed, and the app, found nothing else handled at
those nodes meanwhile. A key read while nothing is in flight goes at once, so typing at
human speed waits for nothing.

While keys wait their turn the screen is not drawn (`App.batch_update`): a burst of twenty
pane keys drew twenty panes, each a layout and a paint of the whole screen on the loop the
server shares, to show only the last. The screen is drawn as soon as the last key waiting
has been handled (its settling goes on meanwhile), as soon as the screen's queue is empty
(`textual_hooks.EagerScreen`), not at the update timer's next tick.

`waiting` tells the feed pump that a key goes first: from the moment the terminal delivers it
until the frame that shows its effect has been drawn, live updates wait (`feed_pump`), so a
key press is never queued behind a batch of events and the repaint that batch causes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import events, messages

from motia_tui import textual_hooks

if TYPE_CHECKING:
    from textual.app import App
    from textual.message import Message
    from textual.message_pump import MessagePump

SETTLE_ROUNDS = 12
"""Rounds of callbacks at most before the next key goes anyway (a pane that redraws on every
tick is never quiet)."""
HOUSEKEEPING = (messages.Prompt, messages.Update, messages.Layout, messages.UpdateScroll,
                events.Timer)
"""Messages that say nothing about a key's consequences (repaints, a pane's own timers): at
500 requests a second the screen gets them all the time, and counting them would make every
key in a burst wait all `SETTLE_ROUNDS`."""
STUCK_KEY_S = 5.0
"""A key whose handling and settling take longer than this lets the next one go, so a
handler that hangs (or a widget removed with the key in its queue) cannot freeze the
keyboard for good. Generous: showing a pane can take a few hundred milliseconds of work on
a loaded machine, and the next key must not go before it is done."""


class KeyOrder:
    """The app's gate for keys read from the terminal."""

    def __init__(
        self, app: App[Any], dispatch: Callable[[events.Event], Awaitable[None]]
    ) -> None:
        self._app = app
        self._dispatch = dispatch
        self._held: deque[events.Key] = deque()
        self._in_flight: events.Key | None = None
        self._settling: events.Key | None = None
        self._releasing = False
        self._watched: list[MessagePump] = []
        self._activity = 0
        self._stuck: asyncio.TimerHandle | None = None
        self._batch: contextlib.AbstractContextManager[None] | None = None
        self.keys_held = 0
        """How many keys had to wait for an earlier one (for tests and the bench)."""
        self.keys_read = 0
        """How many keys the app has read (the driver counts those it delivered)."""
        self._frame_owed = False
        self.keys_given_up = 0
        """How many keys let the next go after `STUCK_KEY_S` instead of being seen handled."""

    @property
    def busy(self) -> bool:
        return (
            self._in_flight is not None
            or self._settling is not None
            or self._releasing
            or bool(self._held)
        )

    def waiting(self, delivered: int) -> bool:
        """Whether a key is on its way: `delivered` by the terminal and not yet read, held,
        being handled, or handled with its frame not drawn yet (what it set off may still be
        settling: that holds the next key, not the screen)."""
        return (delivered > self.keys_read or self._in_flight is not None or bool(self._held)
                or self._frame_owed)

    async def key_read(self, event: events.Key) -> None:
        """A key the app read from the driver: dispatch it now, or after those before it."""
        self.keys_read += 1
        self._frame_owed = True
        if self.busy:
            self._held.append(event)
            self.keys_held += 1
            if self._batch is None:
                self._batch = self._app.batch_update()
                self._batch.__enter__()
            return
        await self._send(event)

    def key_done_at_app(self, event: events.Key) -> None:
        """The key came back up to the app and its bindings have seen it: the end."""
        if event is self._in_flight:
            self._finish()

    async def _send(self, event: events.Key) -> None:
        app = self._app
        target = app.focused or app.screen
        self._in_flight = event
        self._stuck = asyncio.get_running_loop().call_later(STUCK_KEY_S, self._give_up, event)
        self._watch(target)
        await self._dispatch(event)
        if self._in_flight is event and not event.is_forwarded:
            # A priority binding took it: it never left the app.
            self._finish()

    def _watch(self, target: MessagePump) -> None:
        """Follow the key up the widget tree through each node's message signal."""
        app = self._app
        node: MessagePump | None = target
        while node is not None and node is not app:
            node.message_signal.subscribe(app, self._make_watcher(node), immediate=True)
            self._watched.append(node)
            node = textual_hooks.parent_of(node)

    def _make_watcher(self, node: MessagePump) -> Callable[[Message], None]:
        def handled(message: Message) -> None:
            if message is self._in_flight:
                self._handled_at(node, message)
            elif (
                self._settling is not None
                and not isinstance(message, HOUSEKEEPING)
                and not _is_settle_callback(message)
            ):
                self._activity += 1

        return handled

    def _handled_at(self, node: MessagePump, event: Message) -> None:
        """`node` just handled the key: it went on to the parent, or its journey is over."""
        moves_on = textual_hooks.bubbles_on(node, event)
        if moves_on is None:
            # Stopped at a node whose parent sent it: Textual may still hand it to that
            # parent, and if it did, the key is in the app's queue before this check.
            self._app.call_later(self._check_lost, event)
        elif not moves_on:
            self._finish()

    def _check_lost(self, event: events.Key) -> None:
        if event is self._in_flight:
            self._finish()

    def _give_up(self, event: events.Key) -> None:
        if event is self._in_flight:
            self.keys_given_up += 1
            self._finish()
        elif event is self._settling:
            self.keys_given_up += 1
            self._settled(event)

    def _finish(self) -> None:
        """The key is handled: wait for what it set off, then let the next go."""
        event = self._in_flight
        if event is None:
            return
        self._in_flight = None
        self._settling = event
        if not self._held:
            screen = self._app.screen
            if isinstance(screen, textual_hooks.EagerScreen):
                screen.draw_when_idle()
            if self._batch is not None:
                batch, self._batch = self._batch, None
                batch.__exit__(None, None, None)
                screen.check_idle()  # drawn now, not at the next thing that changes
        self._settle_round(event, SETTLE_ROUNDS)

    def frame_drawn(self) -> None:
        """The app drew a frame: once no key is held or in flight, their effects are on
        screen."""
        if self._in_flight is None and not self._held:
            self._frame_owed = False

    def _settle_round(self, event: events.Key, rounds_left: int) -> None:
        """A callback on every node the key passed, and on the app; once all have run,
        another round unless nothing else was handled at those nodes meanwhile."""
        if self._settling is not event:
            return
        nodes: list[MessagePump] = [*self._watched, self._app]
        activity_before = self._activity
        pending = len(nodes)

        def reached() -> None:
            nonlocal pending
            pending -= 1
            if pending:
                return
            if self._activity != activity_before and rounds_left > 1:
                self._settle_round(event, rounds_left - 1)
            else:
                self._settled(event)

        for node in nodes:
            if not node.call_later(_SettleCallback(reached)):
                pending -= 1
        if not pending:
            self._settled(event)

    def _settled(self, event: events.Key) -> None:
        if self._settling is not event:
            return
        self._settling = None
        if self._stuck is not None:
            self._stuck.cancel()
            self._stuck = None
        app = self._app
        for node in self._watched:
            node.message_signal.unsubscribe(app)
        self._watched.clear()
        if self._held and not self._releasing:
            self._releasing = True
            app.call_later(self._release)

    async def _release(self) -> None:
        self._releasing = False
        if self._held and self._in_flight is None and self._settling is None:
            await self._send(self._held.popleft())


class _SettleCallback:
    """A callback `KeyOrder` posts to learn that a node got through its queue; these do not
    count as activity."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback

    def __call__(self) -> None:
        self.callback()


def _is_settle_callback(message: Message) -> bool:
    if not isinstance(message, events.Callback):
        return False
    callback = message.callback
    return isinstance(getattr(callback, "func", callback), _SettleCallback)
