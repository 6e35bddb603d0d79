"""Trace tools on a real server: the recorded trigger and state values, re-runs (whole, and
from a span with edited input), export and import."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_support import served, trace_of, wait_until

from engine import Settings, trace_facts
from engine.settings import SettingsError, load_settings

TEMPLATE = Path(__file__).resolve().parents[2] / "motia_tui" / "templates" / "default"


def shop(root: Path) -> Path:
    shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns(".motia", "__pycache__"))
    return root


def settings(root: Path) -> Settings:
    return Settings(store=str(root / ".motia" / "store.sqlite3"), retry_base_s=0.01)


async def place(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.post(
        "/orders?source=test",
        content=b'{"item": "tea",  "quantity": 2}',
        headers={"content-type": "application/json", **headers},
    )
    assert response.status_code == 202, response.text
    return response.headers["x-trace-id"]


async def export(client: httpx.AsyncClient, trace_id: str) -> dict[str, Any]:
    response = await client.get(f"/__motia/traces/{trace_id}/export")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_whole_request_is_recorded_without_its_credentials(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (_engine, client):
        trace_id = await place(client, authorization="Bearer s3cr3t-value", cookie="sid=abc")
        await trace_of(client, trace_id, 3)
        document = await export(client, trace_id)
    trigger = document["trigger"]
    assert trigger["kind"] == "api"
    assert (trigger["method"], trigger["path"], trigger["query"]) == ("POST", "/orders",
                                                                      "source=test")
    assert trigger["rawBody"] == '{"item": "tea",  "quantity": 2}'
    assert trigger["withheld"] == ["authorization", "cookie"]
    assert "authorization" not in trigger["headers"] and "cookie" not in trigger["headers"]
    assert trigger["headers"]["content-type"] == "application/json"
    assert "s3cr3t-value" not in str(document) and "sid=abc" not in str(document)


async def test_state_operations_keep_what_was_read_and_what_was_replaced(
    tmp_path: Path,
) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (_engine, client):
        first = await place(client)
        await trace_of(client, first, 3)
        await client.post("/__motia/cron/OrderReport/trigger")
        report = await wait_until(
            lambda: _finished_trace(client, "OrderReport"), what="the report trace"
        )
        await client.post("/__motia/cron/OrderReport/trigger")
        second = await wait_until(
            lambda: _finished_trace(client, "OrderReport", skip=report["traceId"]),
            what="the second report",
        )
        notify = next(s for s in (await trace_of(client, first, 3))["spans"]
                      if s["step"] == "NotifyCustomer")
    read, written = ops(second["spans"])
    assert read["op"] == "getGroup" and len(read["items"]) == 1
    [stored] = read["items"].values()
    assert stored["status"] == "processed"
    assert written["op"] == "set" and written["previous"] == {"orders": 1, "revenue": 9.0}
    assert "previous" not in ops(report["spans"])[1]
    [get] = notify["stateOps"]
    assert get["op"] == "get" and get["found"] and get["value"]["total"] == 9.0


def ops(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [op for span in spans for op in span["stateOps"]]


async def _finished_trace(
    client: httpx.AsyncClient, step: str, skip: str | None = None
) -> dict[str, Any] | None:
    listed = (await client.get("/__motia/traces", params={"step": step})).json()["traces"]
    for summary in listed:
        if summary["traceId"] != skip and summary["status"] == "ok":
            detail: dict[str, Any] = (
                await client.get(f"/__motia/traces/{summary['traceId']}")
            ).json()
            return detail
    return None


async def test_a_rerun_sends_the_request_again_and_links_both_ways(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (engine, client):
        original = await place(client, authorization="Bearer token-1")
        await trace_of(client, original, 3)
        refused = await client.post(f"/__motia/traces/{original}/rerun")
        assert refused.status_code == 428
        assert refused.json()["details"] == {"needs": ["authorization"]}
        answer = await client.post(
            f"/__motia/traces/{original}/rerun",
            json={"headers": {"authorization": "Bearer token-2"}},
        )
        assert answer.status_code == 200, answer.text
        rerun = answer.json()
        assert rerun["response"]["status"] == 202
        new_id = rerun["traceId"]
        assert new_id != original
        again = await trace_of(client, new_id, 3)
        assert again["rerunOf"] == original
        assert [s["step"] for s in again["spans"]] == ["PlaceOrder", "ProcessOrder",
                                                       "NotifyCustomer"]
        assert again["spans"][0]["input"]["body"] == {"item": "tea", "quantity": 2}
        back = (await client.get(f"/__motia/traces/{original}")).json()
        assert back["reruns"] == [new_id]
        listed = (await client.get("/__motia/traces")).json()["traces"]
        assert next(t for t in listed if t["traceId"] == new_id)["rerunOf"] == original
        await engine.idle()
        assert engine.state.get("orders", new_id[:12])["status"] == "processed"


async def test_reruns_of_an_emit_and_of_a_cron_run(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (_engine, client):
        emitted = await client.post(
            "/__motia/emit",
            json={"topic": "order.placed", "data": {"id": "o-1", "item": "cake", "quantity": 1}},
        )
        emit_id = emitted.json()["traceId"]
        await trace_of(client, emit_id, 3)
        rerun = (await client.post(f"/__motia/traces/{emit_id}/rerun")).json()
        emitted_again = await trace_of(client, rerun["traceId"], 3)
        assert emitted_again["rerunOf"] == emit_id
        assert emitted_again["spans"][0]["step"] == "emit order.placed"
        assert emitted_again["spans"][0]["input"] == {"id": "o-1", "item": "cake", "quantity": 1}

        cron_id = (await client.post("/__motia/cron/OrderReport/trigger")).json()["traceId"]
        await trace_of(client, cron_id, 1)
        cron_again = (await client.post(f"/__motia/traces/{cron_id}/rerun")).json()
        detail = await trace_of(client, cron_again["traceId"], 1)
        assert detail["entry"] == "OrderReport" and detail["rerunOf"] == cron_id


async def test_a_rerun_from_an_event_span_delivers_the_edited_input_to_that_step_alone(
    tmp_path: Path,
) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (engine, client):
        original = await place(client)
        trace = await trace_of(client, original, 3)
        process = next(s for s in trace["spans"] if s["step"] == "ProcessOrder")
        assert process["topic"] == "order.placed"
        edited = {**process["input"], "id": "edited-1", "quantity": 10}
        answer = await client.post(
            f"/__motia/traces/{original}/rerun",
            json={"fromSpan": process["spanId"], "input": edited},
        )
        assert answer.status_code == 200, answer.text
        new = await trace_of(client, answer.json()["traceId"], 3)
        assert new["rerunOf"] == original and new["rerunOfSpan"] == process["spanId"]
        assert [s["step"] for s in new["spans"]] == ["rerun ProcessOrder", "ProcessOrder",
                                                     "NotifyCustomer"]
        await engine.idle()
        assert engine.state.get("orders", "edited-1")["total"] == 45.0


async def test_a_rerun_from_an_api_span_sends_the_edited_request(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    async with served(root, settings(root)) as (_engine, client):
        original = await place(client)
        trace = await trace_of(client, original, 3)
        api = trace["spans"][0]
        edited = {**api["input"], "body": {"item": "coffee", "quantity": 3}}
        answer = (await client.post(
            f"/__motia/traces/{original}/rerun",
            json={"fromSpan": api["spanId"], "input": edited},
        )).json()
        new = await trace_of(client, answer["traceId"], 3)
        assert new["spans"][0]["input"]["body"] == {"item": "coffee", "quantity": 3}
        assert new["rerunOf"] == original and new["rerunOfSpan"] == api["spanId"]
        bad = await client.post(
            f"/__motia/traces/{original}/rerun",
            json={"fromSpan": api["spanId"], "input": {**api["input"], "body": {"item": ""}}},
        )
        assert bad.status_code == 200 and bad.json()["response"]["status"] == 400
        refused = (await client.get(f"/__motia/traces/{bad.json()['traceId']}")).json()
        assert refused["rerunOf"] == original and refused["rerunOfSpan"] == api["spanId"]
        missing = await client.post(f"/__motia/traces/{'0' * 32}/rerun")
        assert missing.status_code == 404


async def test_export_then_import_elsewhere_keeps_the_ids_and_refuses_a_second_time(
    tmp_path: Path,
) -> None:
    root = shop(tmp_path / "shop")
    other = shop(tmp_path / "other")
    async with served(root, settings(root)) as (_engine, client):
        original = await place(client)
        await trace_of(client, original, 3)
        document = await export(client, original)
    assert document["format"] == "motia-trace"
    assert [c["step"] for c in document["stateChanges"]] == ["ProcessOrder"]
    assert any(r["msg"] == "customer notified" for r in document["logs"])
    async with served(other, settings(other)) as (_engine, client):
        first = await client.post("/__motia/traces/import", json=document)
        assert first.status_code == 201, first.text
        assert first.json()["traceId"] == original
        shown = (await client.get(f"/__motia/traces/{original}")).json()
        assert shown["imported"] is True
        assert [s["spanId"] for s in shown["spans"]] == [
            s["spanId"] for s in document["trace"]["spans"]
        ]
        listed = (await client.get("/__motia/traces")).json()["traces"]
        assert listed[0]["traceId"] == original and listed[0]["imported"] is True
        second = await client.post("/__motia/traces/import", json=document)
        assert second.status_code == 409
        assert original in second.json()["error"]
        junk = await client.post("/__motia/traces/import", json={"format": "nope"})
        assert junk.status_code == 400
        logs = (await client.get("/__motia/logs", params={"traceId": original})).json()["logs"]
        assert any(r["msg"] == "customer notified" for r in logs)
    async with served(other, settings(other)) as (_engine, client):
        kept = (await client.get(f"/__motia/traces/{original}")).json()
        assert kept["imported"] is True
        rerun = await client.post(f"/__motia/traces/{original}/rerun")
        assert rerun.status_code == 200, rerun.text


async def test_an_export_masks_secret_variables(tmp_path: Path, monkeypatch: Any) -> None:
    root = shop(tmp_path / "shop")
    monkeypatch.setenv("SHOP_API_KEY", "key-do-not-share")
    async with served(root, settings(root)) as (_engine, client):
        emitted = await client.post(
            "/__motia/emit",
            json={"topic": "order.placed",
                  "data": {"id": "o-2", "item": "key-do-not-share", "quantity": 1}},
        )
        trace_id = emitted.json()["traceId"]
        await trace_of(client, trace_id, 3)
        document = await export(client, trace_id)
    assert "key-do-not-share" not in str(document)
    assert document["trigger"]["data"]["item"] == "***"


async def test_the_trigger_store_keeps_the_newest_triggers_the_settings_allow(
    tmp_path: Path,
) -> None:
    root = shop(tmp_path / "shop")
    (root / "motia.toml").write_text("trigger_store = 2\n", encoding="utf-8")
    loaded = load_settings(root, {"store": str(root / ".motia" / "store.sqlite3")})
    assert loaded.trigger_store == 2
    with pytest.raises(SettingsError, match="trigger_store_bytes"):
        load_settings(root, {"trigger_store_bytes": 0})
    async with served(root, loaded) as (_engine, client):
        ids = [await place(client) for _ in range(3)]
        for trace_id in ids:
            await trace_of(client, trace_id, 3)
        gone = await client.post(f"/__motia/traces/{ids[0]}/rerun")
        assert gone.status_code == 409
        assert "no longer kept" in gone.json()["error"]
        kept = await client.post(f"/__motia/traces/{ids[2]}/rerun")
        assert kept.status_code == 200


async def test_a_state_value_past_span_body_bytes_is_kept_cut(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    small = Settings(store=str(root / ".motia" / "store.sqlite3"), span_body_bytes=256)
    big = {"id": "o-9", "item": "x" * 1_000, "quantity": 1, "total": 1.0, "status": "processed"}
    async with served(root, small) as (_engine, client):
        assert (await client.put("/__motia/state/orders/o-9", json=big)).status_code == 200
        cron = (await client.post("/__motia/cron/OrderReport/trigger")).json()["traceId"]
        report = await trace_of(client, cron, 1)
    [read] = [op for op in ops(report["spans"]) if op["op"] == "getGroup"]
    cut = read["items"]["o-9"]
    assert cut["$cut"]["bytes"] > 1_000 and cut["$cut"]["limit"] == 256
    assert trace_facts.state_read(report["spans"]) == []


async def test_a_big_body_is_cut_on_its_span_but_kept_whole_to_rerun(tmp_path: Path) -> None:
    root = shop(tmp_path / "shop")
    small = Settings(store=str(root / ".motia" / "store.sqlite3"), span_body_bytes=1024)
    item = "t" * 300_000
    async with served(root, small) as (_engine, client):
        placed = await client.post("/orders", json={"item": item, "quantity": 1})
        original = placed.headers["x-trace-id"]
        trace = await trace_of(client, original, 3)
        assert trace["spans"][0]["input"]["body"]["$cut"]["bytes"] > 300_000
        rerun = (await client.post(f"/__motia/traces/{original}/rerun")).json()
        again = await trace_of(client, rerun["traceId"], 3)
        process = next(s for s in again["spans"] if s["step"] == "ProcessOrder")
        assert process["status"] == "ok"
    triggers_file = root / ".motia" / "store.triggers.sqlite3"
    assert triggers_file.stat().st_size > 600_000  # both requests, whole
