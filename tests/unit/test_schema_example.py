"""Example values from JSON Schemas: they should pass the schema they came from."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from motia_tui.widgets.schema_example import MAX_DEPTH, example_from_schema


class Address(BaseModel):
    street: str = Field(min_length=3)
    zip: str | None = None


class Order(BaseModel):
    id: int = Field(ge=1)
    quantity: int = Field(gt=0, le=10)
    price: float = Field(ge=0.5, multiple_of=0.5)
    email: str = Field(json_schema_extra={"format": "email"})
    tags: list[str] = Field(min_length=2)
    ship_to: Address
    gift: bool = False
    notes: str | None = None


SCHEMAS: dict[str, dict[str, Any]] = {
    "the basic fixture's body": {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}},
        "required": ["name"],
    },
    "pydantic with $defs and $ref": Order.model_json_schema(),
    "nested arrays of objects": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"sku": {"type": "string", "maxLength": 3}},
                    "required": ["sku"],
                },
            }
        },
        "required": ["items"],
    },
    "allOf merged": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"enum": ["x", "y"]}}, "required": ["b"]},
        ]
    },
    "anyOf skips null": {"anyOf": [{"type": "null"}, {"type": "string", "format": "uuid"}]},
    "type list": {"type": ["null", "integer"], "minimum": 5},
    "exclusive bounds": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
    "tuple": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
    "date-time": {"type": "string", "format": "date-time"},
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_example_is_valid_against_its_schema(name: str) -> None:
    schema = SCHEMAS[name]
    jsonschema.validate(example_from_schema(schema), schema)


def test_the_greeting_body_is_a_usable_request() -> None:
    assert example_from_schema(SCHEMAS["the basic fixture's body"]) == {"name": "string"}


def test_pydantic_model_example_follows_refs_and_keeps_field_order() -> None:
    example = example_from_schema(Order.model_json_schema())
    assert list(example) == [
        "id",
        "quantity",
        "price",
        "email",
        "tags",
        "ship_to",
        "gift",
        "notes",
    ]
    assert example["ship_to"] == {"street": "string", "zip": None}
    assert example["email"] == "user@example.com"
    assert example["tags"] == ["string", "string"]
    assert example["gift"] is False  # the default wins over a made-up value


def test_given_values_win_in_order_const_default_examples_enum() -> None:
    assert example_from_schema({"const": 7, "default": 1}) == 7
    assert example_from_schema({"type": "integer", "default": 3}) == 3
    assert example_from_schema({"type": "string", "examples": ["ada"]}) == "ada"
    assert example_from_schema({"enum": ["b", "a"]}) == "b"


def test_recursive_schema_stops_at_max_depth() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/Node"}},
                "required": ["child"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    example = example_from_schema(schema)
    depth = 0
    while isinstance(example, dict):
        example = example["child"]
        depth += 1
    assert example is None
    assert depth <= MAX_DEPTH + 1


@pytest.mark.parametrize("schema", [None, "string", 3, {}, {"$ref": "#/$defs/Missing"}])
def test_missing_or_meaningless_schemas_give_none(schema: Any) -> None:
    assert example_from_schema(schema) is None
