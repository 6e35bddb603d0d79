"""The Workers pane (8, F8): shown only on a cluster; the live workers from their heartbeats,
a killed one gone once its heartbeat expires, and the spans each worker ran. Real workers on
the shared Redis; the workbench as a real Textual app, and `motia tui --attach` in tmux."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import httpx
from cluster_support import TOKEN, workers
from test_cluster_view import AUTH, attached, consumer, project, wait
from tmux_harness import motia_command, terminal_of

from engine.settings import Settings
from motia_tui.app import make_workbench
from motia_tui.help import HelpScreen, KeyBar, fit_keys
from motia_tui.pane_tabs import PaneTabs
from motia_tui.panes.traces import TracesPane
from motia_tui.panes.workers import WorkersPane
from motia_tui.source import LocalSource


def rows(pane: WorkersPane) -> list[str]:
    table = pane.table
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def test_the_workers_pane_lists_the_live_workers_and_the_spans_each_ran(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        names = {consumer(a), consumer(b)}
        async with attached(a) as (app, pilot):
            pane = app.panes["workers"]
            assert isinstance(pane, WorkersPane)
            tabs = app.query_one("#tabs", PaneTabs)
            await pilot.press("f8")
            assert tabs.active == "workers"
            assert app.focused is pane.table
            await wait(lambda: {r.split(" ")[0] for r in rows(pane)} == names, "both workers")
            assert f"{consumer(a)} (this one)" in rows(pane)

            async with httpx.AsyncClient(timeout=10) as client:
                for n in range(40):  # until B sends its events (it sees A watched)
                    await client.post(f"{b.url}/hello", json={"who": f"p{n}"})
                    await asyncio.sleep(0.2)
                    if pane.counts.get(consumer(b)):
                        break
            assert pane.counts.get(consumer(b))
            row = next(i for i, r in enumerate(rows(pane)) if r.startswith(consumer(b)))
            pane.table.move_cursor(row=row)
            await wait(lambda: pane.span_table.row_count > 0, "B's spans listed")
            newest = pane.spans[consumer(b)][-1]  # the first row
            await pilot.press("enter")
            assert app.focused is pane.span_table
            await pilot.press("enter")
            traces = app.panes["traces"]
            assert isinstance(traces, TracesPane)
            await wait(lambda: tabs.active == "traces", "the trace opened")
            assert traces.open_id == newest["traceId"]

            await pilot.press("f8")
            b.kill()
            await wait(lambda: [r.split(" ")[0] for r in rows(pane)] == [consumer(a)],
                       "the killed worker gone once its heartbeat expired", timeout=30)


async def test_the_traces_filter_keeps_the_traces_a_worker_ran_spans_of(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    """`worker:NAME` in the Traces filter: the traces with a span that worker ran, among
    those held live and again after a reload, when only the summaries are held."""
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        async with attached(a) as (app, pilot):
            sent: dict[str, list[str]] = {consumer(a): [], consumer(b): []}
            traces = app.panes["traces"]
            assert isinstance(traces, TracesPane)
            async with httpx.AsyncClient(timeout=10) as client:
                for n in range(40):  # until B sends its events (it sees A watched)
                    answer = await client.post(f"{b.url}/hello", json={"who": f"p{n}"})
                    await asyncio.sleep(0.2)
                    if answer.headers["x-trace-id"] in traces.book.summaries:
                        break
                for n in range(6):
                    for worker in (a, b):
                        answer = await client.post(f"{worker.url}/hello", json={"who": f"w{n}"})
                        sent[consumer(worker)].append(answer.headers["x-trace-id"])
            every = {t for ids in sent.values() for t in ids}
            await pilot.press("3")
            await wait(lambda: every <= set(traces.book.summaries), "every trace listed")

            def ended(trace_id: str) -> bool:
                """The trace's two spans (Hello's, Greet's) ended, as the pane holds them."""
                spans = traces.book.spans.get(trace_id, {}).values()
                return len(spans) == 2 and all(s["status"] != "running" for s in spans)

            await wait(lambda: all(ended(t) for t in every), "every trace's two spans")
            workers_of = {}
            for trace_id in every:
                answer = httpx.get(f"{a.url}/__motia/traces/{trace_id}", headers=AUTH, timeout=5)
                workers_of[trace_id] = {str(span["worker"]) for span in answer.json()["spans"]}

            def ran(trace_id: str) -> set[str]:
                return workers_of[trace_id]

            for name, own in sent.items():
                await pilot.press("slash")
                await pilot.press("ctrl+u", *f"worker:{name}", "enter")
                listed = set(traces.trace_list.order) & every
                assert set(own) <= listed, (name, own, listed)
                assert listed == {t for t in every if name in ran(t)}
                await traces.reload()
                assert traces.book.spans == {}  # summaries alone, as after a restart
                assert set(traces.trace_list.order) & every == listed
            await pilot.press("slash", "ctrl+u", *"worker:nobody", "enter")
            assert traces.trace_list.order == []


async def test_the_workers_footer_and_help_fit_at_80_by_24(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with workers(1, project(tmp_path), redis_url, prefix, tmp_path) as (a,):
        from motia_tui.remote_source import RemoteSource

        app = make_workbench(RemoteSource(a.url, TOKEN))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait(lambda: app.ready.is_set(), "the workbench to start")
            await pilot.press("8")
            await pilot.pause()
            tabs = app.query_one("#tabs", PaneTabs)
            assert tabs.shown()[-2:] == ["dead_letters", "workers"]
            labels = tabs.render_line(0).text.rstrip()
            assert labels.endswith(" 7 DLQ  8 Workers") and len(labels) <= 80, labels
            bar = app.query_one(KeyBar)
            shown = bar.text()
            assert len(shown) <= 80 and "? Help" in shown and "Its spans" in shown, shown
            assert shown == "".join(k.text for k in fit_keys(bar.footer_keys(), bar.size.width))
            await pilot.press("question_mark")
            screen = app.screen
            assert isinstance(screen, HelpScreen)
            ids = {i for e in screen.entries for i in e.ids}
            assert {"tab-workers", "workers-spans", "workers-spans-open"} <= ids
            await pilot.press("escape")
            await app.action_quit()


async def test_the_workers_pane_is_absent_without_a_cluster(tmp_path: Path) -> None:
    project_dir = project(tmp_path)
    source = LocalSource(project_dir, Settings(store=":memory:"), "127.0.0.1", 0, watch=False)
    app = make_workbench(source)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait(lambda: app.ready.is_set(), "the workbench to start")
        tabs = app.query_one("#tabs", PaneTabs)
        assert "workers" not in tabs.shown()
        await pilot.press("8")
        await pilot.press("f8")
        assert tabs.active == "flows"
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        ids = {i for e in screen.entries for i in e.ids}
        assert "tab-workers" not in ids and "workers-spans" not in ids
        assert "tab-dead_letters" in ids
        await pilot.press("escape")
        await app.action_quit()


def test_f8_opens_the_workers_pane_of_an_attached_cluster_in_a_terminal(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    with workers(2, project(tmp_path), redis_url, prefix, tmp_path) as (a, b):
        for term in terminal_of(tmp_path, 100, 30):
            command = " ".join([motia_command(), "tui", "--attach", shlex.quote(a.url),
                                "--token", TOKEN])
            term.start(command, tmp_path)
            term.wait_for(lambda s: "1 Flows" in s and "8 Workers" in s, "the workbench")
            term.keys("F8")
            names = (consumer(a), consumer(b))
            screen = term.wait_for(lambda s, names=names: "2 live workers" in s
                                   and all(name in s for name in names), "the Workers pane")
            assert f"{a.process.pid}" in screen and f"{b.process.pid}" in screen
            term.keys("q")
