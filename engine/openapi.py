"""An OpenAPI 3.1 description of a project's api steps, for a frontend team or a client generator.

Every route becomes an operation: its method and path (`:id` written `{id}`), the path
parameters, the declared `queryParams`, `bodySchema` as the JSON request body, one response
per `responseSchema` status, the step's `description`, and its `flows` as tags. Schemas become
components whether the step wrote a JSON Schema dict or a pydantic model: OpenAPI 3.1 speaks
JSON Schema 2020-12, so the schema is used as it is, with its local `$defs` moved into the
components and their `$ref`s pointed there (a `#` in a component means the document's root).

Pure: it takes steps and returns a dict; `/__motia/openapi.json` and `motia openapi` share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from engine.schema import Schema
from engine.steps import Step

OPENAPI_VERSION = "3.1.0"
ERROR_SCHEMA = "Error"
_PATH_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_LOCAL_DEFS = ("$defs", "definitions")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_ERROR = {
    "type": "object",
    "description": "Every error the server answers itself has this shape.",
    "properties": {
        "error": {"type": "string"},
        "details": {},
        "traceId": {"type": "string"},
    },
    "required": ["error"],
}


def openapi_path(path: str) -> str:
    """`/orders/:id` as OpenAPI writes it: `/orders/{id}`."""
    return _PATH_PARAM.sub(r"{\1}", path)


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status {status}"


class _Components:
    """The schemas section, filled as operations name their schemas. A name is picked by the
    schema as the step wrote it: equal schemas share one, different schemas that want the same
    name get a numbered one, so a model used by two steps is one component."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self._written: dict[str, Any] = {}

    def name_for(self, wanted: str, written: Any) -> str:
        base = _SAFE_NAME.sub("_", wanted) or "Schema"
        name, number = base, 1
        while name in self._written and self._written[name] != written:
            number += 1
            name = f"{base}{number}"
        self._written[name] = written
        return name

    def ref(self, wanted: str, schema: Schema) -> dict[str, str]:
        """A `$ref` to `schema`, its local definitions hoisted beside it."""
        top = dict(schema.json_schema)
        definitions: dict[str, tuple[str, Any]] = {}
        for key in _LOCAL_DEFS:
            for def_name, definition in (top.pop(key, None) or {}).items():
                definitions[f"#/{key}/{def_name}"] = (def_name, definition)
        renamed = {
            pointer: self.name_for(def_name, definition)
            for pointer, (def_name, definition) in definitions.items()
        }
        for pointer, (_, definition) in definitions.items():
            self.schemas[renamed[pointer]] = _rewrite(definition, renamed)
        top.pop("$schema", None)
        name = self.name_for(wanted, schema.json_schema)
        self.schemas[name] = _rewrite(top, renamed)
        return {"$ref": f"#/components/schemas/{name}"}


def _rewrite(node: Any, renamed: dict[str, str]) -> Any:
    """`node` with every `$ref` to a hoisted definition pointed at its component."""
    if isinstance(node, dict):
        out = {k: _rewrite(v, renamed) for k, v in node.items()}
        target = out.get("$ref")
        if isinstance(target, str) and target in renamed:
            out["$ref"] = f"#/components/schemas/{renamed[target]}"
        return out
    if isinstance(node, list):
        return [_rewrite(item, renamed) for item in node]
    return node


def _schema_name(step: Step, schema: Schema, role: str) -> str:
    """A pydantic model keeps its class name; a JSON Schema dict is named after its step."""
    if schema.model is not None:
        return str(getattr(schema.model, "__name__", f"{step.name}{role}"))
    return f"{step.name}{role}"


def _parameters(step: Step) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in dict.fromkeys(_PATH_PARAM.findall(step.path or ""))
    ]
    for query in step.query_params:
        param: dict[str, Any] = {
            "name": str(query["name"]),
            "in": "query",
            "required": bool(query.get("required", False)),
            "schema": query.get("schema") if isinstance(query.get("schema"), dict) else {
                "type": "string"
            },
        }
        if query.get("description"):
            param["description"] = str(query["description"])
        params.append(param)
    return params


def _operation(step: Step, components: _Components) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": step.name, "summary": step.name}
    if step.description:
        operation["description"] = step.description
    if step.flows:
        operation["tags"] = list(step.flows)
    parameters = _parameters(step)
    if parameters:
        operation["parameters"] = parameters
    responses: dict[str, Any] = {}
    if step.body_schema is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": components.ref(_schema_name(step, step.body_schema, "Body"),
                                             step.body_schema)
                }
            },
        }
        responses["400"] = _error_response("the body does not match the schema")
    for status, schema in sorted(step.response_schemas.items()):
        response: dict[str, Any] = {"description": reason(status)}
        if schema is not None:
            name = _schema_name(step, schema, f"Response{status}")
            response["content"] = {"application/json": {"schema": components.ref(name, schema)}}
        responses[str(status)] = response
    if not step.response_schemas:
        responses["default"] = {"description": "the handler's answer (no responseSchema)"}
    responses.setdefault("500", _error_response("the handler failed"))
    operation["responses"] = responses
    return operation


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
        },
    }


def openapi_document(
    steps: Iterable[Step],
    *,
    title: str,
    version: str = "0.0.0",
    server_url: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every api step in `steps`."""
    components = _Components()
    components.schemas[components.name_for(ERROR_SCHEMA, _ERROR)] = _ERROR
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    api_steps = [s for s in steps if s.type == "api" and s.path and s.method]
    for step in sorted(api_steps, key=lambda s: (s.path or "", s.method or "")):
        item = paths.setdefault(openapi_path(step.path or "/"), {})
        item[(step.method or "GET").lower()] = _operation(step, components)
        tags.update(dict.fromkeys(step.flows))
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    if tags:
        document["tags"] = [{"name": tag} for tag in tags]
    document["paths"] = paths
    document["components"] = {"schemas": components.schemas}
    return document
