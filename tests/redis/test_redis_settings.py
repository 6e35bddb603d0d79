"""How a project names its Redis: flag, environment, file; bad URLs refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import SettingsError, load_settings
from engine.stores import StoreError, open_store
from engine.stores.redis import RedisStore
from engine.stores.redis.store import _safe
from motia_tui.cli import build_parser


def test_the_url_comes_from_the_flag_the_environment_or_the_file(tmp_path: Path) -> None:
    (tmp_path / "motia.toml").write_text('redis_url = "redis://file:6379/0"\n')
    assert load_settings(tmp_path, environ={}).redis_url == "redis://file:6379/0"
    env = {"MOTIA_REDIS_URL": "rediss://:secret@env:6380/1"}
    assert load_settings(tmp_path, environ=env).redis_url == "rediss://:secret@env:6380/1"
    flag = {"redis_url": "redis://flag:6379/0"}
    assert load_settings(tmp_path, flag, environ=env).redis_url == "redis://flag:6379/0"
    for command in ("start", "dev", "tui"):
        args = build_parser().parse_args([command, "--redis", "redis://x:1/0"])
        assert args.redis == "redis://x:1/0"


def test_a_url_that_is_not_redis_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="redis_url"):
        load_settings(tmp_path, environ={"MOTIA_REDIS_URL": "http://example.com"})


def test_the_prefix_defaults_to_the_project_folder(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    assert load_settings(project, environ={}).redis_key_prefix(project) == "shop"
    env = {"MOTIA_REDIS_PREFIX": "shop-eu"}
    assert load_settings(project, environ=env).redis_key_prefix(project) == "shop-eu"


def test_messages_never_show_the_password() -> None:
    assert _safe("redis://:hunter2@db:6379/0") == "redis://***@db:6379/0"
    assert _safe("redis://db:6379/0") == "redis://db:6379/0"


def test_an_unreachable_redis_stops_the_start_with_one_line(tmp_path: Path) -> None:
    from redis_support import free_port

    settings = load_settings(
        tmp_path, environ={"MOTIA_REDIS_URL": f"redis://:pw@127.0.0.1:{free_port()}/0"}
    )
    with pytest.raises(StoreError, match=r"cannot use Redis at redis://\*\*\*@127\.0\.0\.1"):
        open_store(settings, tmp_path)


def test_open_store_picks_redis_when_a_url_is_set(tmp_path: Path, redis_url: str,
                                                  prefix: str) -> None:
    settings = load_settings(tmp_path, environ={"MOTIA_REDIS_URL": redis_url,
                                                "MOTIA_REDIS_PREFIX": prefix})
    store = open_store(settings, tmp_path)
    assert isinstance(store, RedisStore)
    assert store.prefix == prefix
    assert store.health.to_json()["adapter"] == "redis"
