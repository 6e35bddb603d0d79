"""A step's pydantic model whose validator raises something other than a validation error:
the request still gets the JSON error answer and the failure is a span with its error."""

from __future__ import annotations

from pathlib import Path

from engine_support import served, trace_of, wait_until, write_files

from engine import Settings

FILES = {
    "steps/models.py": """
        from pydantic import BaseModel, field_validator


        class Order(BaseModel):
            item: str

            @field_validator("item")
            @classmethod
            def lookup(cls, value: str) -> str:
                if value == "crash":
                    raise RuntimeError("price list unreachable")
                return value
    """,
    "steps/order_step.py": """
        from .models import Order

        config = {"type": "api", "name": "Order", "path": "/order", "method": "POST",
                  "bodySchema": Order, "emits": ["ordered"]}

        async def handler(req, ctx):
            await ctx.emit({"topic": "ordered", "data": req.body})
            return {"status": 200, "body": {"ok": True}}
    """,
    "steps/ship_step.py": """
        from .models import Order

        config = {"type": "event", "name": "Ship", "subscribes": ["ordered"], "emits": [],
                  "input": Order, "infrastructure": {"queue": {"maxRetries": 0}}}

        async def handler(data, ctx):
            ctx.logger.info("shipped")
    """,
}


async def test_a_body_model_that_raises_answers_500_json_and_keeps_a_span(tmp_path: Path) -> None:
    async with served(write_files(tmp_path / "project", FILES)) as (_engine, client):
        answer = await client.post("/order", json={"item": "crash"})
        assert answer.status_code == 500
        body = answer.json()
        assert "price list unreachable" in body["error"]
        assert body["error"].startswith("Order's bodySchema check failed")
        assert answer.headers["x-trace-id"] == body["traceId"]
        trace = await trace_of(client, body["traceId"], 1)
        (span,) = trace["spans"]
        assert (span["step"], span["status"]) == ("Order", "error")
        assert span["error"]["type"] == "RuntimeError"
        assert "price list unreachable" in span["error"]["message"]
        assert span["input"]["body"] == {"item": "crash"}
        fine = await client.post("/order", json={"item": "book"})
        assert fine.status_code == 200


async def test_an_input_model_that_raises_fails_the_attempt_with_a_span(tmp_path: Path) -> None:
    settings = Settings(retry_base_s=0.05, retry_max_s=0.05)
    async with served(write_files(tmp_path / "project", FILES), settings) as (_engine, client):
        emitted = await client.post(
            "/__motia/emit", json={"topic": "ordered", "data": {"item": "crash"}}
        )
        trace_id = emitted.json()["traceId"]
        trace = await trace_of(client, trace_id, 2)
        ship = [s for s in trace["spans"] if s["step"] == "Ship"]
        assert [s["status"] for s in ship] == ["error"]
        assert "price list unreachable" in ship[0]["error"]["message"]

        async def dead() -> list | None:
            items = (await client.get("/__motia/dlq")).json()["items"]
            return items or None

        (item,) = await wait_until(dead, 5.0, what="the event in the dead-letter queue")
        assert item["step"] == "Ship"
        assert "price list unreachable" in item["error"]
