"""Environments and saved requests on disk, and the response filter's JSONPath and places."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from motia_tui.endpoint_model import Draft, outgoing
from motia_tui.json_filter import FilterError, find, line_ranges, pretty_with_places
from motia_tui.request_env import (
    environment_names,
    every_secret,
    load_environment,
    placeholders_as_json,
)
from motia_tui.saved_requests import (
    SavedRequest,
    SavedRequestError,
    delete,
    load_all,
    save,
)
from motia_tui.widgets.json_editor import describe_error, pretty


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / ".env", "HOST_LABEL=from-dotenv\nREGION=eu\nDB_PASSWORD=hunter22\n")
    write(tmp_path / "motia-requests/env/dev.env", "team=acme\nREGION=us\napi_key=k-123456\n")
    write(tmp_path / "motia-requests/env/dev.local.env", "bearer=b-abcdef123\nteam=mine\n")
    write(tmp_path / "motia-requests/env/ci.local.env", "bearer=ci-999999\n")
    write(tmp_path / "motia-requests/env/notes.txt", "not an environment\n")
    return tmp_path


def test_environments_are_named_by_their_files(project: Path) -> None:
    assert environment_names(project) == ["ci", "dev"]
    assert environment_names(project / "nowhere") == []


def test_local_beats_shared_beats_dotenv_and_secrets_are_marked(project: Path) -> None:
    dev = load_environment(project, "dev")
    values = {name: v.value for name, v in dev.variables.items()}
    assert values["team"] == "mine"  # .local.env wins
    assert values["REGION"] == "us"  # NAME.env over .env
    assert values["HOST_LABEL"] == "from-dotenv"
    secret = {name for name, v in dev.variables.items() if v.secret}
    assert secret == {"bearer", "team", "api_key", "DB_PASSWORD"}
    assert dev.variables["bearer"].source == "motia-requests/env/dev.local.env"
    plain = load_environment(project, None)
    assert set(plain.variables) == {"HOST_LABEL", "REGION", "DB_PASSWORD"}


def test_filling_showing_and_exporting(project: Path) -> None:
    dev = load_environment(project, "dev")
    text = "Bearer {{bearer}} for {{ REGION }} and {{unknown}}"
    assert dev.fill(text) == "Bearer b-abcdef123 for us and {{unknown}}"
    assert dev.masked(text) == "Bearer *** for us and {{unknown}}"
    assert dev.exported(text) == "Bearer {{bearer}} for us and {{unknown}}"
    assert dev.missing([text, "{{team}}"]) == ["unknown"]
    assert [v.name for v in dev.used([text])] == ["bearer", "REGION"]
    assert set(every_secret(project)) == {"b-abcdef123", "k-123456", "hunter22", "ci-999999"}
    assert dev.variables["team"].shown == "***"  # too short to search for, still hidden


def test_a_draft_is_filled_everywhere_before_it_goes(project: Path) -> None:
    dev = load_environment(project, "dev")
    draft = Draft(method="POST", path="/r/{{REGION}}/:team", params={"team": "{{team}}"},
                  query={"k": "{{api_key}}"}, headers="authorization: Bearer {{bearer}}",
                  body='{"n": {{count}}, "team": "{{team}}"}')
    sent = outgoing(draft, dev.fill)
    assert sent.url == "/r/us/mine?k=k-123456"
    assert sent.headers["authorization"] == "Bearer b-abcdef123"
    assert sent.body == '{"n": {{count}}, "team": "mine"}'
    assert dev.missing(draft.texts()) == ["count"]


def test_the_live_json_check_reads_a_variable_as_a_value() -> None:
    body = '{"n": {{count}}, "name": "{{who}}", "list": [{{a}}, {{ b }}]}'
    assert describe_error(body) is not None
    assert describe_error(placeholders_as_json(body)) is None


def test_saved_requests_round_trip_on_disk(tmp_path: Path) -> None:
    draft = Draft(method="POST", path="/orders/:id", params={"id": "{{order}}"},
                  query={"dry": "1"}, extra_query="a=b", headers="x-a: 1\nx-b: {{token}}",
                  body='{\n  "item": "tea"\n}')
    path = save(tmp_path, SavedRequest("place tea", "PlaceOrder", draft))
    assert path == tmp_path / "motia-requests" / "place tea.json"
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["headers"] == ["x-a: 1", "x-b: {{token}}"]
    assert on_disk["step"] == "PlaceOrder"
    save(tmp_path, SavedRequest("b", None, Draft(method="GET", path="/")))
    write(tmp_path / "motia-requests/broken.json", "{nope")
    write(tmp_path / "motia-requests/odd.json", '{"method": 1}')
    found, problems = load_all(tmp_path)
    assert [s.name for s in found] == ["b", "place tea"]
    assert found[1] == SavedRequest("place tea", "PlaceOrder", draft)
    assert len(problems) == 2
    assert problems[0].startswith("motia-requests/broken.json: ")
    assert delete(tmp_path, "b") is True
    assert delete(tmp_path, "b") is False
    assert [s.name for s in load_all(tmp_path)[0]] == ["place tea"]
    assert not list((tmp_path / "motia-requests").glob(".*"))  # no temporary file left


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "x" * 65, "end.", "tab\there"])
def test_a_name_that_cannot_be_a_file_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SavedRequestError):
        save(tmp_path, SavedRequest(name, None, Draft(method="GET", path="/")))
    assert not (tmp_path / "motia-requests").exists() or not any(
        (tmp_path / "motia-requests").iterdir()
    )


DOCUMENT = {"items": [{"id": "a", "n": 1}, {"id": "bé", "n": 5, "tags": []}], "x": {"y": None}}


def test_places_follow_the_pretty_text_exactly() -> None:
    text, places = pretty_with_places(DOCUMENT)
    assert text == pretty(DOCUMENT)
    for key, (start, end) in places.items():
        node: Any = DOCUMENT
        for part in key:
            node = node[part]
        assert json.loads(text[start:end]) == node


def test_paths_select_values_and_their_places() -> None:
    matches = find(DOCUMENT, "$..id")
    assert [(m.path, m.value) for m in matches] == [("$.items[0].id", "a"),
                                                    ("$.items[1].id", "bé")]
    assert [m.value for m in find(DOCUMENT, "$.items[?(@.n > 2)].id")] == ["bé"]
    assert find(DOCUMENT, "$.missing") == []
    with pytest.raises(FilterError, match="is not a JSONPath"):
        find(DOCUMENT, "$.items[")


def test_a_place_becomes_byte_ranges_a_line() -> None:
    text, places = pretty_with_places(DOCUMENT)
    start, end = places[("items", 1)]
    ranges = line_ranges(text, start, end)
    lines = text.split("\n")
    first_row = ranges[0][0]
    assert lines[first_row].endswith("{")
    assert len(ranges) == 5  # "{", three fields, "}"
    row, begin, stop = ranges[1]
    assert lines[row].encode()[begin:stop].decode() == '      "id": "bé",'
