"""curl in and out: what a pasted command sends, and the round trip copy, paste, same request."""

from __future__ import annotations

import pytest

from motia_tui.curl import CurlError, is_curl, parse_curl, to_curl
from motia_tui.endpoint_model import Draft, Route, draft_for_request, outgoing

ROUTES = [
    Route("GetUser", "GET", "/teams/:team/users/:id", None, ("expand",)),
    Route("PlaceOrder", "POST", "/orders", {"type": "object"}, ()),
    Route("Me", "GET", "/teams/:team/users/me", None, ()),
]
BASE = "http://127.0.0.1:3000"


def test_a_browser_copy_as_curl_is_read() -> None:
    command = (
        "curl 'http://127.0.0.1:3000/orders?src=web' \\\n"
        "  -H 'accept: application/json' \\\n"
        "  -H 'content-type: application/json' \\\n"
        "  -b 'session=abc' \\\n"
        "  --data-raw '{\"item\":\"tea\",\"quantity\":2}' \\\n"
        "  --compressed -sSL"
    )
    request = parse_curl(command)
    assert request.method == "POST"
    assert request.path == "/orders"
    assert request.query == [("src", "web")]
    assert request.headers == {
        "accept": "application/json",
        "content-type": "application/json",
        "cookie": "session=abc",
    }
    assert request.body == '{"item":"tea","quantity":2}'


def test_methods_glued_values_get_and_json() -> None:
    assert parse_curl("curl -XDELETE http://h/x").method == "DELETE"
    assert parse_curl("curl --request=patch http://h/x").method == "PATCH"
    assert parse_curl("curl -I http://h/x").method == "HEAD"
    got = parse_curl("curl -G http://h/search -d q=tea -d n=2")
    assert (got.method, got.query, got.body) == ("GET", [("q", "tea"), ("n", "2")], None)
    sent = parse_curl("curl --json '{\"a\":1}' http://h/x")
    assert sent.method == "POST"
    assert sent.headers["content-type"] == "application/json"
    assert parse_curl("curl -u ada:pw http://h/x").headers["authorization"] == "Basic YWRhOnB3"
    assert parse_curl("curl --url http://h/y -m 5").url == "http://h/y"


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("wget http://h/x", "starts with `curl`"),
        ("curl -s", "no URL"),
        ("curl http://h/x -H", "-H needs a value"),
        ("curl http://h/x -H nocolon", "is not a `Name: value` header"),
        ("curl http://h/x --upload-file a.txt", "unknown curl option --upload-file"),
        ("curl http://h/x -d @body.json", "from a file is not supported"),
        ("curl 'http://h/x", "cannot split"),
        ("curl http://h/a http://h/b", "two URLs"),
    ],
)
def test_what_cannot_be_read_is_named(command: str, reason: str) -> None:
    with pytest.raises(CurlError, match=reason):
        parse_curl(command)


def test_only_text_starting_with_curl_is_an_import() -> None:
    assert is_curl("  curl http://h/x")
    assert not is_curl("/orders")
    assert not is_curl("curling")


def _round_trip(draft: Draft) -> tuple[Draft, Route | None]:
    sent = outgoing(draft)
    command = to_curl(sent.method, BASE + sent.url, sent.headers, sent.body)
    back = parse_curl(command)
    return draft_for_request(back.method, back.path, back.query, back.headers, back.body, ROUTES)


def test_copy_paste_back_gives_the_same_request() -> None:
    draft = Draft(
        method="GET",
        path="/teams/:team/users/:id",
        params={"team": "acme corp", "id": "u/42"},
        query={"expand": "roles"},
        extra_query="page=2&q=it's",
        headers="accept: application/json\nx-note: a 'quoted' $value",
    )
    back, route = _round_trip(draft)
    assert route == ROUTES[0]
    assert back == draft
    assert outgoing(back) == outgoing(draft)


def test_a_body_survives_the_round_trip_and_keeps_its_route() -> None:
    draft = Draft(method="POST", path="/orders", body='{\n  "item": "tea\'s",\n  "quantity": 2\n}')
    back, route = _round_trip(draft)
    assert route is not None and route.step == "PlaceOrder"
    assert back == draft
    head = Draft(method="HEAD", path="/orders")
    assert _round_trip(head)[0].method == "HEAD"


def test_a_fixed_path_wins_over_a_parameter_and_unknown_paths_stay_literal() -> None:
    me, route = draft_for_request("GET", "/teams/acme/users/me", [], {}, None, ROUTES)
    assert route is not None and route.step == "Me"
    assert me.params == {"team": "acme"}
    other, none = draft_for_request("GET", "/nowhere", [("a", "1")], {}, None, ROUTES)
    assert none is None
    assert (other.path, other.extra_query, other.params) == ("/nowhere", "a=1", {})
