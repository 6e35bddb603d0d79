"""Every private part of Textual the workbench relies on, in one place.

Textual keeps no promise about names that start with an underscore, and each one used here
changed behaviour somewhere the workbench needs (frames that can be dropped, scrollbars
without a layout pass, the terminal's real size, Esc read as Esc, keys in order). Nothing
else in `motia_tui` touches a private Textual name: it goes through this module, and
`tests/tui/test_textual_hooks.py` checks that each hook still exists and still does what
the workbench expects, so a Textual upgrade fails a test instead of the terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from math import ceil
from typing import TYPE_CHECKING, Any, TypeVar, cast

from rich.console import Console, RenderableType
from textual import events
from textual._compositor import Compositor
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.cache import LRUCache
from textual.driver import Driver
from textual.drivers import linux_driver
from textual.drivers.linux_driver import LinuxDriver
from textual.geometry import Region, Size
from textual.keys import _character_to_key
from textual.reactive import Reactive
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import ContentSwitcher, TabbedContent, TextArea
from textual.widgets._toast import ToastRack
from textual.widgets.text_area import Highlight

if TYPE_CHECKING:
    from textual.message import Message
    from textual.message_pump import MessagePump

ReturnType = TypeVar("ReturnType")
ESC = "\x1b"
CSI_OR_SS3 = "[O"
"""After ESC these start a longer sequence (arrows, function keys): keep reading."""


# -- keys in order (`motia_tui.key_order`) ---------------------------------------------------


def parent_of(node: MessagePump) -> MessagePump | None:
    """The node a message bubbles to from `node`."""
    return node._parent


def bubbles_on(node: MessagePump, message: Message) -> bool | None:
    """After `node` handled `message`: did Textual pass it on to the parent?

    Mirrors the end of `MessagePump._on_message`. None when it cannot tell: a message
    stopped at a node whose parent sent it is handed to that parent anyway, unless a
    handler stopped it first.
    """
    parent = node._parent
    if parent is None or not message.bubble or not (node.is_parent_active and node.is_attached):
        return False
    if not message._stop_propagation:
        return True
    if message._sender is parent:
        return None
    return False


# -- Esc is Esc (`WorkbenchDriver`) ----------------------------------------------------------


class EscapeFirstParser(XTermParser):
    """Reads ESC followed at once by a printable key as Esc, then that key.

    The terminal sends the same two bytes for Alt+key, and Textual's parser reads them as
    Alt+key (or, for `ESC 2`, as the macOS Option character `™`), so `Esc` then `2` left
    the waterfall open. Nothing in the workbench is bound to Alt+printable, so the split
    loses nothing; a lone Esc still waits Textual's `ESCDELAY` (100 ms) for a sequence.
    """

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        if alt:
            # A lone ESC timed out and the parser reissues what followed it.
            yield events.Key("escape", ESC)
            yield from super()._sequence_to_key_events(sequence)
            return
        if len(sequence) == 2 and sequence[0] == ESC and sequence[1] not in CSI_OR_SS3 + ESC:
            yield events.Key("escape", ESC)
            yield from super()._sequence_to_key_events(sequence[1])
            return
        yield from super()._sequence_to_key_events(sequence)


def use_escape_first_parser() -> None:
    """Make `LinuxDriver`'s input thread build an `EscapeFirstParser`: it looks the parser
    class up in its module each time it starts."""
    # A private module global of Textual's, replaced by a subclass: mypy reads the imported
    # name as a class and refuses the assignment.
    linux_driver.XTermParser = EscapeFirstParser  # type: ignore[misc]


def key_name(key: str) -> str:
    """A key as Textual names it in bindings: `?` is `question_mark`, `F4` stays `F4`."""
    return _character_to_key(key) if len(key) == 1 else key


# -- the terminal driver (`motia_tui.writer`) ------------------------------------------------


class HookedLinuxDriver(LinuxDriver):
    """`LinuxDriver` that asks the terminal for its size and reads Esc as Esc."""

    output_fd: int | None = None
    """The terminal drawn on, when it is not standard output (a demo's pseudo-terminal)."""
    keys_delivered = 0
    """Keys read from the terminal and posted to the app (on the input thread)."""

    def process_message(self, message: Message) -> None:
        if isinstance(message, events.Key):
            self.keys_delivered += 1
        super().process_message(message)

    def _get_terminal_size(self) -> tuple[int, int]:
        """Ask the terminal itself: an exported COLUMNS or LINES goes stale on resize."""
        fd = self.output_fd
        try:
            if fd is None:
                if sys.__stdout__ is None:
                    return super()._get_terminal_size()
                fd = sys.__stdout__.fileno()
            size = os.get_terminal_size(fd)
        except (OSError, ValueError, AttributeError):
            return super()._get_terminal_size()
        return size.columns or 80, size.lines or 25

    def start_application_mode(self) -> None:
        use_escape_first_parser()
        super().start_application_mode()


def driver_of(app: App[Any]) -> Driver | None:
    return app._driver


# -- toasts (`motia_tui.app`: off the Logs tail) ----------------------------------------------


def toast_racks(screen: Screen[Any]) -> list[Widget]:
    """The widgets a screen shows its notifications in (`ToastRack` is private)."""
    return list(screen.query_children(ToastRack))


# -- the screen as text (`motia_tui.demo`'s `Wait`) -----------------------------------------


def screen_text(app: App[Any]) -> str:
    """What the screen shows, as plain lines: `App.export_screenshot` without the styling
    (both render the screen's compositor in full)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


# -- frames the writer may drop (`motia_tui.app`) --------------------------------------------


class FrameMarkingApp(App[ReturnType]):
    """An app whose screen updates are bracketed by `frame()`.

    `App._display` is where Textual writes one update of the screen to the driver.
    """

    def frame(self) -> contextlib.AbstractContextManager[None]:
        """What brackets one screen update; nothing by default."""
        return contextlib.nullcontext()

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        with self.frame():
            super()._display(screen, renderable)


# -- scrollbars without a layout pass (`motia_tui.widgets.line_view`) ------------------------


def update_scrollbars(view: ScrollView, virtual_size: Size) -> None:
    """Resize the vertical scrollbar to a new virtual size, as a layout would, without one
    (`Widget._scroll_update` less its unconditional repaint of the bar)."""
    view._refresh_scrollbars()
    if view.show_vertical_scrollbar and view.styles.scrollbar_size_vertical:
        bar = view.vertical_scrollbar
        bar.window_virtual_size = virtual_size.height
        bar.window_size = view.container_size.height - view.scrollbar_size_horizontal


THUMB_STEPS = len(ScrollBarRender.VERTICAL_BARS)
"""A thumb's ends are drawn in eighths of a cell."""


def thumb(size: int, virtual_size: int, window_size: int, position: float
          ) -> tuple[int, int, int]:
    """A bar's length and its thumb's ends in eighths of a cell, as
    `ScrollBarRender.render_bar` works them out: all of the bar's drawing that these
    numbers decide."""
    if not (window_size and size and virtual_size and size != virtual_size):
        return size, -1, -1
    thumb_size = max(1, window_size / (virtual_size / size))
    offset = (size - thumb_size) * (position / (virtual_size - window_size))
    start = int(offset * THUMB_STEPS)
    return size, start, start + ceil(thumb_size * THUMB_STEPS)


class ThumbScrollBar(ScrollBar):
    """A scrollbar that repaints when the thumb it draws moves, not whenever the numbers
    behind it change.

    A live list grows on every tick, and each new size or position repainted its bar: a
    strip per row built through Textual's whole line pipeline, a quarter of a frame of the
    Logs pane and more than half of one of the Traces pane at 500 requests/s, while a bar
    over thousands of lines draws the same one-cell thumb each time.
    """

    window_virtual_size: Reactive[int] = Reactive(100, repaint=False)
    window_size: Reactive[int] = Reactive(0, repaint=False)
    position: Reactive[float] = Reactive(0.0, repaint=False)

    def __init__(self, vertical: bool = True, name: str | None = None, *,
                 thickness: int = 1) -> None:
        super().__init__(vertical, name, thickness=thickness)
        self._drawn: tuple[int, int, int] | None = None
        self._length = 0
        """The bar's length as its last resize gave it (`Widget.size` looks the bar up in
        the screen's map of widgets, which may mean arranging the whole screen)."""

    def _thumb(self) -> tuple[int, int, int]:
        window = self.window_size if self.window_size < self.window_virtual_size else 0
        return thumb(self._length, ceil(self.window_virtual_size), ceil(window), self.position)

    def on_resize(self, event: events.Resize) -> None:
        """Textual repaints a resized bar itself."""
        self._length = event.size.height if self.vertical else event.size.width
        self._drawn = self._thumb()

    def _numbers_changed(self) -> None:
        drawn = self._thumb()
        if drawn != self._drawn:
            rows = self._rows_between(self._drawn, drawn)
            self._drawn = drawn
            self.refresh(*rows)

    def _rows_between(self, old: tuple[int, int, int] | None, new: tuple[int, int, int]
                      ) -> tuple[Region, ...]:
        """The cells a move of the thumb from `old` to `new` redraws: from the higher of
        their tops to the lower of their bottoms (a cell of the track between them changes
        which way a click on it scrolls); all of them, `()`, unless both have a thumb on a
        vertical bar of the same length.

        A list's new line count moves the thumb before its new scroll position moves it
        back (`set_line_count`, then the scroll to the tail): redrawing the whole bar each
        time was a strip per row through Textual's line pipeline, twice a tick, for a thumb
        that ended where it was."""
        if not self.vertical or old is None or old[0] != new[0] or old[1] < 0 or new[1] < 0:
            return ()
        steps = THUMB_STEPS
        top = min(old[1], new[1]) // steps
        bottom = min(new[0], ceil(max(old[2], new[2]) / steps))
        return (Region(0, top, self.thickness, max(1, bottom - top)),)

    def watch_window_virtual_size(self) -> None:
        self._numbers_changed()

    def watch_window_size(self) -> None:
        self._numbers_changed()

    def watch_position(self) -> None:
        self._numbers_changed()


class ThumbScrollView(ScrollView):
    """A `ScrollView` whose vertical scrollbar is a `ThumbScrollBar` (`Widget` makes its
    scrollbars in a property, into a private attribute), and whose layout passes leave the
    bar to repaint itself when its thumb moves.

    `ScrollView._size_updated` calls `Widget._scroll_update` whenever the virtual size
    changed since the last layout, which is every time a list that grew while its pane was
    hidden is shown again: the bar was repainted in full, a strip per row, for a thumb
    that had not moved. Only a vertical bar is kept up: these views never show a
    horizontal one (`LineView` hides it; the Logs view shifts sideways by its own offset).
    """

    def _scroll_update(self, virtual_size: Size) -> None:
        update_scrollbars(self, virtual_size)
        self.scroll_x = self.validate_scroll_x(self.scroll_x)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        bar = self._vertical_scrollbar
        if bar is None:
            bar = ThumbScrollBar(vertical=True, name="vertical",
                                 thickness=self.scrollbar_size_vertical)
            bar.display = False
            self._vertical_scrollbar = bar
            self.app._start_widget(self, bar)
        return bar


# -- a key's frame without waiting for the update timer (`motia_tui.key_order`) ------------


class EagerScreen(Screen[Any]):
    """A screen that, when asked (`draw_when_idle`), draws its pending update as soon as
    its queue is empty instead of at its update timer's next tick.

    Textual's update timer is re-armed after each tick for the next period boundary but one
    (`UPDATE_PERIOD`, 1/60 s), so an update asked for within a few milliseconds of the
    previous frame (the feed's tick draws 15 times a second) waited 17 to 33 ms for its
    turn: at 500 requests/s, a key handled 5 to 16 ms after a frame reached the terminal
    11 to 28 ms after it was handled, against 2 to 4 ms when the last frame was older."""

    _draw_when_idle = False

    def draw_when_idle(self) -> None:
        self._draw_when_idle = True

    def _update_pending(self) -> bool:
        """What `Screen._on_idle` checks before it resumes the update timer."""
        return bool(
            self.is_current and not self.app._batch_count
            and (self._layout_required or self._scroll_required or self._repaint_required
                 or self._recompose_required or self._dirty_widgets)
        )

    async def _on_idle(self, event: events.Idle) -> None:
        await super()._on_idle(event)
        if self._draw_when_idle and self._update_pending():
            self._on_timer_update()

    def _on_timer_update(self) -> None:
        self._draw_when_idle = False
        super()._on_timer_update()


# -- containers that draw only their background (`motia_tui.app`) ---------------------------

BACKGROUND_REACTIVES: tuple[tuple[type[Widget], str], ...] = (
    (Screen, "focused"),
    (TabbedContent, "active"),
    (ContentSwitcher, "current"),
)
"""Reactives of Textual containers that repaint the container when they change, though it
draws nothing but its background under children that cover it (the focused widget, the
shown tab): on a tab switch the screen, the tabbed content and its switcher were each
rendered again line by line, a whole screen's height of strips each, for nothing."""


def keep_containers_painted() -> None:
    """Let the reactives of `BACKGROUND_REACTIVES` change without a repaint of their
    container (what they change repaints itself: the focus restyles the widgets it moves
    between, the switcher's children are shown and hidden with a layout)."""
    for owner, name in BACKGROUND_REACTIVES:
        descriptor = owner.__dict__[name]
        assert isinstance(descriptor, Reactive)
        descriptor._repaint = False


# -- widgets hidden under others are not drawn (`motia_tui.app`) ------------------------------


def render_chops_of_what_shows(
    self: Compositor, crop: Region, is_rendered_line: Callable[[int], bool]
) -> Sequence[Mapping[int, Strip]]:
    """`Compositor._render_chops` that renders and cuts only the widgets a line shows.

    Textual paints front to back: each widget over the update is rendered in full and every
    line of it is cut at the line's cuts, and a piece is kept only where nothing in front
    filled that cut. The screen, the tabbed content, its switcher and the shown tab pane lie
    whole under the pane they hold, so a tab switch rendered four containers' worth of
    blank lines and cut each at the scrollbar, to keep none of it. Here a widget is
    rendered only if one of its lines still has a cut to fill, and a line only cut if it
    does; what is drawn is the same.
    """
    cuts = self.cuts
    chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
    crop_overlaps = crop.overlaps
    for widget, (region, clip) in self.visible_widgets.items():
        if not crop_overlaps(clip):
            continue
        x, y, width, height = region.intersection(clip)
        if not (width and height):
            continue
        right = x + width
        needed: list[tuple[int, list[int]]] = []
        for line in range(y, y + height):
            if not is_rendered_line(line):
                continue
            line_cuts = [cut for cut in cuts[line] if right >= cut >= x]
            chops_line = chops[line]
            if any(chops_line.get(cut, False) is None for cut in line_cuts[:-1]):
                needed.append((line, line_cuts))
        if not needed:
            continue
        strips = widget.render_lines(Region(x - region.x, y - region.y, width, height))
        for line, line_cuts in needed:
            chops_line = chops[line]
            pieces = pieces_of(strips[line - y], [cut - x for cut in line_cuts[1:]])
            for cut, piece in zip(line_cuts, pieces, strict=False):
                if chops_line.get(cut, False) is None:
                    chops_line[cut] = piece
    return cast("Sequence[Mapping[int, Strip]]", chops)


def pieces_of(strip: Strip, cuts: list[int]) -> Sequence[Strip]:
    """`Strip.divide`, but a strip that needs no cut is its own piece and not cached: Textual
    caches `[strip]` in the strip itself, a cycle only the collector frees, and every line
    drawn whole (a status line, a blank one) became one, some 940 strips of 14 objects each
    that a middle collection had to find."""
    kept = [cut for cut in cuts if cut <= strip.cell_length]
    return [strip] if kept == [strip.cell_length] else strip.divide(kept)


CacheKey = TypeVar("CacheKey")
CacheValue = TypeVar("CacheValue")


class StripCache(LRUCache[CacheKey, CacheValue]):
    """An `LRUCache` whose `clear` frees what it held by reference counting.

    Textual keeps an LRU cache's entries in a ring of `[prev, next, key, value]` lists and
    `clear` drops only its dict and its head, so the whole ring, each strip in it with its
    segments and seven caches, became one cycle only a middle collection frees: the Logs
    pane clears its lines for every page read back after a loss, and the middle
    collections under a flood with losses freed 43,000 to 105,000 such objects each. The
    links are emptied first, which undoes the ring."""

    def clear(self) -> None:
        for link in self._cache.values():
            link.clear()
        super().clear()


TEXTUAL_RENDER_CHOPS = Compositor._render_chops
"""Textual's own, which `tests/tui/test_textual_hooks.py` checks draws the same."""


def draw_only_what_shows() -> None:
    """Make every screen's compositor use `render_chops_of_what_shows` (each screen builds
    its own `Compositor`)."""
    # A private method of Textual's, replaced by one that draws the same: mypy reads the
    # assignment as one to a method.
    Compositor._render_chops = render_chops_of_what_shows  # type: ignore[method-assign]


# -- focus without a restyle (`motia_tui.widgets.line_view`) ------------------------------

FOCUS_PSEUDO_CLASSES = frozenset({"focus", "blur", "focus-within"})


def styled_by_focus(widget: Widget) -> bool:
    """Whether a rule of the app's stylesheet that may apply to `widget` or to one of its
    component classes depends on focus: `Widget.watch_has_focus` restyles the widget and
    every component class on each focus change, needed or not. A rule is found under the
    names of the nodes it selects (`Stylesheet.rules_map`), as `Stylesheet.apply` finds it."""
    rules_map = widget.app.stylesheet.rules_map
    names = widget._selector_names | {f".{name}" for name in widget._get_component_classes()}
    return any(
        not FOCUS_PSEUDO_CLASSES.isdisjoint(rule.pseudo_classes)
        for name in names & rules_map.keys()
        for rule in rules_map[name]
    )


# -- syntax colours from pygments (`motia_tui.widgets.highlight`) ----------------------------


class HighlightHookTextArea(TextArea):
    """A `TextArea` whose highlights come from `highlights()` instead of tree-sitter.

    `TextArea._build_highlight_map` runs after every edit and document load and fills
    `_highlights` (line number to byte ranges) and clears `_line_cache`.
    """

    def highlights(self) -> dict[int, list[Highlight]]:
        return {}

    def _build_highlight_map(self) -> None:
        self._line_cache.clear()
        self._highlights.clear()
        self._highlights.update(self.highlights())
