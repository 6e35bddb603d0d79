"""The OpenAPI 3.1 document: what each api step gives, checked by a real spec validator, served
at `/__motia/openapi.json` behind the introspection guards, and written by `motia openapi`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate

from engine.discovery import load_steps
from engine.openapi import openapi_document, openapi_path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXAMPLE = ROOT / "examples" / "default"
MOTIA = [sys.executable, "-m", "motia_tui.cli"]
MakeProject = Callable[[dict[str, str]], Path]

EVERY_SCHEMA_FORM = {
    "steps/models.py": """
        from pydantic import BaseModel

        class Address(BaseModel):
            street: str
            city: str

        class Customer(BaseModel):
            name: str
            address: Address
            previous: list[Address] = []

        class Created(BaseModel):
            id: str
    """,
    "steps/create_customer_step.py": """
        from .models import Created, Customer

        config = {
            "type": "api",
            "name": "CreateCustomer",
            "description": "Register a customer",
            "path": "/teams/:team/customers",
            "method": "POST",
            "emits": [],
            "flows": ["customers", "onboarding"],
            "bodySchema": Customer,
            "responseSchema": {201: Created, 409: {"type": "object",
                               "properties": {"error": {"type": "string"}}}},
            "queryParams": [{"name": "dryRun", "description": "validate only"}],
        }

        async def handler(req, context):
            return {"status": 201, "body": {"id": "c1"}}
    """,
    "steps/get_customer_step.py": """
        from .models import Customer

        config = {
            "type": "api",
            "name": "GetCustomer",
            "path": "/teams/:team/customers/:id",
            "method": "GET",
            "emits": [],
            "flows": ["customers"],
            "responseSchema": {200: Customer, 404: None},
        }

        async def handler(req, context):
            return {"status": 404}
    """,
    "steps/tag_step.py": """
        config = {
            "type": "api",
            "name": "TagCustomer",
            "path": "/tags",
            "method": "PUT",
            "emits": [],
            "bodySchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}}},
                "required": ["tags"],
                "$defs": {"tag": {"type": "string", "pattern": "^[a-z]+$"}},
            },
        }

        async def handler(req, context):
            return {"status": 204}
    """,
    "steps/ping_step.py": """
        config = {"type": "api", "name": "Ping", "path": "/ping", "method": "HEAD",
                  "emits": []}

        async def handler(req, context):
            return {"status": 200}
    """,
    "steps/listen_step.py": """
        config = {"type": "event", "name": "Listen", "subscribes": ["x"], "emits": []}

        async def handler(input, context):
            pass
    """,
}


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _every_ref(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _every_ref(value)]
    if isinstance(node, list):
        return [r for item in node for r in _every_ref(item)]
    return []


def test_paths_are_written_with_braces() -> None:
    assert openapi_path("/teams/:team/customers/:id") == "/teams/{team}/customers/{id}"
    assert openapi_path("/") == "/"


def test_the_default_example_is_a_valid_document(tmp_path: Path) -> None:
    example = shutil.copytree(DEFAULT_EXAMPLE, tmp_path / "default")
    steps, errors = load_steps(example)
    assert errors == []
    document = openapi_document(steps, title="default")
    validate(document)
    order = document["paths"]["/orders"]["post"]
    assert order["operationId"] == "PlaceOrder"
    assert order["description"] == "Accept an order and queue it for processing"
    assert order["tags"] == ["orders"]
    body = _resolve(document, order["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert body["required"] == ["item", "quantity"]
    answer = order["responses"]["202"]["content"]["application/json"]["schema"]
    assert _resolve(document, answer["$ref"])["required"] == ["orderId"]
    assert "400" in order["responses"]
    assert document["paths"]["/default"]["get"]["tags"] == ["default"]
    assert {t["name"] for t in document["tags"]} == {"orders", "default"}


def test_every_schema_form_lands_in_the_components(project: MakeProject) -> None:
    steps, errors = load_steps(project(EVERY_SCHEMA_FORM))
    assert errors == []
    document = openapi_document(steps, title="shop", server_url="http://127.0.0.1:3000")
    validate(document)
    for ref in _every_ref(document):
        assert ref.startswith("#/components/schemas/"), ref
        _resolve(document, ref)  # every reference points at something

    schemas = document["components"]["schemas"]
    assert {"Customer", "Address", "Created", "TagCustomerBody", "Error"} <= set(schemas)
    assert "$defs" not in schemas["Customer"]
    assert schemas["Customer"]["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    assert "$schema" not in schemas["TagCustomerBody"]
    assert schemas["TagCustomerBody"]["properties"]["tags"]["items"] == {
        "$ref": "#/components/schemas/tag"
    }

    create = document["paths"]["/teams/{team}/customers"]["post"]
    assert create["tags"] == ["customers", "onboarding"]
    assert create["parameters"] == [
        {"name": "team", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "dryRun", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "validate only"},
    ]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Customer"
    }
    assert set(create["responses"]) == {"201", "409", "400", "500"}
    assert create["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateCustomerResponse409"
    }
    read = document["paths"]["/teams/{team}/customers/{id}"]["get"]
    assert [p["name"] for p in read["parameters"]] == ["team", "id"]
    assert read["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Customer"
    }
    assert "content" not in read["responses"]["404"]
    assert "head" in document["paths"]["/ping"]
    assert "default" in document["paths"]["/ping"]["head"]["responses"]
    assert document["servers"] == [{"url": "http://127.0.0.1:3000"}]
    assert not any("Listen" in json.dumps(item) for item in document["paths"].values())


def test_two_different_schemas_wanting_one_name_get_two() -> None:
    from engine.openapi import _Components
    from engine.schema import Schema

    components = _Components()
    first = components.ref("Item", Schema({"type": "string"}))
    again = components.ref("Item", Schema({"type": "string"}))
    other = components.ref("Item", Schema({"type": "integer"}))
    assert first == again == {"$ref": "#/components/schemas/Item"}
    assert other == {"$ref": "#/components/schemas/Item2"}


async def test_the_document_is_served_behind_the_introspection_guards(
    project: MakeProject, serve: Any
) -> None:
    folder = project(EVERY_SCHEMA_FORM)
    async with serve(folder, token="s3cret-token") as (_engine, client):
        refused = await client.get("/__motia/openapi.json")
        assert refused.status_code == 401
        assert "error" in refused.json()
        foreign = await client.get(
            "/__motia/openapi.json",
            headers={"authorization": "Bearer s3cret-token", "origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
        answer = await client.get(
            "/__motia/openapi.json", headers={"authorization": "Bearer s3cret-token"}
        )
        assert answer.status_code == 200
        document = answer.json()
    validate(document)
    assert document["info"]["title"] == "project"
    assert document["servers"] == [{"url": str(client.base_url).rstrip("/")}]
    assert "/teams/{team}/customers" in document["paths"]


def test_the_command_writes_json_or_yaml(project: MakeProject, tmp_path: Path) -> None:
    folder = project(EVERY_SCHEMA_FORM)
    out = tmp_path / "api.json"
    done = subprocess.run([*MOTIA, "openapi", "-o", str(out), "--dir", str(folder)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text(encoding="utf-8"))
    validate(written)
    shown = subprocess.run([*MOTIA, "openapi", "--yaml", "--port", "4000"], cwd=folder,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    from_yaml = yaml.safe_load(shown.stdout)
    validate(from_yaml)
    assert from_yaml["paths"] == written["paths"]
    assert from_yaml["servers"] == [{"url": "http://127.0.0.1:4000"}]
    assert not (folder / ".motia").exists()  # nothing started, nothing stored


def test_the_command_names_a_broken_step_and_writes_nothing(
    project: MakeProject, tmp_path: Path
) -> None:
    folder = project({**EVERY_SCHEMA_FORM, "steps/broken_step.py": "config = {\n"})
    out = tmp_path / "api.json"
    done = subprocess.run([*MOTIA, "openapi", "-o", str(out), "--dir", str(folder)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "broken_step.py:" in done.stderr
    assert not out.exists()


JS_STEP = """
export const config = {
  type: 'api',
  name: 'ListTags',
  description: 'Every tag, from a JavaScript step',
  path: '/tags/:kind',
  method: 'POST',
  emits: [],
  flows: ['tags'],
  bodySchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
  responseSchema: { 200: { type: 'array', items: { type: 'string' } } },
}

export const handler = async () => ({ status: 200, body: [] })
"""


def test_the_command_describes_node_steps_too(project: MakeProject) -> None:
    folder = project({"steps/hello_step.py": EVERY_SCHEMA_FORM["steps/ping_step.py"],
                      "steps/list-tags.step.js": JS_STEP})
    done = subprocess.run([*MOTIA, "openapi", "--dir", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    validate(document)
    tags = document["paths"]["/tags/{kind}"]["post"]
    assert tags["description"] == "Every tag, from a JavaScript step"
    assert tags["tags"] == ["tags"]
    body = tags["requestBody"]["content"]["application/json"]["schema"]
    assert _resolve(document, body["$ref"])["required"] == ["q"]
    assert "head" in document["paths"]["/ping"]
