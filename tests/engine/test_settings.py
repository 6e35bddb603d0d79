"""Project settings: motia.toml, then MOTIA_* variables, then flags; a bad value names its
source."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Settings, SettingsError, load_settings


def write_toml(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "motia.toml").write_text(text, encoding="utf-8")
    return root


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings == Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 3000
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.trace_store == 10_000
    assert settings.log_store == 1_000_000
    assert (settings.retry_base_s, settings.retry_max_s, settings.handler_timeout_s) == (1, 30, 300)
    assert settings.state_get == "value"
    assert settings.cors_origins is None
    assert settings.introspect_token is None
    assert settings.store == ".motia/store.sqlite3"
    assert settings.store_path(tmp_path) == tmp_path / ".motia" / "store.sqlite3"
    assert Settings(store=":memory:").store_path(tmp_path) is None
    assert Settings(store="/abs/db.sqlite3").store_path(tmp_path) == Path("/abs/db.sqlite3")


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    root = write_toml(
        tmp_path,
        'port = 4000\nstate_get = "wrapped"\nretry_base_s = 0.5\nhost = "0.0.0.0"\n'
        'cors_origins = "*"\n',
    )
    from_file = load_settings(root, environ={})
    assert (from_file.port, from_file.state_get, from_file.retry_base_s) == (4000, "wrapped", 0.5)
    assert from_file.host == "0.0.0.0"
    assert from_file.cors_origins == "*"

    environ = {"MOTIA_PORT": "5000", "MOTIA_STATE_GET": "value", "MOTIA_MAX_BODY_BYTES": "2048"}
    from_env = load_settings(root, environ=environ)
    assert (from_env.port, from_env.state_get, from_env.max_body_bytes) == (5000, "value", 2048)
    assert from_env.retry_base_s == 0.5

    flags = load_settings(root, {"port": 6000, "host": None}, environ=environ)
    assert flags.port == 6000
    assert flags.host == "0.0.0.0"
    assert flags.max_body_bytes == 2048


def test_environment_is_read_from_the_process_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTIA_STATE_GET", "wrapped")
    monkeypatch.setenv("MOTIA_INTROSPECT_TOKEN", "tok")
    monkeypatch.setenv("MOTIA_CORS_ORIGINS", "")
    settings = load_settings(tmp_path)
    assert settings.state_get == "wrapped"
    assert settings.introspect_token == "tok"
    assert settings.cors_origins is None


def test_a_base_keeps_what_no_source_sets(tmp_path: Path) -> None:
    base = Settings(retry_base_s=0.01, store=":memory:")
    settings = load_settings(tmp_path, {"port": 0}, environ={}, base=base)
    assert settings == Settings(retry_base_s=0.01, store=":memory:", port=0)


@pytest.mark.parametrize(
    ("toml", "environ", "overrides", "expected"),
    [
        (
            'state_get = "unwrapped"\n',
            {},
            {},
            "setting 'state_get' from {file}: 'unwrapped' must be \"value\" or \"wrapped\"",
        ),
        ("port = 70000\n", {}, {}, "setting 'port' from {file}: 70000 must be between 0 and 65535"),
        (
            "",
            {"MOTIA_PORT": "abc"},
            {},
            "setting 'port' from the environment: 'abc' must be a whole number",
        ),
        (
            "",
            {"MOTIA_RETRY_BASE_S": "-1"},
            {},
            "setting 'retry_base_s' from the environment: '-1' must be a positive number",
        ),
        (
            "",
            {},
            {"max_body_bytes": 0},
            "setting 'max_body_bytes' from the command line: 0 must be a positive whole number",
        ),
        (
            'host = ""\n',
            {},
            {},
            "setting 'host' from {file}: '' must be a non-empty string",
        ),
        (
            'cors_origins = "https://a.example, app.example"\n',
            {},
            {},
            "setting 'cors_origins' from {file}: 'https://a.example, app.example' has "
            "'app.example', which is not an origin like https://app.example.com (or *)",
        ),
        ("colour = 1\n", {}, {}, "unknown setting 'colour' in {file}; known: host, port"),
        ("", {}, {"verbose": True}, "unknown setting 'verbose' in the command line"),
        ("port = \n", {}, {}, "{file}: Invalid value"),
    ],
)
def test_bad_settings_name_the_key_and_the_source(
    tmp_path: Path, toml: str, environ: dict[str, str], overrides: dict, expected: str
) -> None:
    root = write_toml(tmp_path, toml)
    with pytest.raises(SettingsError) as error:
        load_settings(root, overrides, environ=environ)
    assert expected.format(file=root / "motia.toml") in str(error.value)


def test_unrelated_environment_variables_are_ignored(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"MOTIA_SOMETHING_ELSE": "x", "PORT": "1"})
    assert settings == Settings()


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        ("port = true\n", {}, "setting 'port' from {file}: True must be a whole number"),
        (
            "max_body_bytes = 1.5\n",
            {},
            "setting 'max_body_bytes' from {file}: 1.5 must be a whole number",
        ),
        ("port = 3000.9\n", {}, "setting 'port' from {file}: 3000.9 must be a whole number"),
        (
            "handler_timeout_s = true\n",
            {},
            "setting 'handler_timeout_s' from {file}: True must be a positive number",
        ),
        (
            "",
            {"MOTIA_HANDLER_TIMEOUT_S": "nan"},
            "setting 'handler_timeout_s' from the environment: 'nan' must be a positive number",
        ),
        (
            "",
            {"MOTIA_HEADER_TIMEOUT_S": "inf"},
            "setting 'header_timeout_s' from the environment: 'inf' must be a positive number",
        ),
    ],
)
def test_numbers_are_taken_only_as_written(
    tmp_path: Path, toml: str, environ: dict[str, str], expected: str
) -> None:
    """`true` is not port 1, 1.5 bytes is not 1, and NaN or infinity is no timeout at all."""
    root = write_toml(tmp_path, toml)
    with pytest.raises(SettingsError) as error:
        load_settings(root, environ=environ)
    assert expected.format(file=root / "motia.toml") in str(error.value)


def test_whole_floats_and_digit_strings_still_count(tmp_path: Path) -> None:
    root = write_toml(tmp_path, "port = 4000.0\nmax_body_bytes = 2048\n")
    settings = load_settings(root, environ={"MOTIA_RETRY_BASE_S": "0.25", "MOTIA_TAPE_RUNS": "3"})
    assert (settings.port, settings.max_body_bytes) == (4000, 2048)
    assert (settings.retry_base_s, settings.tape_runs) == (0.25, 3)


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        (
            "retry_base_s = 60\n",
            {},
            "setting 'retry_base_s' from {file}: 60.0 is above 'retry_max_s' (30.0 from the "
            "default); the first retry delay cannot be longer than the longest",
        ),
        (
            "retry_max_s = 2\n",
            {"MOTIA_RETRY_BASE_S": "5"},
            "setting 'retry_base_s' from MOTIA_RETRY_BASE_S: 5.0 is above 'retry_max_s' (2.0 "
            "from {file}); the first retry delay cannot be longer than the longest",
        ),
        (
            "clock_offset_s = nan\n",
            {},
            "setting 'clock_offset_s' from {file}: nan must be a finite number",
        ),
    ],
)
def test_settings_that_contradict_each_other_name_both_sources(
    tmp_path: Path, toml: str, environ: dict[str, str], expected: str
) -> None:
    root = write_toml(tmp_path, toml)
    with pytest.raises(SettingsError) as error:
        load_settings(root, environ=environ)
    assert str(error.value) == expected.format(file=root / "motia.toml")


def test_equal_retry_delays_are_allowed(tmp_path: Path) -> None:
    settings = load_settings(write_toml(tmp_path, "retry_base_s = 5\nretry_max_s = 5\n"))
    assert (settings.retry_base_s, settings.retry_max_s) == (5.0, 5.0)
