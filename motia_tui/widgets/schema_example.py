"""An example value for a JSON Schema: what the request builder pre-fills a body with.

The example should pass the schema as often as a guess can (required fields present, strings
long enough, numbers inside their bounds) so that pressing send on a fresh request already
exercises the handler rather than the validator. Pure, so it is tested on plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 8
"""Recursive schemas ($ref back to an ancestor) stop here instead of looping."""

STRING_FORMATS: dict[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
}
PLACEHOLDER = "string"


def example_from_schema(schema: Any) -> Any:
    """A value shaped like `schema`; `None` for a missing or meaningless schema."""
    if not isinstance(schema, Mapping):
        return None
    return _example(schema, schema, 0)


def _example(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    if depth > MAX_DEPTH:
        return None
    schema = _resolve(schema, root)
    for given in ("const", "default"):
        if given in schema:
            return schema[given]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if "example" in schema:
        return schema["example"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if isinstance(schema.get("allOf"), list):
        return _example(_merge_all_of(schema, root), root, depth + 1)
    for key in ("oneOf", "anyOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _example(_pick_option(options, root), root, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, depth)
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return False
    return None


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local `$ref`s (`#/$defs/X`, `#/definitions/X`); siblings of `$ref` win."""
    seen: set[str] = set()
    while isinstance(schema.get("$ref"), str) and schema["$ref"] not in seen:
        ref = schema["$ref"]
        seen.add(ref)
        target = _pointer(root, ref)
        if target is None:
            return {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _pointer(root: Mapping[str, Any], ref: str) -> Mapping[str, Any] | None:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, Mapping) else None


def _merge_all_of(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[str] = list(merged.get("required") or [])
    for part in schema["allOf"]:
        if not isinstance(part, Mapping):
            continue
        part = _resolve(part, root)
        properties.update(part.get("properties") or {})
        required.extend(r for r in part.get("required") or [] if r not in required)
        for key, value in part.items():
            if key not in ("properties", "required"):
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
        merged.setdefault("type", "object")
    if required:
        merged["required"] = required
    return merged


def _pick_option(options: list[Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first option that is not `null`: `Optional[X]` should suggest an X."""
    mappings = [o for o in options if isinstance(o, Mapping)]
    for option in mappings:
        if _type_of(_resolve(option, root)) != "null":
            return option
    return mappings[0] if mappings else {}


def _type_of(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _object(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    required = [r for r in schema.get("required") or [] if r in properties]
    names = required + [name for name in properties if name not in required]
    return {
        name: _example(properties[name], root, depth + 1)
        if isinstance(properties[name], Mapping)
        else None
        for name in names
    }


def _array(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> list[Any]:
    items = schema.get("items")
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        return [_example(p, root, depth + 1) for p in prefix if isinstance(p, Mapping)]
    if not isinstance(items, Mapping):
        return []
    count = max(1, int(schema.get("minItems") or 0))
    return [_example(items, root, depth + 1) for _ in range(count)]


def _string(schema: Mapping[str, Any]) -> str:
    text = STRING_FORMATS.get(str(schema.get("format") or ""), PLACEHOLDER)
    low = schema.get("minLength")
    high = schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    """Zero when allowed, else the lower bound (nudged inside when exclusive)."""

    def bound(key: str) -> float | None:
        value = schema.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    low, high = bound("minimum"), bound("maximum")
    open_low, open_high = bound("exclusiveMinimum"), bound("exclusiveMaximum")
    value: float = 0
    if low is not None and value < low:
        value = low
    if open_low is not None and value <= open_low:
        value = open_low + 1 if integer or open_high is None else (open_low + open_high) / 2
    if high is not None and value > high:
        value = high
    if open_high is not None and value >= open_high:
        value = open_high - 1 if integer or open_low is None else (open_low + open_high) / 2
    step = bound("multipleOf")
    if step and value % step:
        value = (value // step + 1) * step
    return int(value) if integer else value
