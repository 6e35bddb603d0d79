"""The tape's masker: every secret header field, whatever its case, among other fields, and
secrets it takes after it was made (a request environment picked in the workbench)."""

from __future__ import annotations

import orjson
import pytest

from engine.masking import MASK, SECRET_HEADERS, Masker


@pytest.mark.parametrize("name", sorted(SECRET_HEADERS))
@pytest.mark.parametrize("spelling", [str.lower, str.upper, str.title])
def test_every_secret_header_is_masked_in_a_batch(name: str, spelling: object) -> None:
    assert callable(spelling)
    key = spelling(name)
    lines = [
        orjson.dumps({"type": "log", "data": {"msg": "before", "kind": "x"}}),
        orjson.dumps({"type": "log", "data": {"headers": {"host": "h", key: "s3cr3t-value"}}}),
        orjson.dumps({"type": "span.end", "data": {"authorizationless": "kept"}}),
    ]
    masked = Masker().json(b"\n".join(lines))
    assert b"s3cr3t-value" not in masked
    records = [orjson.loads(line) for line in masked.split(b"\n")]
    assert records[1]["data"]["headers"] == {"host": "h", key: MASK}
    assert records[0] == orjson.loads(lines[0]) and records[2] == orjson.loads(lines[2])


def test_a_batch_without_secret_fields_is_left_as_it_is() -> None:
    text = orjson.dumps({"data": {"author": "a", "cookies_eaten": 3, "api-key-hint": "none"}})
    assert Masker().json(text) is text


def test_secret_environment_values_are_masked() -> None:
    masked = Masker(["sk_live_1234567"]).json(b'{"msg":"paid with sk_live_1234567"}')
    assert masked == b'{"msg":"paid with ***"}'


def test_secrets_added_later_are_masked_too() -> None:
    masker = Masker(["first-secret"])
    line = b'{"a":"first-secret","b":"later-secret-1","c":"x"}'
    assert masker.json(line) == b'{"a":"***","b":"later-secret-1","c":"x"}'
    masker.add(["later-secret-1", "x"])
    assert masker.json(line) == f'{{"a":"{MASK}","b":"{MASK}","c":"x"}}'.encode()
    masker.add(['quote"d-secret'])
    assert masker.json(b'{"q":"quote\\"d-secret"}') == b'{"q":"***"}'
