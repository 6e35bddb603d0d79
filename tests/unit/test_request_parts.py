"""The request builder's rules, and the pygments highlight map the editors draw with."""

from __future__ import annotations

from motia_tui.widgets.flow_canvas import counter_text, with_counters
from motia_tui.widgets.graph_layout import layout_flow
from motia_tui.widgets.graph_render import render_flow
from motia_tui.widgets.highlight import highlight_map
from motia_tui.widgets.json_editor import describe_error
from motia_tui.widgets.lazy_tree import preview
from motia_tui.widgets.request_parts import (
    fill_path,
    parse_headers,
    path_params,
    query_string,
    with_json_type,
)


def test_path_params_in_order_once() -> None:
    assert path_params("/orgs/:org/users/:id/:org") == ["org", "id"]
    assert path_params("/greet") == []


def test_fill_path_quotes_values_and_keeps_empty_params() -> None:
    assert fill_path("/users/:id/files/:name", {"id": "a b", "name": ""}) == (
        "/users/a%20b/files/:name"
    )
    assert fill_path("/x/:id", {"id": "../etc"}) == "/x/..%2Fetc"


def test_query_string_joins_declared_and_free_form() -> None:
    assert query_string([("limit", "5"), ("sort", "")], "?tag=a&tag=b") == "?limit=5&tag=a&tag=b"
    assert query_string([], "  ") == ""


def test_parse_headers_reports_unreadable_lines() -> None:
    headers, bad = parse_headers("Accept: text/plain\n\nx-token:  abc \nnot a header\n: v")
    assert headers == {"Accept": "text/plain", "x-token": "abc"}
    assert bad == ["not a header", ": v"]


def test_json_content_type_only_when_missing() -> None:
    assert with_json_type({}, '{"a": 1}') == {"content-type": "application/json"}
    assert with_json_type({"Content-Type": "text/plain"}, "hi") == {"Content-Type": "text/plain"}
    assert with_json_type({}, None) == {}


def test_highlight_map_uses_utf8_byte_columns_and_theme_names() -> None:
    text = '{\n  "näme": "é", "n": 1, "ok": true\n}'
    highlights = highlight_map(text, "json")
    line = text.splitlines()[1].encode()
    names = {line[start:end].decode(): name for start, end, name in highlights[1]}
    assert names['"näme"'] == "json.label"
    assert names['"é"'] == "string"
    assert names["1"] == "number"
    assert names["true"] == "constant.builtin"
    assert highlight_map(text, "no-such-language") == {}


def test_describe_error_names_line_and_column() -> None:
    assert describe_error('{"a": 1}') is None
    assert (
        describe_error('{\n  "a": 1,\n}')
        == "line 3, column 1: Expecting property name enclosed in double quotes"
    )


def test_preview_is_one_cut_line() -> None:
    assert preview({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert preview("x" * 100, 10) == '"xxxxxxxx…'


def test_counter_line_shows_runs_in_flight_without_moving_boxes() -> None:
    flow = {
        "name": "f",
        "nodes": [
            {"id": "A", "name": "A", "type": "api"},
            {"id": "B", "name": "B", "type": "event"},
        ],
        "edges": [{"from": "A", "to": "B", "topic": "t", "virtual": False}],
    }
    render = render_flow(layout_flow(flow), {}, {})
    lines = with_counters(render, {"B": (12, 1, 2)})
    box = render.boxes["B"]
    assert lines[box.y + 3][box.x : box.x + box.w].startswith("│ runs 12 ✗1 ▸2")
    assert [len(line) for line in lines] == [len(line) for line in render.lines]
    assert counter_text(123456, 7, 8, 10) == "runs 1234…"
