"""The engine tape's masker takes more secrets after it was made (a request environment
picked in the workbench)."""

from __future__ import annotations

from engine.masking import MASK, Masker


def test_secrets_added_later_are_masked_too() -> None:
    masker = Masker(["first-secret"])
    line = b'{"a":"first-secret","b":"later-secret-1","c":"x"}'
    assert masker.json(line) == b'{"a":"***","b":"later-secret-1","c":"x"}'
    masker.add(["later-secret-1", "x"])
    assert masker.json(line) == f'{{"a":"{MASK}","b":"{MASK}","c":"x"}}'.encode()
    masker.add(['quote"d-secret'])
    assert masker.json(b'{"q":"quote\\"d-secret"}') == b'{"q":"***"}'
