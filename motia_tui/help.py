"""Keys on screen: the `?` help, the key bar, and the list the command palette reads.

Bindings are collected from the classes of the widgets actually mounted, so a key a pane
adds shows up here without anyone keeping a second list in sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.style import Style as VisualStyle
from textual.widget import Widget
from textual.widgets import Static

OWN_PACKAGE = "motia_tui"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One action, every key that runs it, and the node it runs on."""

    section: str
    keys: tuple[str, ...]
    action: str
    description: str
    node: DOMNode


def own_bindings(node: DOMNode) -> Iterator[Binding]:
    """Bindings the node's own classes declare; Textual's built-in ones stay in the footer."""
    for cls in type(node).__mro__:
        if cls.__module__.startswith(OWN_PACKAGE):
            yield from Binding.make_bindings(cls.__dict__.get("BINDINGS", []))


def collect(section: str, nodes: Iterable[DOMNode]) -> Iterator[KeyEntry]:
    """Every described action of these nodes, keys grouped, a subclass's key winning."""
    for node in nodes:
        by_action: dict[str, list[Binding]] = {}
        taken: set[str] = set()
        for binding in own_bindings(node):
            if binding.key in taken or not binding.description:
                continue
            taken.add(binding.key)
            by_action.setdefault(binding.action, []).append(binding)
        for action, bindings in by_action.items():
            yield KeyEntry(
                section,
                tuple(b.key for b in bindings),
                action,
                bindings[0].description,
                node,
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
            parts.append(f"  {keys:<14} {entry.description}\n")
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys  (esc closes)"
            yield Static(Content.assemble(*parts), id="help-text")


class KeyBar(Widget):
    """The footer: the keys that work where the focus is, drawn as one line of text.

    Textual's `Footer` mounts a widget per key and rebuilds them on every focus change,
    which made switching tabs cost tens of milliseconds; this draws the same line directly.
    A click on a key presses it.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--description"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, str]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self.refresh()

    def render(self) -> Content:
        key_style = self.get_visual_style("keybar--key", partial=True)
        text_style = self.get_visual_style("keybar--description", partial=True)
        parts: list[tuple[str, VisualStyle]] = []
        spans: list[tuple[int, int, str]] = []
        seen: set[str] = set()
        offset = 0
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or not enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            key = f" {self.app.get_key_display(binding)} "
            label = f"{binding.description} "
            parts += [(key, key_style), (label, text_style)]
            spans.append((offset, offset + len(key) + len(label), binding.key))
            offset += len(key) + len(label)
        self._spans = spans
        return Content.assemble(*parts)

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
