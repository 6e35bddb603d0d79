"""Turning the request builder's fields into a method, a URL path, headers and a body.

Pure, so the Endpoints pane only moves text between inputs and these functions, and the
rules (how `:params` are filled, how a header line is read) are tested without a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, urlencode

PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
"""Methods whose builder starts with no body (one can still be typed and sent)."""


def path_params(template: str) -> list[str]:
    """The `:name` parameters of a route path, in order, each once."""
    names: list[str] = []
    for name in PARAM.findall(template):
        if name not in names:
            names.append(name)
    return names


def fill_path(template: str, values: Mapping[str, str]) -> str:
    """Substitute URL-quoted values; a parameter left empty keeps its `:name`."""

    def value(match: re.Match[str]) -> str:
        given = values.get(match.group(1), "")
        return quote(given, safe="") if given else match.group(0)

    return PARAM.sub(value, template)


def query_string(named: Iterable[tuple[str, str]], extra: str) -> str:
    """`?a=1&b=2` from the declared parameters that have a value plus a free-form extra."""
    pairs = [(k, v) for k, v in named if v]
    pairs += parse_qsl(extra.strip().lstrip("?"), keep_blank_values=True)
    return "?" + urlencode(pairs) if pairs else ""


def parse_headers(text: str) -> tuple[dict[str, str], list[str]]:
    """Headers from `Name: value` lines, and the lines that could not be read."""
    headers: dict[str, str] = {}
    bad: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            bad.append(line)
            continue
        headers[name.strip()] = value.strip()
    return headers, bad


def with_json_type(headers: Mapping[str, str], body: str | None) -> dict[str, str]:
    """A body without a declared content type is sent as JSON, as the builder edits it."""
    result = dict(headers)
    if body and not any(name.lower() == "content-type" for name in result):
        result["content-type"] = "application/json"
    return result
