"""Step files and their configs: every field and type, every way to get one wrong, imports."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import logs, wait_until

from engine import Settings
from engine.steps import QueueConfig

MakeProject = Callable[[dict[str, str]], Path]

FULL_PROJECT = {
    "steps/orders_api_step.py": """
        async def auth(req, context, next_fn):
            return await next_fn()

        config = {
            "type": "api",
            "name": "CreateOrder",
            "description": "Create an order",
            "path": "/orders/:id",
            "method": "post",
            "emits": [
                "order.created",
                {"topic": "order.flagged", "label": "flag", "conditional": True},
            ],
            "virtualEmits": [{"topic": "audit", "label": "audit trail"}],
            "virtualSubscribes": ["checkout"],
            "flows": ["orders", "audit"],
            "bodySchema": {"type": "object", "properties": {"qty": {"type": "integer"}}},
            "responseSchema": {200: {"type": "object"}, "400": None},
            "queryParams": [{"name": "dryRun", "description": "do not store"}],
            "middleware": [auth],
            "includeFiles": ["../data/*.json"],
        }

        async def handler(req, context):
            return {"status": 200, "body": {}}
    """,
    "steps/ship_step.py": """
        config = {
            "type": "event",
            "name": "ShipOrder",
            "description": "Ship it",
            "subscribes": ["order.created", "order.flagged"],
            "emits": [],
            "input": {"type": "object", "properties": {"id": {"type": "string"}}},
            "flows": ["orders"],
            "infrastructure": {
                "handler": {"timeout": 12},
                "queue": {
                    "type": "fifo",
                    "maxRetries": 5,
                    "visibilityTimeout": 30,
                    "delaySeconds": 2,
                },
            },
        }

        def handler(input, context):
            pass
    """,
    "steps/nightly_step.py": """
        config = {
            "type": "cron",
            "name": "Nightly",
            "description": "Every night",
            "cron": "0 3 * * *",
            "emits": ["order.created"],
            "flows": ["orders"],
        }

        async def handler(context):
            pass
    """,
    "steps/customer_step.py": """
        config = {
            "type": "noop",
            "name": "Customer",
            "description": "A person at checkout",
            "virtualEmits": ["checkout"],
            "virtualSubscribes": ["audit"],
            "flows": ["orders", "audit"],
        }
    """,
}


async def test_every_config_field_of_every_type(project: MakeProject, serve) -> None:
    async with serve(project(FULL_PROJECT)) as (engine, client):
        data = (await client.get("/__motia/steps")).json()
        assert data["errors"] == []
        steps = {s["name"]: s for s in data["steps"]}
        assert set(steps) == {"CreateOrder", "ShipOrder", "Nightly", "Customer"}
        assert all(s["status"] == "ok" for s in steps.values())

        api = steps["CreateOrder"]
        assert api["type"] == "api"
        assert api["file"] == "steps/orders_api_step.py"
        assert api["line"] == 4
        assert api["description"] == "Create an order"
        assert api["path"] == "/orders/:id"
        assert api["method"] == "POST"
        assert api["flows"] == ["orders", "audit"]
        assert api["emits"] == [
            {"topic": "order.created"},
            {"topic": "order.flagged", "label": "flag", "conditional": True},
        ]
        assert api["virtualEmits"] == [{"topic": "audit", "label": "audit trail"}]
        assert api["virtualSubscribes"] == ["checkout"]
        assert api["subscribes"] == []
        assert api["bodySchema"] == {"type": "object", "properties": {"qty": {"type": "integer"}}}
        assert api["queryParams"] == [{"name": "dryRun", "description": "do not store"}]
        assert "warnings" not in api
        step = engine.steps["CreateOrder"]
        assert set(step.response_schemas) == {200, 400}
        assert step.response_schemas[400] is None
        assert len(step.middleware) == 1

        event = steps["ShipOrder"]
        assert event["type"] == "event"
        assert event["subscribes"] == ["order.created", "order.flagged"]
        assert event["input"] == {"type": "object", "properties": {"id": {"type": "string"}}}
        assert "path" not in event
        ship = engine.steps["ShipOrder"]
        assert ship.timeout_s == 12
        assert ship.queue == QueueConfig(
            fifo=True, max_retries=5, visibility_timeout_s=30, delay_s=2
        )
        assert not ship.is_async

        assert steps["Nightly"]["cron"] == "0 3 * * *"
        assert steps["Nightly"]["emits"] == [{"topic": "order.created"}]
        noop = steps["Customer"]
        assert noop["type"] == "noop"
        assert noop["virtualEmits"] == [{"topic": "checkout"}]
        assert engine.steps["Customer"].handler is None

        flows = {f["name"]: f for f in (await client.get("/__motia/flows")).json()["flows"]}
        assert set(flows) == {"orders", "audit"}
        orders = flows["orders"]["edges"]
        assert {
            "from": "CreateOrder",
            "to": "ShipOrder",
            "topic": "order.flagged",
            "label": "flag",
            "conditional": True,
            "virtual": False,
        } in orders
        assert {"from": "Customer", "to": "CreateOrder", "topic": "checkout", "virtual": True} in (
            orders
        )
        audit = sorted(flows["audit"]["edges"], key=lambda e: e["from"])
        assert audit == [
            {
                "from": "CreateOrder",
                "to": "Customer",
                "topic": "audit",
                "virtual": True,
                "label": "audit trail",
            },
            {"from": "Customer", "to": "CreateOrder", "topic": "checkout", "virtual": True},
        ]
        assert {n["id"] for n in flows["audit"]["nodes"]} == {"CreateOrder", "Customer"}


async def test_defaults_of_an_event_step(project: MakeProject, serve) -> None:
    files = {
        "steps/plain_step.py": """
            config = {"type": "event", "name": "Plain", "subscribes": ["x"]}

            async def handler(input, context):
                pass
        """
    }
    async with serve(project(files)) as (engine, _client):
        step = engine.steps["Plain"]
        assert step.queue == QueueConfig(
            fifo=False, max_retries=3, visibility_timeout_s=900, delay_s=0
        )
        assert step.timeout_s is None
        assert step.flows == []
        assert step.is_async


async def test_unknown_key_is_a_warning_with_a_suggestion(project: MakeProject, serve) -> None:
    files = {
        "steps/typo_step.py": """
            config = {
                "type": "api",
                "name": "Typo",
                "path": "/typo",
                "method": "GET",
                "bodyschema": {"type": "object"},
                "zzz": 1,
            }

            async def handler(req, context):
                return {"status": 200, "body": "typo works"}
        """
    }
    async with serve(project(files)) as (_engine, client):
        data = (await client.get("/__motia/steps")).json()
        assert data["errors"] == []
        (step,) = data["steps"]
        assert step["warnings"] == [
            "unknown config key 'bodyschema' for an api step; did you mean 'bodySchema'?",
            "unknown config key 'zzz' for an api step",
        ]
        warned = await logs(client, level="warn", q="did you mean")
        assert len(warned) == 1
        assert "typo_step.py:1" in warned[0]["msg"]
        assert (await client.get("/typo")).text == "typo works"


BROKEN = {
    "bad_type": ('config = {"type": "webhook", "name": "A"}\n', "'type' must be one of"),
    "missing_name": ('config = {"type": "event", "subscribes": ["x"]}\n', "'name' is required"),
    "missing_handler": (
        'config = {"type": "event", "name": "NoHandler", "subscribes": ["x"]}\n',
        "step 'NoHandler' has no handler",
    ),
    "bad_cron": (
        'config = {"type": "cron", "name": "BadCron", "cron": "61 * * * *"}\n',
        "'cron' must be a valid 5- or 6-field cron expression, got '61 * * * *'",
    ),
    "short_cron": (
        'config = {"type": "cron", "name": "ShortCron", "cron": "* * *"}\n',
        "'cron' must be a valid 5- or 6-field cron expression",
    ),
    "bad_method": (
        'config = {"type": "api", "name": "BadMethod", "path": "/m", "method": "FETCH"}\n',
        "'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, got 'FETCH'",
    ),
    "bad_path": (
        'config = {"type": "api", "name": "BadPath", "path": "greet", "method": "GET"}\n',
        "'path' must be a string starting with '/', got 'greet'",
    ),
    "bad_schema": (
        'config = {"type": "api", "name": "BadSchema", "path": "/s", "method": "POST",'
        ' "bodySchema": {"type": "nope"}}\n',
        "'bodySchema': invalid JSON Schema",
    ),
    "schema_not_a_schema": (
        'config = {"type": "event", "name": "BadInput", "subscribes": ["x"], "input": 42}\n',
        "'input': a schema must be a JSON Schema dict or a pydantic model, not int",
    ),
    "no_subscribes": (
        'config = {"type": "event", "name": "Deaf", "subscribes": []}\n',
        "'subscribes' must list at least one topic",
    ),
    "misspelled_subscribes": (
        'config = {"type": "event", "name": "Typo", "subscribe": ["x"]}\n',
        "step 'Typo': 'subscribes' is required; did you mean 'subscribes' instead of 'subscribe'?",
    ),
    "misspelled_path": (
        'config = {"type": "api", "name": "NoPath", "paht": "/x", "method": "GET"}\n',
        "'path' is required; did you mean 'path' instead of 'paht'?",
    ),
    "bad_emits": (
        'config = {"type": "event", "name": "BadEmits", "subscribes": ["x"], "emits": "y"}\n',
        "'emits' must be a list of topics",
    ),
    "bad_queue": (
        'config = {"type": "event", "name": "BadQueue", "subscribes": ["x"],'
        ' "infrastructure": {"queue": {"type": "lifo"}}}\n',
        "infrastructure.queue.type must be 'standard' or 'fifo', got 'lifo'",
    ),
    "bad_retries": (
        'config = {"type": "event", "name": "BadRetries", "subscribes": ["x"],'
        ' "infrastructure": {"queue": {"maxRetries": -1}}}\n',
        "infrastructure.queue.maxRetries must be a whole number >= 0, got -1",
    ),
    "zero_timeout": (
        'config = {"type": "event", "name": "ZeroTimeout", "subscribes": ["x"],'
        ' "infrastructure": {"handler": {"timeout": 0}}}\n',
        "infrastructure.handler.timeout must be a positive number, got 0",
    ),
    "nan_visibility": (
        'config = {"type": "event", "name": "NanVisibility", "subscribes": ["x"],'
        ' "infrastructure": {"queue": {"visibilityTimeout": float("nan")}}}\n',
        "infrastructure.queue.visibilityTimeout must be a positive number, got nan",
    ),
    "negative_delay": (
        'config = {"type": "event", "name": "NegativeDelay", "subscribes": ["x"],'
        ' "infrastructure": {"queue": {"delaySeconds": -5}}}\n',
        "infrastructure.queue.delaySeconds must be a non-negative number, got -5",
    ),
    "bad_response_key": (
        'config = {"type": "api", "name": "BadResp", "path": "/r", "method": "GET",'
        ' "responseSchema": {"ok": {}}}\n',
        "'responseSchema' key 'ok' is not a status code",
    ),
    "bad_middleware": (
        'config = {"type": "api", "name": "BadMw", "path": "/w", "method": "GET",'
        ' "middleware": ["auth"]}\n',
        "'middleware' must be a list of callables",
    ),
    "not_a_dict": ('config = ["type", "api"]\n', "'config' must be a dict, not list"),
}


async def test_invalid_configs_are_reported_with_file_and_line(project: MakeProject, serve) -> None:
    header = '"""A broken step."""\n\nimport os\n\n'
    handler = "\n\ndef handler(*args):\n    return {'status': 200}\n"
    files = {
        f"steps/{name}_step.py": header + source + ("" if name == "missing_handler" else handler)
        for name, (source, _) in BROKEN.items()
    }
    files["steps/good_step.py"] = """
        config = {"type": "api", "name": "Good", "path": "/good", "method": "GET"}

        def handler(req, context):
            return {"status": 200, "body": {"ok": True}}
    """
    async with serve(project(files)) as (_engine, client):
        data = (await client.get("/__motia/steps")).json()
        assert [s["name"] for s in data["steps"]] == ["Good"]
        errors = {Path(e["file"]).name.removesuffix("_step.py"): e for e in data["errors"]}
        assert set(errors) == set(BROKEN)
        for name, (_source, message) in BROKEN.items():
            error = errors[name]
            assert error["line"] == 5, (name, error)
            assert message in error["message"], (name, error["message"])
            assert Path(error["file"]).is_absolute()
        response = await client.get("/good")
        assert response.status_code == 200
        assert response.json() == {"ok": True}
        failed = await logs(client, level="error", q="failed to load")
        assert len(failed) == len(BROKEN)


async def test_syntax_and_import_errors_name_their_line(project: MakeProject, serve) -> None:
    files = {
        "steps/syntax_step.py": """
            config = {"type": "event", "name": "Syntax", "subscribes": ["x"]}


            def handler(input, context)
                pass
        """,
        "steps/raises_step.py": """
            import json

            VALUE = json.loads("{not json")
            config = {"type": "event", "name": "Raises", "subscribes": ["x"]}
        """,
        "steps/missing_module_step.py": """
            from a_module_that_does_not_exist import thing
        """,
        "steps/no_config_step.py": """
            def handler(input, context):
                pass
        """,
        "steps/fine_step.py": """
            config = {"type": "api", "name": "Fine", "path": "/fine", "method": "GET"}

            async def handler(req, context):
                return {"status": 200, "body": "fine"}
        """,
    }
    async with serve(project(files)) as (_engine, client):
        data = (await client.get("/__motia/steps")).json()
        errors = {Path(e["file"]).name: e for e in data["errors"]}
        assert errors["syntax_step.py"]["line"] == 4
        assert errors["syntax_step.py"]["message"].startswith("syntax error")
        assert errors["raises_step.py"]["line"] == 3
        assert "JSONDecodeError" in errors["raises_step.py"]["message"]
        assert errors["missing_module_step.py"]["line"] == 1
        assert "a_module_that_does_not_exist" in errors["missing_module_step.py"]["message"]
        assert errors["no_config_step.py"]["message"] == "no `config` defined"
        assert [s["name"] for s in data["steps"]] == ["Fine"]
        assert (await client.get("/fine")).text == "fine"


async def test_a_broken_helper_is_reported_at_its_own_line_naming_its_importers(
    project: MakeProject, serve
) -> None:
    greeter = """
        from src.lib.greet import greet

        config = {{"type": "api", "name": "{name}", "path": "/{path}", "method": "GET"}}

        async def handler(req, context):
            return {{"status": 200, "body": greet()}}
    """
    files = {
        "src/lib/greet.py": 'def greet():\n    return "hi"\n\n\ndef broken(:\n    pass\n',
        "src/lib/failing.py": 'VALUE = 1\nraise RuntimeError("no config server")\n',
        "steps/hello_step.py": greeter.format(name="Hello", path="hello"),
        "steps/welcome_step.py": greeter.format(name="Welcome", path="welcome"),
        "steps/boot_step.py": """
            import src.lib.failing

            config = {"type": "event", "name": "Boot", "subscribes": ["x"]}

            async def handler(input, context):
                pass
        """,
    }
    async with serve(project(files)) as (engine, client):
        errors = (await client.get("/__motia/steps")).json()["errors"]
        by_file = {Path(e["file"]).relative_to(engine.project_dir).as_posix(): e for e in errors}
        assert set(by_file) == {"src/lib/greet.py", "src/lib/failing.py"}
        syntax = by_file["src/lib/greet.py"]
        assert syntax["line"] == 5
        assert syntax["importedBy"] == ["steps/hello_step.py", "steps/welcome_step.py"]
        assert syntax["message"].startswith("syntax error")
        assert syntax["message"].endswith(
            "(imported by steps/hello_step.py, steps/welcome_step.py)"
        )
        raised = by_file["src/lib/failing.py"]
        assert raised["line"] == 2
        assert "RuntimeError: no config server" in raised["message"]
        assert raised["importedBy"] == ["steps/boot_step.py"]
        failed = await logs(client, level="error", q="greet.py:5")
        assert len(failed) == 2


async def test_duplicate_names_and_route_clashes_name_both_files(
    project: MakeProject, serve
) -> None:
    files = {
        "steps/a/first_step.py": """
            config = {"type": "event", "name": "Twin", "subscribes": ["x"]}

            async def handler(input, context):
                pass
        """,
        "steps/b/second_step.py": """
            config = {"type": "event", "name": "Twin", "subscribes": ["y"]}

            async def handler(input, context):
                pass
        """,
        "steps/route_a_step.py": """
            config = {"type": "api", "name": "RouteA", "path": "/same/:id", "method": "GET"}

            async def handler(req, context):
                return {"status": 200, "body": "A"}
        """,
        "steps/route_b_step.py": """
            config = {"type": "api", "name": "RouteB", "path": "/same/:id", "method": "GET"}

            async def handler(req, context):
                return {"status": 200, "body": "B"}
        """,
        "steps/route_c_step.py": """
            config = {"type": "api", "name": "RouteC", "path": "/same/:id", "method": "PUT"}

            async def handler(req, context):
                return {"status": 200, "body": "C"}
        """,
    }
    root = project(files)
    async with serve(root) as (_engine, client):
        data = (await client.get("/__motia/steps")).json()
        assert sorted(s["name"] for s in data["steps"]) == ["RouteA", "RouteC", "Twin"]
        errors = {Path(e["file"]).name: e["message"] for e in data["errors"]}
        assert set(errors) == {"second_step.py", "route_b_step.py"}
        twin = errors["second_step.py"]
        assert "duplicate step name 'Twin'" in twin
        assert str(root / "steps/a/first_step.py") in twin
        clash = errors["route_b_step.py"]
        assert "route clash: GET /same/:id" in clash
        assert "RouteA" in clash
        assert str(root / "steps/route_a_step.py") in clash
        assert (await client.get("/same/1")).text == "A"
        assert (await client.put("/same/1")).text == "C"


async def test_six_field_cron_puts_seconds_first(project: MakeProject, serve) -> None:
    files = {
        "steps/every_second_step.py": """
            config = {"type": "cron", "name": "EverySecond", "cron": "* * * * * *"}

            async def handler(context):
                ticks = await context.state.get("cron", "ticks") or 0
                await context.state.set("cron", "ticks", ticks + 1)
        """,
        "steps/at_fifteen_step.py": """
            config = {"type": "cron", "name": "AtFifteen", "cron": "15 * * * * *"}

            async def handler(context):
                pass
        """,
        "steps/five_field_step.py": """
            config = {"type": "cron", "name": "FiveField", "cron": "*/5 * * * *"}

            async def handler(context):
                pass
        """,
    }
    async with serve(project(files)) as (engine, client):
        fires = (await client.get("/__motia/stats")).json()["cron"]
        assert fires["AtFifteen"] % 60 == 15
        assert fires["FiveField"] % 300 == 0
        assert fires["EverySecond"] - time.time() <= 1.001
        await wait_until(lambda: (engine.state.get("cron", "ticks") or 0) >= 2, timeout=15)
        traces = (await client.get("/__motia/traces", params={"step": "EverySecond"})).json()
        assert traces["traces"][0]["entry"] == "EverySecond"
        assert traces["traces"][0]["kind"] == "cron"


PYDANTIC_PROJECT = {
    "steps/models.py": """
        from pydantic import BaseModel


        class Address(BaseModel):
            city: str
            zip: str


        class Customer(BaseModel):
            name: str
            address: Address
    """,
    "steps/pydantic_api_step.py": """
        from .models import Customer

        config = {
            "type": "api",
            "name": "ByModel",
            "path": "/model",
            "method": "POST",
            "bodySchema": Customer,
            "responseSchema": {200: Customer},
            "emits": ["customer.saved"],
        }

        async def handler(req, context):
            await context.emit({"topic": "customer.saved", "data": req.body})
            return {"status": 200, "body": {"city": req.body.address.city}}
    """,
    "steps/json_schema_api_step.py": """
        from .models import Customer

        config = {
            "type": "api",
            "name": "ByJsonSchema",
            "path": "/schema",
            "method": "POST",
            "bodySchema": Customer.model_json_schema(),
        }

        async def handler(req, context):
            return {"status": 201, "body": {"zip": req.body.address.zip}}
    """,
    "steps/pydantic_event_step.py": """
        from .models import Customer

        config = {
            "type": "event",
            "name": "SaveCustomer",
            "subscribes": ["customer.saved", "customer.raw"],
            "input": Customer,
        }

        async def handler(input, context):
            context.state.set("customers", "last", input)
    """,
}


async def test_pydantic_models_and_their_json_schemas(project: MakeProject, serve) -> None:
    async with serve(project(PYDANTIC_PROJECT)) as (engine, client):
        steps = {s["name"]: s for s in (await client.get("/__motia/steps")).json()["steps"]}
        schema = steps["ByJsonSchema"]["bodySchema"]
        assert "$defs" in schema
        assert schema["properties"]["address"] == {"$ref": "#/$defs/Address"}
        assert steps["ByModel"]["bodySchema"]["$defs"]["Address"]["required"] == ["city", "zip"]
        assert steps["SaveCustomer"]["input"]["title"] == "Customer"

        good = {"name": "Ada", "address": {"city": "London", "zip": "N1"}}
        response = await client.post("/model", json=good)
        assert response.status_code == 200
        assert response.json() == {"city": "London"}
        response = await client.post("/schema", json=good)
        assert response.status_code == 201
        assert response.json() == {"zip": "N1"}

        bad = {"name": "Ada", "address": {"zip": 7}}
        by_model = await client.post("/model", json=bad)
        assert by_model.status_code == 400
        assert {d["field"] for d in by_model.json()["details"]} == {"address.city", "address.zip"}
        by_schema = await client.post("/schema", json=bad)
        assert by_schema.status_code == 400
        assert {d["field"] for d in by_schema.json()["details"]} == {
            "address.city",
            "address.zip",
        }

        await engine.idle()
        assert engine.state.get("customers", "last") == good
        engine.emit("customer.raw", {"name": 5})
        await engine.idle()
        assert engine.state.get("customers", "last") == {"name": 5}
        warned = await logs(client, step="SaveCustomer", level="warn")
        assert len(warned) == 1
        assert "does not match SaveCustomer's schema" in warned[0]["msg"]
        assert {d["field"] for d in warned[0]["details"]} == {"name", "address"}


async def test_file_names_that_are_not_identifiers(project: MakeProject, serve) -> None:
    files = {
        "steps/03-content-personalization_step.py": """
            config = {
                "type": "api",
                "name": "Personalize",
                "path": "/personalize",
                "method": "POST",
                "emits": ["documents.process"],
            }

            async def handler(req, context):
                await context.emit({"topic": "documents.process", "data": {"doc": "a.pdf"}})
                return {"status": 202, "body": {"queued": True}}
        """,
        "src/event-steps/process-documents.step.py": """
            from .helpers import describe

            config = {
                "type": "event",
                "name": "ProcessDocuments",
                "subscribes": ["documents.process"],
            }

            async def handler(input, context):
                context.state.set("docs", input.doc, describe(input.doc))
        """,
        "src/event-steps/helpers.py": """
            def describe(name):
                return f"processed {name}"
        """,
    }
    async with serve(project(files)) as (engine, client):
        data = (await client.get("/__motia/steps")).json()
        assert data["errors"] == []
        files_by_name = {s["name"]: s["file"] for s in data["steps"]}
        assert files_by_name == {
            "Personalize": "steps/03-content-personalization_step.py",
            "ProcessDocuments": "src/event-steps/process-documents.step.py",
        }
        assert (await client.post("/personalize")).status_code == 202
        await engine.idle()
        assert engine.state.get("docs", "a.pdf") == "processed a.pdf"


async def test_relative_and_absolute_imports(project: MakeProject, serve) -> None:
    files = {
        "steps/orders/types.py": """
            from dataclasses import dataclass

            @dataclass
            class Order:
                id: str
                qty: int
        """,
        "steps/orders/create_order_step.py": """
            from .types import Order
            from src.services.pet_store import pet_store_service
            from src.services import pricing

            config = {"type": "api", "name": "CreateOrder", "path": "/orders", "method": "POST"}

            async def handler(req, context):
                order = Order(id="o1", qty=req.body.qty)
                return {
                    "status": 200,
                    "body": {
                        "order": vars(order),
                        "pet": pet_store_service.find("rex"),
                        "price": pricing.price(order.qty),
                    },
                }
        """,
        "src/services/__init__.py": "",
        "src/services/pet_store.py": """
            class PetStore:
                def find(self, name):
                    return {"name": name, "kind": "dog"}

            pet_store_service = PetStore()
        """,
        "src/services/pricing.py": """
            def price(qty):
                return qty * 3
        """,
    }
    async with serve(project(files)) as (_engine, client):
        response = await client.post("/orders", json={"qty": 2})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "order": {"id": "o1", "qty": 2},
            "pet": {"name": "rex", "kind": "dog"},
            "price": 6,
        }


async def test_dotenv_loads_without_overriding(
    project: MakeProject, serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTIA_TEST_KEEP", "from-environment")
    monkeypatch.delenv("MOTIA_TEST_NEW", raising=False)
    files = {
        ".env": "MOTIA_TEST_NEW=from-dotenv\nMOTIA_TEST_KEEP=from-dotenv\n",
        "steps/env_step.py": """
            import os

            AT_IMPORT = os.environ.get("MOTIA_TEST_NEW")

            config = {"type": "api", "name": "Env", "path": "/env", "method": "GET"}

            def handler(req, context):
                return {
                    "status": 200,
                    "body": {
                        "atImport": AT_IMPORT,
                        "new": os.environ.get("MOTIA_TEST_NEW"),
                        "keep": os.environ.get("MOTIA_TEST_KEEP"),
                    },
                }
        """,
    }
    async with serve(project(files)) as (_engine, client):
        assert (await client.get("/env")).json() == {
            "atImport": "from-dotenv",
            "new": "from-dotenv",
            "keep": "from-environment",
        }


async def test_skipped_folders_and_other_files(project: MakeProject, serve) -> None:
    step = """
        config = {{"type": "api", "name": "{name}", "path": "/{name}", "method": "GET"}}

        async def handler(req, context):
            return {{"status": 200, "body": "{name}"}}
    """
    files: dict[str, Any] = {
        "steps/kept_step.py": step.format(name="Kept"),
        "steps/node_modules/pkg/a_step.py": step.format(name="InNodeModules"),
        "steps/.hidden/b_step.py": step.format(name="Hidden"),
        "src/.venv/lib/c_step.py": step.format(name="InVenv"),
        "steps/python_modules/d_step.py": step.format(name="InPythonModules"),
        "other/e_step.py": step.format(name="OutsideRoots"),
        "steps/helper_module.py": "raise RuntimeError('never imported')\n",
        "src/nested/deep/f.step.py": step.format(name="Deep"),
    }
    async with serve(project(files), Settings()) as (_engine, client):
        data = (await client.get("/__motia/steps")).json()
        assert data["errors"] == []
        assert sorted(s["name"] for s in data["steps"]) == ["Deep", "Kept"]
