"""Dicts with attribute access: how Motia's Python runtime hands requests and inputs over.

`req.body.name`, `req["body"]["name"]` and `req.get("body")` must all work, on nested dicts
and on dicts inside lists, because real step files use every one of those spellings.
"""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr


@mypyc_attr(native_class=False)
class AttrDict(dict[str, Any]):
    """A dict whose keys are also attributes; nested values are wrapped on the way in. A
    plain Python class where the module is compiled: attribute hooks need one."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = wrap(value)

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


_NESTED = (dict, list)
"""What `wrap` looks into; a scalar value is kept without a call."""


def wrap(value: Any) -> Any:
    """Wrap dicts (also inside lists) as AttrDicts; leave everything else alone. A dict is
    copied whole and only its nested values replaced, in a plain loop: an event's data is
    wrapped once per run, and a comprehension is a call of its own."""
    if isinstance(value, dict) and not isinstance(value, AttrDict):
        wrapped = AttrDict(value)
        for k, v in value.items():
            if isinstance(v, _NESTED):
                wrapped[k] = wrap(v)
        return wrapped
    if isinstance(value, list):
        return [wrap(v) if isinstance(v, _NESTED) else v for v in value]
    return value


@mypyc_attr(native_class=False)
class ApiRequest(AttrDict):
    """An api step's request: body, pathParams, queryParams, headers, rawBody."""

    __slots__ = ()


ApiResponse = dict[str, Any]
