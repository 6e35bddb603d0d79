"""What the Endpoints pane works with, without a terminal: routes, drafts, sent requests.

A `Draft` is the builder's text as typed (variables still written `{{name}}`); `outgoing`
turns it into the request that goes out once an environment has filled it, and
`draft_for_request` turns a request read from elsewhere (a pasted curl command) back into a
draft, on the route it matches when there is one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from engine.steps import path_pattern
from motia_tui.widgets.json_editor import pretty
from motia_tui.widgets.request_parts import (
    BODYLESS,
    fill_path,
    parse_headers,
    path_params,
    query_string,
    with_json_type,
)
from motia_tui.widgets.schema_example import example_from_schema

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
JSON_TYPE = "application/json"
QUERY_SAFE = "{}'!$()*,;:@/?~"


@dataclass(frozen=True)
class Route:
    step: str
    method: str
    path: str
    body_schema: Any
    query_params: tuple[str, ...]


@dataclass
class Draft:
    """What the builder holds for one route; kept while the user looks at another."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    extra_query: str = ""
    headers: str = ""
    body: str = ""

    def texts(self) -> list[str]:
        """Every field that may hold a `{{name}}` variable."""
        return [self.path, *self.params.values(), *self.query.values(), self.extra_query,
                self.headers, self.body]


@dataclass(frozen=True)
class Outgoing:
    """The request a draft sends: what goes over the wire."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    bad_headers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Exchange:
    """One sent request and what came back (or why nothing did). `url`, `sent_headers` and
    `used` are as they may be shown: secrets masked; `curl` as it may be copied."""

    step: str | None
    draft: Draft
    method: str
    url: str
    curl: str = ""
    environment: str | None = None
    used: tuple[tuple[str, str], ...] = ()
    sent_headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    elapsed_ms: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    trace_id: str | None = None
    error: str | None = None


def routes_from_steps(steps: dict[str, Any]) -> list[Route]:
    """Every api step as a route, sorted by path then method so the list reads like a map."""
    routes = [
        Route(
            step=str(s["name"]),
            method=str(s.get("method") or "GET").upper(),
            path=str(s.get("path") or "/"),
            body_schema=s.get("bodySchema"),
            query_params=tuple(
                str(q.get("name")) for q in s.get("queryParams") or [] if isinstance(q, dict)
            ),
        )
        for s in steps.get("steps") or []
        if s.get("type") == "api"
    ]
    return sorted(routes, key=lambda r: (r.path, _method_rank(r.method)))


def _method_rank(method: str) -> int:
    return METHODS.index(method) if method in METHODS else len(METHODS)


def topics_from_steps(steps: dict[str, Any]) -> dict[str, Any]:
    """Topic -> the input schema of its first subscriber that declares one (for pre-filling
    the data); None when no subscriber does."""
    topics: dict[str, Any] = {}
    for step in steps.get("steps") or []:
        for topic in step.get("subscribes") or []:
            if topics.get(str(topic)) is None:
                topics[str(topic)] = step.get("input")
    return dict(sorted(topics.items()))


def new_draft(route: Route) -> Draft:
    body = ""
    if route.method not in BODYLESS:
        example = example_from_schema(route.body_schema)
        body = pretty(example if example is not None else {})
    return Draft(
        method=route.method,
        path=route.path,
        params=dict.fromkeys(path_params(route.path), ""),
        query=dict.fromkeys(route.query_params, ""),
        body=body,
    )


def outgoing(draft: Draft, fill: Callable[[str], str] = str) -> Outgoing:
    """The request `draft` sends once `fill` has put values in its variables."""
    headers, bad = parse_headers(fill(draft.headers))
    params = {name: fill(value) for name, value in draft.params.items()}
    query = [(name, fill(value)) for name, value in draft.query.items()]
    url = fill_path(fill(draft.path) or "/", params) + query_string(
        query, fill(draft.extra_query)
    )
    body = fill(draft.body) if draft.body.strip() else None
    return Outgoing(draft.method, url, with_json_type(headers, body), body, bad)


def match_route(routes: Sequence[Route], method: str, path: str) -> tuple[Route, list[str]] | None:
    """The route a request goes to, and its path parameter values. A route with this method
    wins over one with another; fewer path parameters over more."""
    candidates = sorted(
        routes, key=lambda r: (r.method != method, len(path_params(r.path)))
    )
    for route in candidates:
        found = path_pattern(route.path)[0].match(path)
        if found is not None:
            return route, [unquote(value) for value in found.groups()]
    return None


def draft_for_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: dict[str, str],
    body: str | None,
    routes: Sequence[Route],
) -> tuple[Draft, Route | None]:
    """A request read from elsewhere as a draft: on its route when one matches (parameters
    and declared query values in their own inputs), else on the path as given."""
    pairs = list(query)
    matched = match_route(routes, method, path)
    route = matched[0] if matched else None
    declared: dict[str, str] = {}
    params: dict[str, str] = {}
    if matched is not None:
        params = dict(zip(path_pattern(matched[0].path)[1], matched[1], strict=True))
    if route is not None:
        declared = dict.fromkeys(route.query_params, "")
        rest: list[tuple[str, str]] = []
        for name, value in pairs:
            if name in declared and not declared[name]:
                declared[name] = value
            else:
                rest.append((name, value))
        pairs = rest
    lines = [
        f"{name}: {value}"
        for name, value in headers.items()
        if not (body and name.lower() == "content-type" and value == JSON_TYPE)
    ]
    draft = Draft(
        method=method,
        path=route.path if route is not None else path,
        params=params,
        query=declared,
        extra_query="&".join(f"{_readable(k)}={_readable(v)}" for k, v in pairs),
        headers="\n".join(lines),
        body=_editable(body),
    )
    return draft, route


def _readable(part: str) -> str:
    """A query key or value escaped only where the query would read it otherwise, so the
    free-form query input stays legible (and `{{name}}` stays a variable)."""
    return quote(part, safe=QUERY_SAFE)


def _editable(body: str | None) -> str:
    """A JSON body pretty-printed for the editor; anything else as it came."""
    if body is None:
        return ""
    try:
        return pretty(json.loads(body))
    except ValueError:
        return body
