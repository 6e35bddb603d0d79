"""The `[keys]` table of `motia.toml`: binding ids to the keys that run them.

```toml
[keys]
flows-next-flow = "n"            # one key
tab-logs = ["4", "f4", "ctrl+l"] # or several (a comma-separated string works too)
```

Every binding in the workbench has an id (`?` lists them beside the keys); the table
replaces a binding's keys, everything else keeps its defaults. The table is checked before
the workbench opens: an unknown id, a key Textual cannot name, or Alt with a printable key
(the same bytes as Esc then that key, see `textual_hooks.EscapeFirstParser`) stops the start
with every problem named.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import Keys, key_to_character
from textual.widget import Widget

from motia_tui.textual_hooks import key_name

SETTINGS_FILE = "motia.toml"
TABLE = "keys"
MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
NAMED_KEYS = frozenset(k.value for k in Keys) | {"space", "enter", "tab", "escape"}
OWN_PACKAGE = "motia_tui"
GLOBAL_ACTIONS = ("show_tab(", "errors", "help", "command_palette", "quit")
"""App bindings no pane may take over (typing into a text input aside)."""
DELIBERATE_OVERRIDES = frozenset({"escape"})
"""Keys a pane binds on purpose over the app's: Esc in a pane (clear a filter, back to the
list) comes before the app's "leave the input"."""


class KeymapError(ValueError):
    """A `[keys]` table that cannot be used, every problem named."""


def _own_classes(cls: type[DOMNode]) -> Iterator[type[DOMNode]]:
    for sub in cls.__subclasses__():
        if sub.__module__.startswith(OWN_PACKAGE):
            yield sub
        yield from _own_classes(sub)


def declared_bindings() -> dict[str, Binding]:
    """Every binding with an id that the workbench's classes declare, by id."""
    import motia_tui.app  # noqa: F401  (imports every pane, widget and screen)

    found: dict[str, Binding] = {}
    for cls in _own_classes(DOMNode):
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            if binding.id is not None:
                found.setdefault(binding.id, binding)
    return found


def key_problem(key: str) -> str | None:
    """Why `key` cannot be bound, or None."""
    parts = key.strip().lower().split("+")
    *modifiers, name = parts
    if not name:
        return f"{key!r} names no key"
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if unknown:
        return f"{key!r}: unknown modifier {unknown[0]!r} (use {', '.join(MODIFIERS)})"
    if len(set(modifiers)) != len(modifiers):
        return f"{key!r} repeats a modifier"
    printable = (len(name) == 1 and name.isprintable()) or key_to_character(name) is not None
    if not printable and name not in NAMED_KEYS:
        return f"{key!r}: no key is called {name!r}"
    if "alt" in modifiers and printable:
        return f"{key!r}: Alt with a printable key is what Esc then that key sends"
    return None


def parse_keymap(
    table: Mapping[str, Any], where: str = f"{SETTINGS_FILE} [{TABLE}]"
) -> dict[str, str]:
    """The table as Textual's keymap (id to comma-separated keys); KeymapError otherwise."""
    known = declared_bindings()
    problems: list[str] = []
    keymap: dict[str, str] = {}
    for binding_id, value in table.items():
        if binding_id not in known:
            close = difflib.get_close_matches(binding_id, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown binding id {binding_id!r}{hint}")
            continue
        if isinstance(value, str):
            keys = [k.strip() for k in value.split(",")]
        elif isinstance(value, list) and all(isinstance(k, str) for k in value):
            keys = [k.strip() for k in value]
        else:
            problems.append(f"{binding_id!r}: give a key or a list of keys, not {value!r}")
            continue
        if not keys or not all(keys):
            problems.append(f"{binding_id!r}: an empty key")
            continue
        bad = [p for p in map(key_problem, keys) if p is not None]
        problems.extend(f"{binding_id!r}: {p}" for p in bad)
        if not bad:
            keymap[binding_id] = ",".join(keys)
    if problems:
        raise KeymapError(f"{where}: " + "; ".join(problems))
    return keymap


def load_keymap(folder: Path) -> dict[str, str]:
    """The `[keys]` table of `folder/motia.toml`, checked; empty without one."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f"{path}: {exc}") from None
    table = data.get(TABLE, {})
    if not isinstance(table, dict):
        raise KeymapError(f"{path}: [{TABLE}] must be a table of binding id = key")
    return parse_keymap(table, f"{path} [{TABLE}]")


def _own_bindings(node: DOMNode) -> Iterator[Binding]:
    for cls in type(node).__mro__:
        if cls.__module__.startswith(OWN_PACKAGE):
            yield from Binding.make_bindings(cls.__dict__.get("BINDINGS", []))


def _keys_of(binding: Binding, keymap: Mapping[str, str]) -> list[str]:
    remapped = keymap.get(binding.id or "")
    keys = remapped.split(",") if remapped else [binding.key]
    return [key_name(k.strip()) for k in keys]


def collisions(app: App[Any], roots: list[Widget], keymap: Mapping[str, str]) -> list[str]:
    """Keys two bindings share where both apply, after `keymap`: for every focusable widget
    under `roots`, its chain of bindings up to the app must give each key one action, and no
    pane may take a global key (Esc aside, see `DELIBERATE_OVERRIDES`)."""
    found: dict[str, None] = {}
    for root in roots:
        for widget in [root, *root.walk_children(Widget)]:
            if not widget.can_focus:
                continue
            uses: dict[str, list[tuple[DOMNode, Binding]]] = {}
            for node in widget.ancestors_with_self:
                for binding in _own_bindings(node):
                    for key in _keys_of(binding, keymap):
                        uses.setdefault(key, []).append((node, binding))
            for key, bound in uses.items():
                inner_node, inner = bound[0]
                for node, binding in bound[1:]:
                    if binding.action == inner.action and (node is inner_node or binding.id
                                                          == inner.id):
                        continue
                    is_global = node is app and binding.action.startswith(GLOBAL_ACTIONS)
                    if node is not inner_node and key in DELIBERATE_OVERRIDES and not is_global:
                        continue
                    found[f"{key}: {inner.id} and {binding.id}"] = None
    return list(found)
