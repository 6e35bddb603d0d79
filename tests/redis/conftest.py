"""Fixtures for the Redis tests: the shared server under a prefix of the test's own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tui"))

from redis_support import prefix_on, shared_url


@pytest.fixture
def redis_url() -> str:
    return shared_url()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    with prefix_on(redis_url) as name:
        yield name
