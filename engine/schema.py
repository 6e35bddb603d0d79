"""Schemas as Motia steps write them: a JSON Schema dict, a pydantic model class, or None.

Both kinds answer the same two questions: what the schema looks like as JSON Schema (for the
workbench to show and pre-fill) and which fields a value gets wrong (for 400 answers and
input warnings that name the failing fields).
"""

from __future__ import annotations

from typing import Any


class Schema:
    """A validated, reusable schema; `errors(value)` lists what is wrong, empty when valid."""

    def __init__(self, json_schema: dict[str, Any], model: Any | None = None) -> None:
        import jsonschema  # on first use: a project without schemas starts without it
        from jsonschema.validators import validator_for

        self.json_schema = json_schema
        self.model = model
        cls = validator_for(json_schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(json_schema)
        self._validator = cls(json_schema)

    def errors(self, value: Any) -> list[dict[str, str]]:
        if self.model is not None:
            from pydantic import ValidationError

            try:
                self.model.model_validate(value)
            except ValidationError as exc:
                return [
                    {
                        "field": ".".join(str(p) for p in err["loc"]) or "(root)",
                        "message": err["msg"],
                    }
                    for err in exc.errors()
                ]
            return []
        problems = []
        for err in sorted(self._validator.iter_errors(value), key=lambda e: list(e.path)):
            path = [str(p) for p in err.absolute_path]
            required = err.validator_value
            if err.validator == "required" and isinstance(err.instance, dict) and isinstance(
                required, list
            ):
                missing = [k for k in required if k not in err.instance]
                path.extend(missing[:1])
            problems.append({"field": ".".join(path) or "(root)", "message": err.message})
        return problems


def to_schema(raw: Any) -> Schema | None:
    """Accept what Motia accepts; raise ValueError with a reason otherwise."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        import jsonschema

        try:
            return Schema(raw)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"invalid JSON Schema: {exc.message}") from None
    if isinstance(raw, type) and hasattr(raw, "model_json_schema"):
        return Schema(raw.model_json_schema(), model=raw)
    raise ValueError(
        f"a schema must be a JSON Schema dict or a pydantic model, not {type(raw).__name__}"
    )
