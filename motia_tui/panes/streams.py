"""The Streams pane: stream names, their groups and items, live.

A group's items are fetched when the group is first opened; after that `stream.change`
events keep them current without asking the source again. Custom events (`send`) are not
stored by the engine, so the pane keeps the most recent ones for the stream they belong to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from engine import events as ev
from engine.events import StreamChangeData, WireEvent
from motia_tui.source import EngineSource
from motia_tui.widgets.highlight import HighlightedTextArea
from motia_tui.widgets.json_editor import pretty
from motia_tui.widgets.lazy_tree import LazyTree, preview

RECENT_EVENTS = 50
NO_STREAMS = """\
No streams yet. A stream is declared in a file named *_stream.py (or *.stream.py)
under steps/ or src/, for example steps/todos_stream.py:

config = {
    "name": "todos",
    "schema": {"type": "object", "properties": {"text": {"type": "string"}}},
    "baseConfig": {"storageType": "default"},
}

Steps then write to it with
    await context.streams.todos.set(group_id, item_id, {"text": "..."})
and clients follow it over the WebSocket on the server's port."""


@dataclass(frozen=True)
class StreamRef:
    stream: str
    group: str | None = None
    item: str | None = None


class StreamsPane(Horizontal):
    """A tree of streams, groups and items beside the JSON of what is selected."""

    class _Loaded(Message):
        def __init__(self, streams: list[dict[str, Any]]) -> None:
            super().__init__()
            self.streams = streams

    class _GroupRead(Message):
        def __init__(self, stream: str, group: str, items: list[Any], error: str | None) -> None:
            super().__init__()
            self.stream = stream
            self.group = group
            self.items = items
            self.error = error

    def __init__(self, source: EngineSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.definitions: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, list[str]] = {}
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: dict[str, deque[Mapping[str, Any]]] = {}
        self.stream_tree: LazyTree[StreamRef] = LazyTree("streams", self._fill, id="streams-tree")

    def compose(self) -> ComposeResult:
        yield self.stream_tree
        yield Static(NO_STREAMS, markup=False, id="streams-empty")
        with Vertical(id="streams-detail"):
            yield HighlightedTextArea(read_only=True, highlight_language="json", id="streams-json")
            yield Static("", markup=False, id="streams-events")

    def on_mount(self) -> None:
        self.stream_tree.show_root = False
        self.stream_tree.open(self.stream_tree.root)
        self._show_empty()

    # -- the pane contract ------------------------------------------------------------

    async def reload(self) -> None:
        self.post_message(self._Loaded(await self.source.streams()))

    def apply_events(self, events: list[WireEvent]) -> None:
        touched: set[tuple[str, str]] = set()
        for event in events:
            if event["type"] == ev.STEP_LOADED or event["type"] == ev.STEP_REMOVED:
                if "stream" in event["data"]:
                    self._load()
            elif event["type"] == ev.STREAM_CHANGE:
                self._apply_change(event["data"], touched)
        if touched:
            self._sync(touched)

    def _apply_change(self, change: StreamChangeData, touched: set[tuple[str, str]]) -> None:
        stream, group = str(change.get("stream")), str(change.get("groupId"))
        kind, item_id = change.get("type"), change.get("id")
        if kind == "event":
            recent = self.events.setdefault(stream, deque(maxlen=RECENT_EVENTS))
            recent.appendleft(change)
            touched.add((stream, group))
            return
        groups = self.groups.setdefault(stream, [])
        items = self.items.get((stream, group))
        if kind in ("create", "update") and item_id is not None:
            if group not in groups:
                groups.append(group)
                groups.sort()
            if items is not None:
                items[str(item_id)] = change.get("data")
        elif kind == "delete" and item_id is not None and items is not None:
            items.pop(str(item_id), None)
            if not items:
                self.items.pop((stream, group), None)
                if group in groups:
                    groups.remove(group)
        touched.add((stream, group))

    @work(exclusive=True, group="streams-load")
    async def _load(self) -> None:
        await self.reload()

    @on(_Loaded)
    def _loaded(self, message: _Loaded) -> None:
        self.definitions = {str(s["name"]): s for s in message.streams}
        self.groups = {name: sorted(s.get("groups") or []) for name, s in self.definitions.items()}
        self.items = {}
        self.stream_tree.refill(self.stream_tree.root)
        self.stream_tree.settle_cursor()
        self._show_empty()
        self._show_selected()

    # -- building the tree --------------------------------------------------------------

    def _fill(self, node: TreeNode[StreamRef]) -> None:
        ref = node.data
        if ref is None:
            for name in self.definitions:
                node.add(self._stream_label(name), StreamRef(name))
        elif ref.group is None:
            for group in self.groups.get(ref.stream, []):
                node.add(self._group_label(ref.stream, group), StreamRef(ref.stream, group))
        elif ref.item is None:
            items = self.items.get((ref.stream, ref.group))
            if items is None:
                self._read_group(ref.stream, ref.group)
                return
            for item_id, item in items.items():
                node.add_leaf(_item_label(item_id, item), StreamRef(ref.stream, ref.group, item_id))

    def _stream_label(self, name: str) -> Text:
        count = len(self.groups.get(name, []))
        return Text.assemble((name, "bold"), (f"  {count} group{'s' if count != 1 else ''}", "dim"))

    def _group_label(self, stream: str, group: str) -> Text:
        items = self.items.get((stream, group))
        size = "" if items is None else f"  {len(items)} item{'s' if len(items) != 1 else ''}"
        return Text.assemble(group, (size, "dim"))

    @work(group="streams-group")
    async def _read_group(self, stream: str, group: str) -> None:
        try:
            items = await self.source.stream_group(stream, group)
        except Exception as exc:
            self.post_message(self._GroupRead(stream, group, [], str(exc) or repr(exc)))
        else:
            self.post_message(self._GroupRead(stream, group, items, None))

    @on(_GroupRead)
    def _group_read(self, message: _GroupRead) -> None:
        if message.error is not None:
            self.notify(f"{message.stream}/{message.group}: {message.error}", severity="error")
            return
        self.items[(message.stream, message.group)] = {
            str(item.get("id")): item for item in message.items if isinstance(item, dict)
        }
        self._sync({(message.stream, message.group)})

    def _find(self, ref: StreamRef) -> TreeNode[StreamRef] | None:
        parent = self.stream_tree.root
        if ref.group is not None:
            parent = self._find(StreamRef(ref.stream)) or parent
            if parent is self.stream_tree.root:
                return None
        return next((n for n in parent.children if n.data == ref), None)

    def _sync(self, touched: set[tuple[str, str]]) -> None:
        """Relabel touched streams and groups; rebuild the item lists that are open."""
        tree = self.stream_tree
        for stream in {s for s, _ in touched}:
            node = self._find(StreamRef(stream))
            if node is None:
                continue
            node.set_label(self._stream_label(stream))
            tree.refill(node)
        for stream, group in touched:
            node = self._find(StreamRef(stream, group))
            if node is not None:
                node.set_label(self._group_label(stream, group))
        self._show_selected()

    def _show_empty(self) -> None:
        empty = not self.definitions
        self.query_one("#streams-empty").display = empty
        self.query_one("#streams-detail").display = not empty

    # -- the detail view ------------------------------------------------------------------

    @on(Tree.NodeHighlighted, "#streams-tree")
    def _highlighted(self) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        node = self.stream_tree.cursor_node
        ref = node.data if node is not None else None
        text, events = "", ""
        if ref is not None:
            if ref.item is not None:
                text = pretty(self.items.get((ref.stream, ref.group or ""), {}).get(ref.item))
            elif ref.group is not None:
                items = self.items.get((ref.stream, ref.group))
                text = pretty(list(items.values())) if items is not None else ""
            else:
                definition = self.definitions.get(ref.stream) or {}
                text = pretty({**definition, "groups": self.groups.get(ref.stream, [])})
            events = "\n".join(
                f"{e.get('groupId')}: {preview((e.get('data') or {}), 50)}"
                for e in self.events.get(ref.stream, [])
                if ref.group is None or e.get("groupId") == ref.group
            )
        view = self.query_one("#streams-json", HighlightedTextArea)
        if view.text != text:
            view.load_text(text)
        self.query_one("#streams-events", Static).update(
            f"recent custom events\n{events}" if events else ""
        )


def _item_label(item_id: str, item: Any) -> Text:
    body = {k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item
    return Text.assemble((item_id, "bold"), "  ", (preview(body, 50), "dim"))
