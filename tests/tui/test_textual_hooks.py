"""Each private Textual hook in `motia_tui.textual_hooks` still exists and still behaves.

A Textual upgrade that renames or changes one of them fails here, naming the hook, instead
of leaving the workbench with dropped keys, a wrong size or frames that cannot be dropped.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import inspect
import os
import random
import struct
import termios
import time
from typing import Any, ClassVar

import pytest
from rich.segment import Segment
from textual import events
from textual._compositor import Compositor
from textual._xterm_parser import XTermParser
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.driver import Driver
from textual.drivers import linux_driver
from textual.drivers.linux_driver import LinuxDriver
from textual.geometry import Region, Size
from textual.message import Message
from textual.pilot import Pilot
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Label, TabbedContent, TabPane, Tabs, TextArea

from motia_tui import textual_hooks
from motia_tui.textual_hooks import (
    EscapeFirstParser,
    FrameMarkingApp,
    HighlightHookTextArea,
    HookedLinuxDriver,
)
from motia_tui.writer import TerminalPorts, WorkbenchDriver


def parse(parser: XTermParser, data: str) -> list[tuple[str, str | None]]:
    """Keys the parser reads from `data`, with ESCDELAY passed after it."""
    keys = list(parser.feed(data))
    time.sleep(0.15)
    keys += list(parser.tick())
    return [(k.key, k.character) for k in keys if isinstance(k, events.Key)]


def test_esc_then_a_printable_key_is_two_keys() -> None:
    assert parse(XTermParser(), "\x1b2") != [("escape", "\x1b"), ("2", "2")], (
        "Textual reads ESC 2 as Esc then 2 by itself now: EscapeFirstParser can go"
    )
    assert parse(EscapeFirstParser(), "\x1b2") == [("escape", "\x1b"), ("2", "2")]
    assert parse(EscapeFirstParser(), "\x1bj") == [("escape", "\x1b"), ("j", "j")]
    assert parse(EscapeFirstParser(), "\x1b.") == [("escape", "\x1b"), ("full_stop", ".")]
    assert parse(EscapeFirstParser(), "\x1b[") == [
        ("escape", "\x1b"),
        ("left_square_bracket", "["),
    ]
    assert parse(EscapeFirstParser(), "\x1b") == [("escape", "\x1b")]
    assert parse(EscapeFirstParser(), "\x1b[A\x1bOP") == [("up", None), ("f1", None)]
    assert parse(EscapeFirstParser(), "\x1b\x1b") == [("escape", "\x1b"), ("escape", "\x1b")]


def test_the_linux_driver_builds_its_parser_from_its_module() -> None:
    assert linux_driver.XTermParser in (XTermParser, EscapeFirstParser)
    assert "XTermParser" in LinuxDriver.run_input_thread.__code__.co_names
    textual_hooks.use_escape_first_parser()
    assert linux_driver.XTermParser is EscapeFirstParser


def test_the_driver_asks_the_terminal_for_its_size() -> None:
    assert inspect.signature(LinuxDriver._get_terminal_size).parameters.keys() == {"self"}
    assert "_get_terminal_size" in inspect.getsource(LinuxDriver.start_application_mode)
    assert HookedLinuxDriver._get_terminal_size is not LinuxDriver._get_terminal_size
    assert issubclass(WorkbenchDriver, HookedLinuxDriver)


async def test_the_driver_asks_the_terminal_it_draws_on() -> None:
    """A demo draws on a pseudo-terminal of its own: the size is that terminal's."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 27, 93, 0, 0))
        app = App[None]()
        app.terminal = TerminalPorts(slave, slave)  # type: ignore[attr-defined]
        driver = WorkbenchDriver(app)
        try:
            assert driver._get_terminal_size() == (93, 27)
            assert driver.fileno == slave
        finally:
            driver.writer.stop()
    finally:
        os.close(slave)
        os.close(master)


class Greeting(App[None]):
    def compose(self) -> ComposeResult:
        yield Label("hello from the compositor")


async def test_the_screen_reads_as_text() -> None:
    app = Greeting()
    async with app.run_test(size=(40, 5)) as pilot:
        await pilot.pause()
        lines = textual_hooks.screen_text(app).split("\n")
    assert lines[0].startswith("hello from the compositor")
    assert len(lines[0]) == 40


async def test_the_workbench_driver_keeps_the_loop_textual_posts_input_on() -> None:
    """`Driver.send_message` posts keys on `Driver._loop`: a subclass must not shadow it."""
    assert "_loop" in Driver.send_message.__code__.co_names
    driver = WorkbenchDriver(App())
    try:
        assert driver._loop is asyncio.get_running_loop()
    finally:
        driver.writer.stop()


async def test_a_screen_shows_notifications_in_its_toast_racks() -> None:
    app = Greeting()
    async with app.run_test(size=(40, 5), notifications=True) as pilot:
        app.notify("hello")
        await pilot.pause()
        racks = textual_hooks.toast_racks(app.screen)
        assert len(racks) == 1
        assert "hello" in textual_hooks.screen_text(app)
        assert racks[0].query("Toast")


class Counted(FrameMarkingApp[None]):
    frames = 0

    def frame(self) -> Any:
        Counted.frames += 1
        return super().frame()


async def test_screen_updates_go_through_app_display() -> None:
    assert "_display" in App.__dict__
    Counted.frames = 0
    app = Counted()
    async with app.run_test() as pilot:
        await pilot.pause()
    assert Counted.frames > 0


class Lines(ScrollView):
    pass


class ScrollApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Lines()


async def test_scrollbars_follow_a_virtual_size_without_a_layout() -> None:
    app = ScrollApp()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(Lines)
        view.styles.overflow_y = "scroll"
        await pilot.pause()
        view.set_reactive(ScrollView.virtual_size, Size(40, 500))
        textual_hooks.update_scrollbars(view, Size(40, 500))
        assert view.vertical_scrollbar.window_virtual_size == 500
        assert view.max_scroll_y > 0


class Coloured(HighlightHookTextArea):
    def highlights(self) -> dict[int, list[Any]]:
        return {0: [(0, 3, "keyword")]}


class EditorApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Coloured("def x")


async def test_text_area_takes_its_highlights_from_the_hook() -> None:
    assert "_build_highlight_map" in TextArea.__dict__
    app = EditorApp()
    async with app.run_test() as pilot:
        editor = app.query_one(Coloured)
        editor.load_text("def y")
        await pilot.pause()
        assert editor._highlights[0] == [(0, 3, "keyword")]


class Stopper(Widget, can_focus=True):
    def on_key(self, event: events.Key) -> None:
        if event.key == "s":
            event.stop()


class KeyApp(App[None]):
    handled: ClassVar[list[tuple[str, str, bool | None]]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield Stopper(id="stopper")

    def on_mount(self) -> None:
        for node in (self.query_one("#stopper"), self.query_one("#box"), self.screen):
            node.message_signal.subscribe(self, self._recorder(node), immediate=True)
        self.query_one("#stopper").focus()

    def _recorder(self, node: Any) -> Any:
        def record(message: Message) -> None:
            if isinstance(message, events.Key):
                KeyApp.handled.append(
                    (str(node.id), message.key, textual_hooks.bubbles_on(node, message))
                )

        return record


async def test_a_key_bubbles_to_the_parent_unless_stopped() -> None:
    KeyApp.handled = []
    app = KeyApp()
    async with app.run_test() as pilot:
        await pilot.press("x")
        await pilot.press("s")
        assert textual_hooks.parent_of(app.screen) is app
    assert KeyApp.handled == [
        ("stopper", "x", True),
        ("box", "x", True),
        ("_default", "x", None),
        ("stopper", "s", False),
    ]


def test_keys_are_named_as_bindings_name_them() -> None:
    assert textual_hooks.key_name("?") == "question_mark"
    assert textual_hooks.key_name("]") == "right_square_bracket"
    assert textual_hooks.key_name("j") == "j"
    assert textual_hooks.key_name("ctrl+l") == "ctrl+l"
    assert next(iter(Binding.make_bindings([("?", "help", "Help")]))).key == "question_mark"


def test_a_thumb_decides_what_a_scrollbar_draws() -> None:
    """Numbers with the same `thumb` draw the same bar, and a different `thumb` draws a
    different one: `ThumbScrollBar` may skip the repaint exactly when its thumb stays."""
    rng = random.Random(20)
    drawn: dict[tuple[int, int, int], list[Segment]] = {}
    for _case in range(3000):
        size = rng.choice([10, 34])
        virtual = rng.choice([size + 1, 100, 10_000, 10_001, 1_000_000])
        window = min(size, virtual - 1)
        position = rng.randrange(0, (virtual - window) * 8 + 1) / 8
        key = textual_hooks.thumb(size, virtual, window, position)
        bar = list(ScrollBarRender.render_bar(size, virtual, window, position).segments)
        assert drawn.setdefault(key, bar) == bar, key
    bars = list(drawn.values())
    assert len(bars) > 100
    assert len({tuple(map(repr, bar)) for bar in bars}) == len(bars)


class ThumbLines(textual_hooks.ThumbScrollView):
    pass


class ThumbApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ThumbLines()

async def thumb_laid_out(pilot: Pilot[Any], view: ScrollView) -> ScrollBar:
    """`view`'s vertical scrollbar, scrolling over 10,000 lines, once its thumb is laid out."""
    view.styles.overflow_y = "scroll"
    view.set_reactive(ScrollView.virtual_size, Size(40, 10_000))
    await pilot.pause()
    bar = view.vertical_scrollbar
    for _ in range(100):
        textual_hooks.update_scrollbars(view, Size(40, 10_000))
        await pilot.pause()
        if bar.display and 0 < bar._length == bar.size.height:
            break
    return bar


async def test_a_thumb_scroll_view_repaints_its_bar_when_the_thumb_moves() -> None:
    app = ThumbApp()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(ThumbLines)
        bar = await thumb_laid_out(pilot, view)
        assert isinstance(bar, textual_hooks.ThumbScrollBar)
        painted = bar._repaint_required
        textual_hooks.update_scrollbars(view, Size(40, 10_001))
        assert bar.window_virtual_size == 10_001 and bar._repaint_required == painted
        bar.position = 9_000
        assert bar._repaint_required


async def test_a_thumb_scroll_bar_redraws_only_the_cells_a_move_changes() -> None:
    """After any run of moves, what the bar shows (each cell's look and which way a click
    on it scrolls) is what a bar drawn afresh shows."""
    app = ThumbApp()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(ThumbLines)
        bar = await thumb_laid_out(pilot, view)
        assert isinstance(bar, textual_hooks.ThumbScrollBar)
        region = Region(0, 0, bar.size.width, bar.size.height)
        moves = random.Random(7)
        for _ in range(60):
            if moves.random() < 0.3:
                textual_hooks.update_scrollbars(view, Size(40, moves.randint(11, 400)))
            bar.position = moves.uniform(0, max(0, bar.window_virtual_size - bar.window_size))
            shown = bar.render_lines(region)
            bar._styles_cache.clear()
            bar._dirty_regions.add(region)
            assert bar.render_lines(region) == shown
        textual_hooks.update_scrollbars(view, Size(40, 100))
        bar.position = 0
        bar.render_lines(region)
        bar.position = 10
        assert 0 < len(bar._styles_cache._dirty_lines) < bar.size.height


class Plain(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"plain--part"}


class Ringed(Widget):
    DEFAULT_CSS = "Ringed:focus { background: red; }"


class PartRinged(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"part-ringed--part"}
    DEFAULT_CSS = "PartRinged:focus > .part-ringed--part { color: red; }"


class FocusStyledApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Plain()
        yield Ringed()
        yield PartRinged()


async def test_styled_by_focus_finds_the_rules_that_select_focus() -> None:
    """Found on the widget and on its component classes, as `Stylesheet.apply` finds them."""
    async with FocusStyledApp().run_test() as pilot:
        app = pilot.app
        assert not textual_hooks.styled_by_focus(app.query_one(Plain))
        assert textual_hooks.styled_by_focus(app.query_one(Ringed))
        assert textual_hooks.styled_by_focus(app.query_one(PartRinged))


async def test_a_layout_leaves_a_thumb_scroll_views_bar_alone_when_the_thumb_stays() -> None:
    """`ScrollView._size_updated` updates the bars through `_scroll_update` whenever the
    virtual size changed since the last layout (a list that grew while hidden)."""
    assert "_scroll_update" in ScrollView._size_updated.__code__.co_names
    app = ThumbApp()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(ThumbLines)
        bar = await thumb_laid_out(pilot, view)
        painted = bar._repaint_required
        view.set_reactive(ScrollView.virtual_size, Size(40, 10_001))
        view._size_updated(view.size, Size(40, 10_000), view.container_size)
        assert bar.window_virtual_size == 10_001 and bar._repaint_required == painted
        view.set_reactive(ScrollView.virtual_size, Size(40, 20))
        view._size_updated(view.size, Size(40, 10_001), view.container_size)
        assert bar._repaint_required, "a thumb that moved is drawn again"


class Switched(App[None]):
    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            with TabPane("A", id="a"):
                yield Label("a", id="label-a")
            with TabPane("B", id="b"):
                yield Label("b", id="label-b")


async def test_containers_keep_their_painted_background_when_the_tab_or_focus_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The screen, a tabbed content and its switcher are not drawn again when the focus or
    the shown tab changes: the strips their styles cache holds are the same ones. Textual's
    own compositor draws them (a workbench made earlier in this process installed the one
    that skips what is covered, and that one never draws these containers at all)."""
    monkeypatch.setattr(Compositor, "_render_chops", textual_hooks.TEXTUAL_RENDER_CHOPS)
    for owner, name in textual_hooks.BACKGROUND_REACTIVES:
        assert isinstance(owner.__dict__[name], Reactive), (owner, name)
    textual_hooks.keep_containers_painted()
    async with Switched().run_test(size=(40, 10)) as pilot:
        app = pilot.app
        containers = [app.screen, app.query_one(TabbedContent), app.query_one(ContentSwitcher)]
        await pilot.pause()
        held = [dict(container._styles_cache._cache) for container in containers]
        assert all(held)
        app.query_one(TabbedContent).active = "b"
        app.set_focus(app.query_one(Tabs))
        await pilot.pause()
        assert app.query_one("#label-b").region, "the other tab is shown"
        for container, before in zip(containers, held, strict=True):
            after = container._styles_cache._cache
            assert all(after.get(y) is strip for y, strip in before.items()), container


class Underneath(Vertical):
    """A container its child covers whole, counting how often it is rendered."""

    renders = 0

    def render_lines(self, crop: Region) -> list[Strip]:
        Underneath.renders += 1
        return super().render_lines(crop)


class Covered(App[None]):
    CSS = "#float { layer: above; offset: 5 2; width: 12; height: 3; background: red; }"

    def compose(self) -> ComposeResult:
        with Underneath():
            yield Label("covered " * 20, id="long")
            yield ThumbLines()
        yield Label("floating", id="float")


def drawn(chops: Any) -> list[list[tuple[str, Any]]]:
    return [[(s.text, s.style) for s in Strip.join(list(c.values()))] for c in chops]


async def test_the_compositor_draws_the_same_without_what_lies_under_other_widgets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with Covered().run_test(size=(40, 10)) as pilot:
        app = pilot.app
        app.screen.styles.layers = ("default", "above")
        app.query_one(ThumbLines).styles.overflow_y = "scroll"
        app.query_one(ThumbLines).set_reactive(ScrollView.virtual_size, Size(40, 500))
        await pilot.pause()
        compositor = app.screen._compositor
        screen = compositor.size.region
        cases = [(screen, lambda y: True), (Region(0, 2, 40, 3), {2, 4}.__contains__),
                 (Region(3, 0, 10, 10), lambda y: y % 2 == 0)]
        for crop, lines in cases:
            Underneath.renders = 0
            textual = drawn(textual_hooks.TEXTUAL_RENDER_CHOPS(compositor, crop, lines))
            assert Underneath.renders, "Textual renders a container its children cover"
            Underneath.renders = 0
            assert drawn(textual_hooks.render_chops_of_what_shows(compositor, crop, lines)) == (
                textual
            ), crop
            assert not Underneath.renders
        monkeypatch.setattr(Compositor, "_render_chops", Compositor._render_chops)
        textual_hooks.draw_only_what_shows()
        assert Compositor._render_chops is textual_hooks.render_chops_of_what_shows


def test_a_strip_drawn_whole_is_its_own_piece_and_freed_without_the_collector() -> None:
    def pieces(cuts: list[int]) -> list[str]:
        strip = Strip([Segment("records"), Segment(" following")])
        return [piece.text for piece in textual_hooks.pieces_of(strip, cuts)]

    assert pieces([17]) == ["records following"] and pieces([17, 20]) == ["records following"]
    assert pieces([7, 17]) == ["records", " following"]
    gc.collect()
    gc.disable()
    try:
        for cuts in ([17], [17, 20], [7, 17]):
            strip = Strip([Segment("records"), Segment(" following")])
            assert len(textual_hooks.pieces_of(strip, cuts)) == len(strip.divide(cuts))
            del strip
        assert gc.collect() > 0  # Textual's own divide of the whole line cached it in itself
        for cuts in ([17], [17, 20], [7, 17]):
            textual_hooks.pieces_of(Strip([Segment("records"), Segment(" following")]), cuts)
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_cleared_strip_cache_frees_its_strips_without_the_collector() -> None:
    def fill(cache: Any) -> None:
        for index in range(200):
            cache[index] = Strip([Segment(f"record {index}"), Segment(" following")])
        assert cache.get(199).text == "record 199 following" and cache.get(0) is None

    gc.collect()
    gc.disable()
    try:
        textual_cache: LRUCache[int, Strip] = LRUCache(128)
        fill(textual_cache)
        textual_cache.clear()
        assert gc.collect() > 128  # Textual's own clear leaves its ring of entries a cycle
        cache: textual_hooks.StripCache[int, Strip] = textual_hooks.StripCache(128)
        fill(cache)
        cache.clear()
        assert len(cache) == 0 and cache.get(199) is None
        assert gc.collect() == 0
        fill(cache)  # still a working cache after a clear
        assert len(cache) == 128
    finally:
        gc.enable()


class EagerApp(FrameMarkingApp[None]):
    frames = 0

    def get_default_screen(self) -> textual_hooks.EagerScreen:
        return textual_hooks.EagerScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Label("first", id="eager-label")

    def frame(self) -> Any:
        EagerApp.frames += 1
        return super().frame()


async def test_an_eager_screen_draws_at_idle_without_its_update_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = EagerApp()
    async with app.run_test(size=(40, 5)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, textual_hooks.EagerScreen)
        monkeypatch.setattr(screen._update_timer, "resume", lambda: None)
        label = app.query_one("#eager-label", Label)
        before = EagerApp.frames
        label.update("second")
        await asyncio.sleep(0.3)
        assert EagerApp.frames == before, "an update waits for the timer, which never runs"
        label.update("third")
        screen.draw_when_idle()
        for _ in range(100):
            if EagerApp.frames > before:
                break
            await asyncio.sleep(0.01)
        assert EagerApp.frames == before + 1
        label.update("fourth")
        await asyncio.sleep(0.3)
        assert EagerApp.frames == before + 1, "asked once, drawn once"
