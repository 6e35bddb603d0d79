"""The Dead letters pane against a real engine: the queue live, Enter, re-queue, drop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pane_harness import PaneApp, copy_project, ready, wait_for
from textual.pilot import Pilot

from motia_tui.messages import OpenTrace
from motia_tui.pane_tabs import PaneTabs
from motia_tui.panes.dead_letters import DeadLetterScreen, DeadLettersPane, format_age
from motia_tui.source import LocalSource
from motia_tui.widgets.confirm import ConfirmScreen

NOTIFY_STEP = """
config = {
    "type": "event",
    "name": "NotifyCustomer",
    "subscribes": ["order.placed"],
    "emits": [],
    "flows": ["greetings"],
    "infrastructure": {"queue": {"maxRetries": 1}},
}


async def handler(input, context):
    raise ConnectionError(f"mail server refused {input['email']}")
"""
T0_S = 1_704_164_645.0  # 2024-01-02 03:04:05 UTC


def project_with_failures(tmp_path: Path) -> Path:
    project = copy_project(tmp_path)
    (project / "steps" / "notify_customer_step.py").write_text(NOTIFY_STEP, encoding="utf-8")
    (project / "motia.toml").write_text("retry_base_s = 0.01\nretry_max_s = 0.02\n")
    return project


async def two_dead_letters(source: LocalSource) -> None:
    for email in ("ada@example.com", "grace@example.com"):
        source.engine.emit("order.placed", {"email": email, "item": "tea"})
        await source.engine.idle()


def pane(app: PaneApp) -> DeadLettersPane:
    return app.pane


def rows(app: PaneApp) -> list[list[str]]:
    table = pane(app).table
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def test_ages_fit_in_four_characters() -> None:
    assert [format_age(s) for s in (0, 59.9, 60, 3599, 3600, 86_399, 86_400 * 12)] == [
        "0s", "59s", "1m", "59m", "1h", "23h", "12d",
    ]


async def test_the_queue_shows_step_topic_attempts_error_and_age(tmp_path: Path) -> None:
    app = PaneApp(project_with_failures(tmp_path), DeadLettersPane, before_reload=two_dead_letters)
    async with app.run_test(size=(80, 24)):
        await ready(app)
        await wait_for(lambda: len(rows(app)) == 2, what="two dead letters")
        first = rows(app)[0]
        assert first[:3] == ["NotifyCustomer", "order.placed", "2"]
        assert first[3].startswith("mail server refused ada@")
        assert first[4].endswith("s")
        assert "2 dead letters" in str(pane(app).query_one("#dead-letters-status").render())


async def test_new_dead_letters_appear_live(tmp_path: Path) -> None:
    app = PaneApp(project_with_failures(tmp_path), DeadLettersPane)
    async with app.run_test(size=(80, 24)):
        await ready(app)
        assert rows(app) == []
        assert pane(app).query_one("#dead-letters-empty").display
        app.source.engine.emit("order.placed", {"email": "eve@example.com"})
        await wait_for(lambda: len(rows(app)) == 1, what="the new dead letter")
        assert not pane(app).query_one("#dead-letters-empty").display


async def test_enter_shows_the_event_and_its_last_error(tmp_path: Path) -> None:
    app = PaneApp(project_with_failures(tmp_path), DeadLettersPane, before_reload=two_dead_letters)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await wait_for(lambda: len(rows(app)) == 2, what="two dead letters")
        await pilot.press("j", "enter")
        screen = await wait_for(
            lambda: isinstance(app.screen, DeadLetterScreen) and app.screen, what="the detail"
        )
        text = str(screen.query_one("#dead-letter-text").render())
        assert "NotifyCustomer could not handle order.placed after 2 attempts" in text
        assert '"email": "grace@example.com"' in text
        assert "mail server refused grace@example.com" in text
        assert "Traceback (most recent call last)" in text
        assert "raise ConnectionError" in text
        await pilot.press("t")
        opened = await wait_for(
            lambda: [m for m in app.posted if isinstance(m, OpenTrace)], what="OpenTrace"
        )
        assert opened[0].trace_id == rows_trace(app, 1)


def rows_trace(app: PaneApp, index: int) -> str:
    ordered = sorted(pane(app).items.values(), key=lambda i: i["failedAt"])
    return str(ordered[index]["traceId"])


async def test_r_requeues_as_a_new_delivery_in_the_same_trace(tmp_path: Path) -> None:
    app = PaneApp(project_with_failures(tmp_path), DeadLettersPane, before_reload=two_dead_letters)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await wait_for(lambda: len(rows(app)) == 2, what="two dead letters")
        trace_id = rows_trace(app, 0)
        await pilot.press("r")
        engine = app.source.engine
        await wait_for(
            lambda: any(s["step"] == "retry order.placed"
                        for s in (engine.traces.get(trace_id) or {}).get("spans", [])),
            what="the re-queue span",
        )
        await engine.idle()
        spans = engine.traces.get(trace_id)["spans"]
        attempts = [s for s in spans if s["step"] == "NotifyCustomer"]
        assert len(attempts) == 4  # two attempts before, two after the re-queue
        await wait_for(lambda: len(rows(app)) == 2, what="the letter back in the queue")


async def test_d_drops_after_confirmation_as_a_manual_trace(tmp_path: Path) -> None:
    app = PaneApp(project_with_failures(tmp_path), DeadLettersPane, before_reload=two_dead_letters)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app)
        await wait_for(lambda: len(rows(app)) == 2, what="two dead letters")
        failed_in = rows_trace(app, 0)
        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")
        assert len(rows(app)) == 2
        await pilot.press("d")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(lambda: len(rows(app)) == 1, what="the drop")
        assert "grace@" in rows(app)[0][3]
        await app.source.engine.idle()
        drops = [t for t in await app.source.traces() if t["entry"] == "drop order.placed"]
        assert len(drops) == 1
        trace = await app.source.trace(drops[0]["traceId"])
        assert trace is not None
        assert trace["spans"][0]["input"]["traceId"] == failed_in


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_dead_letters_snapshot(tmp_path: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    items = [
        {"id": f"d{n}", "topic": topic, "step": step, "data": data, "error": error,
         "attempts": attempts, "traceId": f"{n}" * 32, "failedAt": (T0_S - age) * 1000}
        for n, (step, topic, data, error, attempts, age) in enumerate(
            [
                ("NotifyCustomer", "order.placed", {"email": "ada@example.com"},
                 "ConnectionError: mail server refused ada@example.com", 4, 7200),
                ("NotifyCustomer", "order.placed", {"email": "grace@example.com"},
                 "ConnectionError: mail server refused grace@example.com", 4, 300),
                ("ChargeCard", "payment.requested", {"amount": 12},
                 "TimeoutError: the handler ran longer than 30s", 2, 12),
            ],
            start=1,
        )
    ]

    def make(source: LocalSource) -> DeadLettersPane:
        return DeadLettersPane(source, clock=lambda: T0_S)

    async def seed(source: LocalSource) -> None:
        source.engine.bus.dlq.update({item["id"]: item for item in items})

    app = PaneApp(copy_project(tmp_path), make, before_reload=seed)

    async def settle(pilot: Pilot[Any]) -> None:
        await ready(app)
        await wait_for(lambda: len(rows(app)) == 3, what="the seeded queue")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)


async def test_pane_7_in_the_workbench_opens_a_dead_letters_trace(tmp_path: Path) -> None:

    from engine.settings import Settings
    from motia_tui.app import make_workbench
    from motia_tui.panes.dead_letters import DeadLetterTable

    source = LocalSource(project_with_failures(tmp_path), Settings(retry_base_s=0.01,
                                                                   retry_max_s=0.02),
                         "127.0.0.1", 0, watch=False)
    app = make_workbench(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: app.ready.is_set(), what="the workbench to start")
        trace_id = source.engine.emit("order.placed", {"email": "ada@example.com"})
        await source.engine.idle()
        await pilot.press("7")
        tabs = app.query_one("#tabs", PaneTabs)
        assert tabs.active == "dead_letters"
        table = app.panes["dead_letters"].query_one(DeadLetterTable)
        await wait_for(lambda: table.row_count == 1, what="the dead letter, caught up")
        await wait_for(lambda: table.has_focus, what="focus on the queue")
        await pilot.press("t")
        await wait_for(lambda: tabs.active == "traces", what="Traces")
        assert app.panes["traces"].open_id == trace_id  # type: ignore[attr-defined]
