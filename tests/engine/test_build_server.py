"""`build_server` decides what a served engine exposes, for the CLI and the workbench alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.server import build_server
from engine.settings import Settings

MEMORY = Settings(store=":memory:")


def test_start_serves_introspection_only_with_a_token(
    project: Callable[[dict[str, str]], Path],
) -> None:
    root = project({"steps/.keep": ""})
    bare = build_server(root, MEMORY, "start")
    assert bare.introspection is None and bare.watch is False and bare.token is None
    guarded = build_server(root, Settings(store=":memory:", introspect_token="t"), "start")
    assert guarded.introspection is not None and guarded.token == "t"


def test_dev_introspects_watches_and_guards_a_public_address(
    project: Callable[[dict[str, str]], Path],
) -> None:
    root = project({"steps/.keep": ""})
    dev = build_server(root, MEMORY, "dev")
    assert dev.introspection is not None and dev.watch is True and dev.token is None
    assert build_server(root, MEMORY, "dev", watch=False).watch is False
    public = build_server(root, Settings(store=":memory:", host="0.0.0.0"), "dev")
    assert public.token, "off loopback the introspection API needs a token"

