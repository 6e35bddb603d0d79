"""A tree that builds a node's children only when it is first opened.

`Tree.add_json` builds every node of a value up front, which takes seconds for big state
groups; here a node's children are made by a callback on first expand, and a live update
rebuilds only the nodes it touched, re-opening what was open. Node data must be hashable
and stable across rebuilds (it identifies what was open).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

PREVIEW_WIDTH = 60
T = TypeVar("T", bound=Hashable)


def preview(value: Any, width: int = PREVIEW_WIDTH) -> str:
    """One line of compact JSON, cut with an ellipsis."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=repr)
    return text if len(text) <= width else text[: width - 1] + "…"


def entries(value: Any) -> list[tuple[str | int, Any]]:
    """The children of a JSON value: object members or array items."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return list(enumerate(value))
    return []


def is_branch(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


class LazyTree(Tree[T], Generic[T]):
    """`fill(node)` adds the node's children; it is called once, on first expand."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="tree-down"),
        Binding("k", "cursor_up", "Up", show=False, id="tree-up"),
        Binding("g", "scroll_home", "First", show=False, id="tree-first"),
        Binding("G", "scroll_end", "Last", show=False, id="tree-last"),
    ]

    def __init__(
        self,
        label: str,
        fill: Callable[[TreeNode[T]], None],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(label, id=id, classes=classes)
        self._fill = fill
        self._filled: set[int] = set()

    def is_filled(self, node: TreeNode[T]) -> bool:
        return node.id in self._filled

    def open(self, node: TreeNode[T]) -> None:
        """Fill (if needed) and expand, in one go, so no empty frame is drawn."""
        self.ensure_filled(node)
        node.expand()

    def ensure_filled(self, node: TreeNode[T]) -> None:
        if node.id not in self._filled:
            self._filled.add(node.id)
            self._fill(node)

    def refill(self, node: TreeNode[T]) -> None:
        """Rebuild an already built node's children, keeping open what was open."""
        if node.id not in self._filled:
            return
        open_data = {n.data for n in _descendants(node) if n.is_expanded and n.data is not None}
        self.forget(node, keep_self=True)
        node.remove_children()
        self._fill(node)
        self._reopen(node, open_data)

    def forget(self, node: TreeNode[T], keep_self: bool = False) -> None:
        """Drop the fill marks of a node about to lose its children (or be removed)."""
        for child in _descendants(node):
            self._filled.discard(child.id)
        if not keep_self:
            self._filled.discard(node.id)

    def settle_cursor(self) -> None:
        """Put the cursor on the first line when it is on none (a hidden root leaves it so)."""
        if self.cursor_node is None and self.root.children:
            self.move_cursor(self.root.children[0])

    def _reopen(self, node: TreeNode[T], open_data: set[Any]) -> None:
        for child in node.children:
            if child.data in open_data:
                self.open(child)
                self._reopen(child, open_data)

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[T]) -> None:
        self.ensure_filled(event.node)

    def clear(self) -> LazyTree[T]:
        self._filled.clear()
        super().clear()
        return self


def _descendants(node: TreeNode[Any]) -> list[TreeNode[Any]]:
    found: list[TreeNode[Any]] = []
    stack = list(node.children)
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(child.children)
    return found
