"""Keys on screen: the `?` help, the key bar, and the list the command palette reads.

Bindings are collected from the classes of the widgets actually mounted, so a key a pane
adds shows up here without anyone keeping a second list in sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

OWN_PACKAGE = "motia_tui"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One action, every key that runs it, and the node it runs on."""

    section: str
    keys: tuple[str, ...]
    action: str
    description: str
    node: DOMNode
    ids: tuple[str, ...] = ()
    """The binding ids a `[keys]` table remaps this action by."""


def own_bindings(node: DOMNode) -> Iterator[Binding]:
    """Bindings the node's own classes declare; Textual's built-in ones stay in the footer."""
    for cls in type(node).__mro__:
        if cls.__module__.startswith(OWN_PACKAGE):
            yield from Binding.make_bindings(cls.__dict__.get("BINDINGS", []))


def collect(
    section: str, nodes: Iterable[DOMNode], keymap: Mapping[str, str] | None = None
) -> Iterator[KeyEntry]:
    """Every described action of these nodes, keys grouped, a subclass's key winning, and
    a binding remapped by `keymap` (binding id to keys) listed with its new keys."""
    keymap = keymap or {}
    for node in nodes:
        by_action: dict[str, list[Binding]] = {}
        taken: set[str] = set()
        for binding in own_bindings(node):
            if binding.key in taken or not binding.description:
                continue
            taken.add(binding.key)
            by_action.setdefault(binding.action, []).append(binding)
        for action, bindings in by_action.items():
            keys: dict[str, None] = {}
            for binding in bindings:
                remapped = keymap.get(binding.id or "")
                keys.update(dict.fromkeys(remapped.split(",") if remapped else [binding.key]))
            yield KeyEntry(
                section,
                tuple(keys),
                action,
                bindings[0].description,
                node,
                tuple(dict.fromkeys(b.id for b in bindings if b.id)),
            )


class HelpScreen(ModalScreen[None]):
    """Every key, grouped by where it works."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help-close"),
    ]

    def __init__(self, entries: list[KeyEntry]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        parts: list[str | tuple[str, str]] = []
        section = None
        for entry in self.entries:
            if entry.section != section:
                section = entry.section
                parts.append((("\n" if parts else "") + f"{section}\n", "bold"))
            keys = ", ".join(self.app.get_key_display(Binding(k, entry.action)) for k in entry.keys)
            parts.append(f"  {keys:<14} {entry.description:<24} ")
            parts.append((f"{' '.join(entry.ids)}\n", "dim"))
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys in effect, with their ids for motia.toml [keys]  (esc closes)"
            yield Static(Content.assemble(*parts), id="help-text")


class FooterKey(NamedTuple):
    """One key of the footer."""

    display: str
    label: str
    key: str | None
    """What a click presses (None: a hint, not a key)."""
    rank: int
    """Which go first when the line is too long: `SPARE` ones, then `LOCAL` ones from the
    end; `KEPT` stays (the help key, so every other key can still be found)."""

    @property
    def text(self) -> str:
        return f" {self.display} {self.label} "


LOCAL, SPARE, KEPT = 0, 1, 2


def fit_keys(keys: list[FooterKey], width: int) -> list[FooterKey]:
    """The keys that fit in `width` columns, whole: the workbench's own keys (errors,
    quit) go first, then the focused widget's from the end; never half a key."""
    kept = list(keys)

    def size() -> int:
        return sum(len(k.text) for k in kept)

    for rank in (SPARE, LOCAL):
        while size() > width:
            last = next((i for i in reversed(range(len(kept))) if kept[i].rank == rank), None)
            if last is None:
                break
            del kept[last]
    if size() > width:
        kept = [k for k in kept if k.rank == KEPT and len(k.text) <= width][:1]
    return kept


def types_text(widget: Widget | None) -> bool:
    if isinstance(widget, Input):
        return True
    return isinstance(widget, TextArea) and not widget.read_only


class KeyBar(Widget):
    """The footer: the keys that work where the focus is, drawn as one line of text.

    Textual's `Footer` mounts a widget per key and rebuilds them on every focus change,
    which made switching tabs cost tens of milliseconds; this draws the same line directly.
    It fits the width by leaving keys out (see `fit_keys`), never by cutting one. In a text
    input it first says how to leave it and how to switch panes, since the pane keys type
    there. A click on a key presses it.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--description"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, str]] = []
        self._drawn: Strip | None = None
        self._drawn_key: tuple[object, ...] = ()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self.refresh()

    def footer_keys(self) -> list[FooterKey]:
        """Every key the footer would show, before fitting."""
        found: list[FooterKey] = []
        seen: set[str] = set()
        app = self.app
        for node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or not enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            rank = LOCAL
            if node is app:
                rank = KEPT if binding.action == "help" else SPARE
            found.append(
                FooterKey(app.get_key_display(binding), binding.description, binding.key, rank)
            )
        if types_text(app.focused):
            panes = [k for k in app.BINDINGS if isinstance(k, Binding) and k.action.startswith(
                "show_tab(") and app.check_action(*parse_action(k.action)[1:])]
            hints = [FooterKey("esc", "Leave", "escape", LOCAL)]
            if panes:
                hints.append(FooterKey(f"F1-F{len(panes)}", "Panes", None, LOCAL))
            found = hints + [k for k in found if k.key != "escape"]
        return found

    def _line(self) -> tuple[tuple[tuple[str, str], ...], list[tuple[int, int, str]]]:
        """The bar's text in parts (each a key or its label) and the columns of each key a
        click presses."""
        parts: list[tuple[str, str]] = []
        spans: list[tuple[int, int, str]] = []
        offset = 0
        for key in fit_keys(self.footer_keys(), self.size.width):
            shown_key, label = f" {key.display} ", f"{key.label} "
            parts += [(shown_key, "keybar--key"), (label, "keybar--description")]
            if key.key is not None:
                spans.append((offset, offset + len(shown_key) + len(label), key.key))
            offset += len(shown_key) + len(label)
        return tuple(parts), spans

    def text(self) -> str:
        """What the bar shows, as plain text."""
        return "".join(text for text, _name in self._line()[0])

    def render_line(self, y: int) -> Strip:
        """Drawn from the parts directly, and kept while they stay the same: through
        `Content` the line was wrapped and styled again on every focus change, a
        millisecond of each pane switch."""
        width = self.size.width
        parts, self._spans = self._line()
        key = (parts, width)
        if key != self._drawn_key or self._drawn is None:
            base = self.rich_style
            segments = [Segment(text, base + self.get_component_rich_style(name, partial=True))
                        for text, name in parts]
            self._drawn = Strip(segments).crop_extend(0, width, Style(bgcolor=base.bgcolor))
            self._drawn_key = key
        return self._drawn

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn = None

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
