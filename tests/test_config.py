"""The instance configuration: clear errors for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from parrhesia.config import ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "parrhesia.toml").write_text(text)
    return tmp_path


def test_missing_config_names_the_command_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="parrhesia init"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[instance\n", "not valid TOML"),
        ("instance = 3", r"\[instance\] must be a table"),
        ('[[bodies]]\nid = "a"\n', "needs an id and a name"),
        ('[[bodies]]\nid = "A B"\nname = "x"\n', "must be lowercase"),
        ('[[bodies]]\nid = "a"\nname = "x"\n[[bodies]]\nid = "a"\nname = "y"\n', "unique"),
        ("[instance]\nmax_submission_bytes = -1\n", "positive integer"),
        ("[instance]\nsession_minutes = 0\n", "between 1 and 1440"),
        ("[instance]\nlanguages = []\n", "at least one language"),
    ],
)
def test_invalid_configuration_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text))


def test_route_defaults_to_every_configured_body(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[[bodies]]\nid = "a"\nname = "A"\n[[bodies]]\nid = "b"\nname = "B"\n'))
    assert config.route == ("a", "b")
    assert config.max_submission_bytes == 500 * 1000 * 1000
    assert config.database_url.startswith("sqlite:///")


def test_database_url_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARRHESIA_DATABASE_URL", "postgresql+psycopg://db/parrhesia")
    assert load_config(_write(tmp_path, "")).database_url == "postgresql+psycopg://db/parrhesia"
