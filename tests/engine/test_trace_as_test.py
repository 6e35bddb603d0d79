"""A recorded trace becomes a pytest file that passes on the project as it is and fails, with
a clear diff, once a step behaves differently; and two traces diff side by side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from engine_support import served, trace_of
from test_trace_tools import place, settings, shop

from engine import trace_diff
from engine.loose_match import ANY_ID, ANY_TIME, assert_like, differences, loosen
from engine.trace_test_writer import function_name, write

REPO = Path(__file__).resolve().parents[2]


def run_pytest(project: Path, test_file: Path) -> subprocess.CompletedProcess[str]:
    """The generated test, run as a user would: pytest alone (none of the plugins this suite
    uses, which the README says it does not need) in the project folder."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(test_file.relative_to(project))],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def exported(client: httpx.AsyncClient, trace_id: str) -> dict[str, Any]:
    response = await client.get(f"/__motia/traces/{trace_id}/export")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def test_a_written_test_passes_then_fails_once_a_step_changes(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (_engine, client):
        order = await place(client)
        await trace_of(client, order, 3)
        order_doc = await exported(client, order)
        report = (await client.post("/__motia/cron/OrderReport/trigger")).json()["traceId"]
        await trace_of(client, report, 1)
        report_doc = await exported(client, report)
    order_test = root / "tests" / f"{function_name(order_doc['trigger'])}.py"
    report_test = root / "tests" / f"{function_name(report_doc['trigger'])}.py"
    assert order_test.name == "test_post_orders.py"
    assert report_test.name == "test_cron_order_report.py"
    order_test.parent.mkdir()
    order_test.write_text(write(order_doc, root, order_test), encoding="utf-8")
    report_test.write_text(write(report_doc, root, report_test), encoding="utf-8")
    source = order_test.read_text(encoding="utf-8")
    assert source.count("\ndef test_") == 1 and "def test_post_orders() -> None:" in source
    assert "json={'item': 'tea', 'quantity': 2}" in source
    assert "params='source=test'" in source
    report_source = report_test.read_text(encoding="utf-8")
    assert "# the state the trace read\n            await project.seed_state(" in report_source
    assert "'status': 'processed'" in report_source

    passed = run_pytest(root, order_test)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    passed = run_pytest(root, report_test)
    assert passed.returncode == 0, passed.stdout + passed.stderr

    step = root / "steps" / "orders" / "process_order_step.py"
    step.write_text(
        step.read_text(encoding="utf-8").replace("UNIT_PRICE = 4.5", "UNIT_PRICE = 5"),
        encoding="utf-8",
    )
    failed = run_pytest(root, order_test)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the state changes: not as the trace recorded them" in failed.stdout
    assert "[0]['after']['total']: expected 9.0, got 10" in failed.stdout


async def test_an_emit_trace_becomes_a_test_too(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (_engine, client):
        data = {"id": "o-7", "item": "cake", "quantity": 1}
        trace_id = (await client.post(
            "/__motia/emit", json={"topic": "order.placed", "data": data}
        )).json()["traceId"]
        await trace_of(client, trace_id, 3)
        document = await exported(client, trace_id)
    target = root / "checks" / "test_emit.py"
    target.parent.mkdir()
    target.write_text(write(document, root, target), encoding="utf-8")
    source = target.read_text(encoding="utf-8")
    assert "def test_emit_order_placed() -> None:" in source
    assert "project.emit('order.placed'" in source
    result = run_pytest(root, target)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_two_traces_diff_side_by_side(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (_engine, client):
        original = await place(client)
        first = await trace_of(client, original, 3)
        again = (await client.post(f"/__motia/traces/{original}/rerun")).json()["traceId"]
        second = await trace_of(client, again, 3)
        process = next(s for s in first["spans"] if s["step"] == "ProcessOrder")
        edited = (await client.post(
            f"/__motia/traces/{original}/rerun",
            json={"fromSpan": process["spanId"], "input": {**process["input"], "quantity": 4}},
        )).json()["traceId"]
        third = await trace_of(client, edited, 3)
    same = trace_diff.diff(first, second)
    assert same["same"], trace_diff.render_text(same)
    changed = trace_diff.diff(first, third)
    assert not changed["same"]
    rows = {(s["title"], r["name"]): r for s in changed["sections"] for r in s["rows"]}
    state = rows[("state", "orders/<id>")]
    assert not state["same"]
    assert state["a"]["after"]["total"] == 9.0 and state["b"]["after"]["total"] == 18.0
    assert not rows[("steps run", "PlaceOrder")]["same"]
    assert rows[("steps run", "PlaceOrder")]["b"] is None
    assert rows[("steps run", "ProcessOrder")]["same"]
    text = trace_diff.render_text(changed)
    assert "≠ orders/<id>" in text and "the traces differ" in text


def test_loose_matching_names_each_difference() -> None:
    ids = {"3f2a9c0d1e4b5a6978695a4b3c2d1e0f"}
    recorded = {"orderId": "3f2a9c0d1e4b", "at": "2026-12-01T11:00:00Z", "n": 2,
                "stamp": 1_796_000_000_000, "ref": "order-3f2a9c0d1e4b5a6978695a4b3c2d1e0f"}
    loose = loosen(recorded, ids, 1_796_000_000_500)
    assert loose == {"orderId": ANY_ID, "at": ANY_TIME, "n": 2, "stamp": ANY_TIME,
                     "ref": ANY_ID}
    assert differences({"orderId": "new", "at": "2026-12-02T09:00:00Z", "n": 2,
                        "stamp": 1, "ref": "x"}, loose) == []
    assert differences({"orderId": "", "n": True, "extra": 1}, loose) == [
        "['orderId']: expected an id, got ''",
        "['at']: missing (expected ANY_TIME)",
        "['n']: expected 2, got True",
        "['stamp']: missing (expected ANY_TIME)",
        "['ref']: missing (expected ANY_ID)",
        "['extra']: not expected, got 1",
    ]
    assert_like([1, 2], [1, 2])
    try:
        assert_like([1], [1, 2], "the list")
    except AssertionError as exc:
        assert str(exc) == "the list: not as the trace recorded them\n  [1]: missing (expected 2)"
    else:
        raise AssertionError("assert_like let a difference pass")
