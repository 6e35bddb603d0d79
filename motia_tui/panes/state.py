"""The State pane: the key-value store as a live tree, edited through the engine.

Groups, keys and the insides of values are built only when opened, so a group of ten
thousand keys costs one line until someone looks inside it. `state.change` events update
the model and touch only the nodes they name. Edits, additions and deletions go through
`source.set_state` / `delete_state`, so the engine records them as manual spans in its
traces, and the tree changes when the engine says so, not before.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.widgets.tree import TreeNode

from engine import events as ev
from engine.events import WireEvent
from motia_tui.source import EngineSource
from motia_tui.widgets.confirm import ConfirmScreen
from motia_tui.widgets.lazy_tree import LazyTree, entries, is_branch, preview
from motia_tui.widgets.value_editor import ValueEdit, ValueEditorScreen

EMPTY = (
    "No state yet. Steps write it with `await context.state.set(group, key, value)`; "
    "press `a` to add a key by hand."
)


@dataclass(frozen=True)
class StateRef:
    """What a tree node shows: a group, a key in it, or a path inside the key's value."""

    group: str
    key: str | None = None
    path: tuple[str | int, ...] = ()


def value_at(groups: dict[str, dict[str, Any]], ref: StateRef) -> Any:
    value: Any = groups.get(ref.group, {}).get(ref.key or "")
    for step in ref.path:
        value = value[step]
    return value


def _group_label(group: str, size: int) -> Text:
    return Text.assemble((group, "bold"), (f"  {size} key{'s' if size != 1 else ''}", "dim"))


def _entry_label(name: str | int, value: Any) -> Text:
    return Text.assemble(
        (str(name), "bold"), ": ", (preview(value), "dim" if is_branch(value) else "")
    )


class StatePane(Vertical):
    """Browse, edit, add and delete state; every change is made by the engine."""

    BINDINGS = [
        Binding("e", "edit", "Edit value", id="state-edit"),
        Binding("a", "add", "Add key", id="state-add"),
        Binding("d,delete", "delete", "Delete", id="state-delete"),
    ]

    class _Loaded(Message):
        def __init__(self, groups: dict[str, dict[str, Any]]) -> None:
            super().__init__()
            self.groups = groups

    class _Done(Message):
        def __init__(self, what: str, error: str | None) -> None:
            super().__init__()
            self.what = what
            self.error = error

    def __init__(self, source: EngineSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.groups: dict[str, dict[str, Any]] = {}
        self._key_nodes: dict[tuple[str, str], TreeNode[StateRef]] = {}
        self._order: dict[str, list[str]] = {}
        self.state_tree: LazyTree[StateRef] = LazyTree("state", self._fill, id="state-tree")

    def compose(self) -> ComposeResult:
        yield Static(EMPTY, markup=False, id="state-empty")
        yield self.state_tree

    def on_mount(self) -> None:
        self.state_tree.show_root = False
        self.state_tree.open(self.state_tree.root)

    # -- the pane contract ------------------------------------------------------------

    async def reload(self) -> None:
        self.post_message(self._Loaded(await self.source.state()))

    def apply_events(self, events: list[WireEvent]) -> None:
        touched: dict[str, set[str | None]] = {}
        for event in events:
            if event["type"] != ev.STATE_CHANGE:
                continue
            change = event["data"]
            group, key, op = str(change.get("group")), change.get("key"), change.get("op")
            if op == "set" and key is not None:
                self.groups.setdefault(group, {})[str(key)] = change.get("value")
                touched.setdefault(group, set()).add(str(key))
            elif op == "delete" and key is not None:
                items = self.groups.get(group, {})
                items.pop(str(key), None)
                if not items:
                    self.groups.pop(group, None)
                touched.setdefault(group, set()).add(str(key))
            elif op == "clear":
                self.groups.pop(group, None)
                touched.setdefault(group, set()).add(None)
        if touched:
            self._sync(touched)

    @work(exclusive=True, group="state-load")
    async def _load(self) -> None:
        await self.reload()

    @on(_Loaded)
    def _loaded(self, message: _Loaded) -> None:
        self.groups = {group: dict(items) for group, items in message.groups.items()}
        self._key_nodes.clear()
        self._order.clear()
        self.state_tree.refill(self.state_tree.root)
        self.state_tree.settle_cursor()
        self._show_empty()

    # -- building the tree --------------------------------------------------------------

    def _fill(self, node: TreeNode[StateRef]) -> None:
        ref = node.data
        if ref is None:
            for group in sorted(self.groups):
                node.add(_group_label(group, len(self.groups[group])), StateRef(group))
        elif ref.key is None:
            items = self.groups.get(ref.group, {})
            self._order[ref.group] = sorted(items)
            for key in self._order[ref.group]:
                self._add_key(node, ref.group, key, None)
        else:
            for name, child in entries(value_at(self.groups, ref)):
                node.add(
                    _entry_label(name, child),
                    StateRef(ref.group, ref.key, (*ref.path, name)),
                    allow_expand=is_branch(child),
                )

    def _add_key(
        self, group_node: TreeNode[StateRef], group: str, key: str, before: int | None
    ) -> None:
        value = self.groups[group][key]
        self._key_nodes[(group, key)] = group_node.add(
            _entry_label(key, value),
            StateRef(group, key),
            before=before,
            allow_expand=is_branch(value),
        )

    def _group_node(self, group: str) -> TreeNode[StateRef] | None:
        return next(
            (n for n in self.state_tree.root.children if n.data and n.data.group == group), None
        )

    def _drop_group_index(self, group: str) -> None:
        self._order.pop(group, None)
        for pair in [p for p in self._key_nodes if p[0] == group]:
            del self._key_nodes[pair]

    def _sync(self, touched: dict[str, set[str | None]]) -> None:
        """Bring the touched groups and keys of the tree in line with the model."""
        tree = self.state_tree
        for group, keys in touched.items():
            node = self._group_node(group)
            if group not in self.groups:
                if node is not None:
                    tree.forget(node)
                    node.remove()
                    self._drop_group_index(group)
                continue
            if node is None:
                names = sorted(n.data.group for n in tree.root.children if n.data)
                tree.root.add(
                    _group_label(group, len(self.groups[group])),
                    StateRef(group),
                    before=bisect.bisect_left(names, group),
                )
                continue
            node.set_label(_group_label(group, len(self.groups[group])))
            if not tree.is_filled(node):
                continue
            if None in keys:
                self._drop_group_index(group)
                tree.refill(node)
                continue
            for key in keys:
                self._sync_key(node, group, str(key))
        self._show_empty()

    def _sync_key(self, group_node: TreeNode[StateRef], group: str, key: str) -> None:
        order = self._order.setdefault(group, [])
        node = self._key_nodes.get((group, key))
        if key not in self.groups[group]:
            if node is not None:
                self.state_tree.forget(node)
                node.remove()
                del self._key_nodes[(group, key)]
                order.remove(key)
            return
        if node is None:
            index = bisect.bisect_left(order, key)
            order.insert(index, key)
            self._add_key(group_node, group, key, index)
            return
        value = self.groups[group][key]
        node.set_label(_entry_label(key, value))
        node.allow_expand = is_branch(value)
        self.state_tree.refill(node)

    def _show_empty(self) -> None:
        self.query_one("#state-empty").display = not self.groups

    # -- editing ----------------------------------------------------------------------

    def _cursor_ref(self) -> StateRef | None:
        node = self.state_tree.cursor_node
        return node.data if node is not None else None

    def action_edit(self) -> None:
        ref = self._cursor_ref()
        if ref is None or ref.key is None or ref.key not in self.groups.get(ref.group, {}):
            self.notify("choose a key to edit (a adds one)")
            return
        value = self.groups[ref.group][ref.key]
        self.app.push_screen(
            ValueEditorScreen(
                f"Edit {ref.group} / {ref.key}", ref.group, ref.key, value, new_key=False
            ),
            self._edited,
        )

    def action_add(self) -> None:
        ref = self._cursor_ref()
        group = ref.group if ref is not None else ""
        self.app.push_screen(
            ValueEditorScreen("Add a key", group, "", {}, new_key=True), self._edited
        )

    def _edited(self, edit: ValueEdit | None) -> None:
        if edit is not None:
            self._save(edit)

    def action_delete(self) -> None:
        ref = self._cursor_ref()
        if ref is None:
            return
        if ref.key is None:
            size = len(self.groups.get(ref.group, {}))
            question = f"Delete state group {ref.group!r} and its {size} key(s)?"
        else:
            question = f"Delete state {ref.group!r} / {ref.key!r}?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(ref.group, ref.key)

        self.app.push_screen(ConfirmScreen(question, yes="Delete", no="Keep"), answered)

    @work(group="state-write")
    async def _save(self, edit: ValueEdit) -> None:
        try:
            await self.source.set_state(edit.group, edit.key, edit.value)
        except Exception as exc:
            self.post_message(self._Done(f"{edit.group}/{edit.key}", str(exc) or repr(exc)))
        else:
            self.post_message(self._Done(f"saved {edit.group}/{edit.key}", None))

    @work(group="state-write")
    async def _delete(self, group: str, key: str | None) -> None:
        what = group if key is None else f"{group}/{key}"
        try:
            await self.source.delete_state(group, key)
        except Exception as exc:
            self.post_message(self._Done(what, str(exc) or repr(exc)))
        else:
            self.post_message(self._Done(f"deleted {what}", None))

    @on(_Done)
    def _done(self, message: _Done) -> None:
        if message.error is not None:
            self.notify(f"{message.what}: {message.error}", title="State", severity="error")
        else:
            self.notify(message.what, title="State")
