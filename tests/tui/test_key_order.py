"""Keys sent with no pause end where the same keys sent slowly end.

`burst` posts every key to the app before it handles any, as a terminal delivers keys that
arrive in one read (SSH, a paste, a script). The state compared is what a person sees: the
screen on top, the pane shown, the focused widget, the footer and what the inputs hold.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from pane_harness import copy_project, wait_for
from test_app import greet, logs_of, shown_messages, workbench
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from engine.settings import Settings
from motia_tui import key_order
from motia_tui.app import PANES, WorkbenchApp
from motia_tui.feed_pump import BUSY_EVENTS_PER_S, FPS, KEY_FIRST_LIMIT_S, MIN_FPS, FeedPump
from motia_tui.help import KeyBar
from motia_tui.pane_tabs import PaneTabs
from motia_tui.source import LocalSource


@pytest.fixture(autouse=True)
def patient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key that a loaded machine takes seconds over still counts as handled in order: the
    tests fail on a key never seen handled, not on a slow one."""
    monkeypatch.setattr(key_order, "STUCK_KEY_S", 120.0)


TEAM_USERS_API = """
config = {"type": "api", "name": "TeamUser", "path": "/teams/:team/users/:userId",
          "method": "GET", "emits": [], "flows": ["greetings"]}


async def handler(req, context):
    return {"status": 200, "body": req.pathParams}
"""

ALPHABET = [
    *(str(n) for n in range(1, len(PANES) + 1)),
    *(f"f{n}" for n in range(1, len(PANES) + 1)),
    "tab", "shift+tab", "escape", "enter", "j", "k", "h", "l", "down", "up",
    "slash", "a", "x", "question_mark", "space", "right_square_bracket",
]
"""Keys whose effects stay inside the workbench (no quit, no delete, nothing sent)."""


def project(tmp_path: Path) -> Path:
    folder = copy_project(tmp_path)
    (folder / "steps" / "team_user_step.py").write_text(TEAM_USERS_API, encoding="utf-8")
    return folder


def source_for(folder: Path) -> LocalSource:
    return LocalSource(folder, Settings(store=":memory:"), "127.0.0.1", 0, watch=False)


def burst(app: WorkbenchApp, keys: list[str]) -> None:
    """Every key queued on the app at once, as the driver posts keys read together."""
    for key in keys:
        character = key if len(key) == 1 else {"space": " ", "slash": "/"}.get(key)
        if key == "question_mark":
            character = "?"
        if key == "right_square_bracket":
            character = "]"
        event = events.Key(key, character)
        event.set_sender(app)
        app.post_message(event)


async def settle(app: WorkbenchApp, pilot: Pilot[int]) -> None:
    await wait_for(lambda: not app.key_order.busy, what="every key to be handled")
    await pilot.pause(0.1)
    await wait_for(lambda: not app.key_order.busy, what="every key to be handled")


def seen(app: WorkbenchApp) -> dict[str, Any]:
    focused = app.focused
    return {
        "screen": type(app.screen).__name__,
        "pane": app.query_one("#tabs", PaneTabs).active,
        "focus": None if focused is None else (type(focused).__name__, focused.id),
        "footer": app.query_one(KeyBar).text() if app.screen is app.screen_stack[0]
        else None,
        "inputs": {
            str(i.id or i.name): i.value for i in app.query(Input) if i.value
        },
    }


async def end_state(folder: Path, keys: list[str], *, slowly: bool) -> dict[str, Any]:
    async with workbench(source_for(folder)) as (app, pilot):
        if slowly:
            for key in keys:
                await pilot.press(key)
                await pilot.pause(0.05)
                await settle(app, pilot)
        else:
            burst(app, keys)
        await settle(app, pilot)
        state = seen(app)
        assert app.key_order.keys_given_up == 0
        await app.action_quit()
    return state


PANE_FOOTERS = {"logs": "Record", "state": "Edit value", "traces": "Open trace"}
"""A key only the footer of that pane lists."""


@pytest.mark.parametrize(
    ("keys", "pane", "focus"),
    [
        (["2", "3", "4"], "logs", "logs-view"),
        (["2", "3", "5"], "state", "state-tree"),
        (["2", "3", "6"], "streams", "streams-tree"),
        (["1", "2", "4"], "logs", "logs-view"),
    ],
)
async def test_pane_keys_in_a_burst_each_switch_completes(
    tmp_path: Path, keys: list[str], pane: str, focus: str
) -> None:
    """The reproductions of issue 13: the tab, the focus and the footer agree."""
    async with workbench(source_for(project(tmp_path))) as (app, pilot):
        burst(app, keys)
        await settle(app, pilot)
        assert app.query_one("#tabs", PaneTabs).active == pane
        assert app.focused is not None and app.focused.id == focus
        footer = app.query_one(KeyBar).text()
        for shown_pane, word in PANE_FOOTERS.items():
            assert (word in footer) == (shown_pane == pane), footer
        if pane == "logs":
            burst(app, ["enter"])
            await settle(app, pilot)
            assert type(app.screen).__name__ == "RecordScreen"
            assert app.query_one("#tabs", PaneTabs).active == "logs"
        await app.action_quit()


async def test_a_burst_is_drawn_once(tmp_path: Path) -> None:
    """Twenty pane keys at once lay the screen out a few times, not twenty, and what the
    feed brought meanwhile shows after."""
    async with workbench(source_for(project(tmp_path))) as (app, pilot):
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(app, layouts.append)
        rng = random.Random(7)
        keys = [rng.choice("12356") for _ in range(19)] + ["4"]
        async with httpx.AsyncClient() as client:
            burst(app, keys)
            answer = await client.post(f"{app.source.label}/greet", json={"name": "Burst"})
        assert answer.status_code == 200
        await settle(app, pilot)
        assert app.query_one("#tabs", PaneTabs).active == "logs"
        assert app.focused is not None and app.focused.id == "logs-view"
        assert len(layouts) <= 3, f"{len(layouts)} layouts for one burst"
        await wait_for(lambda: "greeting recorded" in shown_messages(logs_of(app)),
                       what="the records logged during the burst")
        await app.action_quit()


async def test_typing_with_tab_between_inputs_in_a_burst(tmp_path: Path) -> None:
    async with workbench(source_for(project(tmp_path))) as (app, pilot):
        await pilot.press("2")
        routes = app.query_one("#endpoints-routes")
        await wait_for(lambda: routes.option_count > 0, what="the routes")
        index = next(
            i for i in range(routes.option_count)
            if "/teams/" in str(routes.get_option_at_index(i).prompt)
        )
        burst(app, ["down"] * index + ["enter", *"acme", "tab", *"u42"])
        await settle(app, pilot)
        values = {i.name: i.value for i in app.query("#endpoints-params Input").results(Input)}
        assert values == {"param:team": "acme", "param:userId": "u42"}
        assert app.key_order.keys_held > 0 and app.key_order.keys_given_up == 0
        await app.action_quit()


async def test_f_keys_switch_panes_from_an_input_and_digits_type(tmp_path: Path) -> None:
    async with workbench(source_for(project(tmp_path))) as (app, pilot):
        burst(app, ["4", "slash", *"12", "f3"])
        await settle(app, pilot)
        assert app.query_one("#logs-filter", Input).value == "12"
        assert app.query_one("#tabs", PaneTabs).active == "traces"
        assert app.focused is not None and app.focused.id == "traces-list"
        await app.action_quit()


@pytest.mark.parametrize("seed", range(6))
async def test_generated_bursts_end_as_slow_typing_does(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    keys = [rng.choice(ALPHABET) for _ in range(rng.randint(2, 20))]
    folder = project(tmp_path)
    slow = await end_state(folder, keys, slowly=True)
    fast = await end_state(folder, keys, slowly=False)
    assert fast == slow, keys


async def test_live_updates_wait_while_a_key_is_not_yet_drawn(tmp_path: Path) -> None:
    """A key goes before the engine's events: while the frame that shows it is not drawn
    (the screen is held here, so it never is), the Logs pane gets no batch until the pump's
    limit has passed, and then it does."""
    async with workbench(source_for(project(tmp_path))) as (app, pilot):
        await pilot.press("4")
        await pilot.pause(0.3)  # ticks since: none of them waits for that key
        logs = logs_of(app)
        with app.batch_update():
            sent_at = time.monotonic()
            burst(app, ["3"])
            await wait_for(lambda: not app.key_order.busy, what="the key to be handled")
            held = len(logs.buffer)
            await greet(app.source.label)
            await wait_for(lambda: len(logs.buffer) > held, what="the records to be shown")
            assert time.monotonic() - sent_at >= KEY_FIRST_LIMIT_S
        assert app.key_order.keys_given_up == 0


def test_a_feed_as_busy_as_a_server_at_thousands_of_requests_a_second_draws_at_the_floor() -> None:
    """Each request brings two or three events; at a few thousand requests a second the
    panes redraw twice a second (nobody reads lines scrolling that fast), and the loop goes
    to the server; below the busy rate they redraw at the full rate."""
    pump = FeedPump(cast(Any, None), [], FPS)
    assert pump.next_frame(1_000) == 1 / FPS
    assert pump.next_frame(BUSY_EVENTS_PER_S) == 1 / FPS
    assert pump.next_frame(3 * BUSY_EVENTS_PER_S) == 1 / (FPS / 3)
    assert pump.next_frame(6_000 * 2) == 1 / MIN_FPS
