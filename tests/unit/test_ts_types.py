"""JSON Schema to TypeScript for types.d.ts: what each schema keyword becomes."""

from __future__ import annotations

from engine.node.types import ts_type


def test_scalars_arrays_and_objects() -> None:
    assert ts_type({"type": "string"}) == "string"
    assert ts_type({"type": "integer"}) == "number"
    assert ts_type({"type": ["string", "null"]}) == "string | null"
    assert ts_type({"type": "array", "items": {"type": "boolean"}}) == "Array<boolean>"
    schema = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "two words": {"type": "number"}},
        "required": ["id"],
    }
    assert ts_type(schema) == '{ id: string; "two words"?: number }'
    assert ts_type({"type": "object"}) == "Record<string, unknown>"
    assert ts_type({"type": "object", "additionalProperties": {"type": "number"}}) == (
        "{ [key: string]: number }"
    )


def test_enums_unions_and_what_cannot_be_said() -> None:
    assert ts_type({"enum": ["a", "b", 3]}) == '"a" | "b" | 3'
    assert ts_type({"const": "fixed"}) == '"fixed"'
    assert ts_type({"anyOf": [{"type": "string"}, {"type": "number"}]}) == "string | number"
    assert ts_type({"allOf": [{"type": "object"}]}) == "(Record<string, unknown>)"
    assert ts_type({}) == "unknown"
    assert ts_type(None) == "unknown"
    deep: dict[str, object] = {"type": "string"}
    for _ in range(20):
        deep = {"type": "array", "items": deep}
    assert ts_type(deep).count("Array<") <= 14 and "unknown" in ts_type(deep)
