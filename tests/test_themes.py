"""Themes: an instance's theme overrides only what it changes; a missing theme stops start-up.

The default theme (themes/default) is complete. A theme of the instance's own lives
in ``instance.themes_dir``; each template or static file it has replaces the default
one, and everything else still comes from the default theme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from parrhesia.cli import main
from parrhesia.config import ConfigError, load_config
from parrhesia.web.app import bundled_themes, create_app

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_THEME = ROOT / "themes" / "default"


def _write_theme(root: Path) -> Path:
    """A theme "civic" that replaces the landing page and the stylesheet, nothing else."""
    theme = root / "civic"
    (theme / "templates").mkdir(parents=True)
    (theme / "static").mkdir()
    (theme / "templates" / "index.html").write_text(
        '{% extends "base.html" %}{% block content %}<p id="civic">Civic landing page</p>{% endblock %}'
    )
    (theme / "static" / "style.css").write_text("body { color: #123456; }\n")
    (theme / "static" / "desk").mkdir()
    (theme / "static" / "desk" / "desk.css").write_text("main { margin: 0; }\n")
    return theme


@pytest.fixture
def instance_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    themes = tmp_path_factory.mktemp("themes")
    _write_theme(themes)
    return {"instance": {"theme": "civic", "themes_dir": str(themes)}}


def test_a_theme_overrides_a_template_and_the_rest_comes_from_the_default(app: Flask) -> None:
    client = app.test_client()

    landing = client.get("/")
    assert landing.status_code == 200
    assert 'id="civic"' in landing.text
    assert "/static/style.css" in landing.text  # base.html, from the default theme

    login = client.get("/login")
    assert login.status_code == 200
    assert 'name="codename"' in login.text  # not overridden: the default login page


def test_a_theme_overrides_a_static_file_and_the_rest_comes_from_the_default(app: Flask) -> None:
    client = app.test_client()

    style = client.get("/static/style.css")
    assert style.status_code == 200
    assert style.data == b"body { color: #123456; }\n"

    desk_css = client.get("/static/desk/desk.css")  # in a subfolder
    assert desk_css.data == b"main { margin: 0; }\n"

    decrypt_js = client.get("/static/desk/decrypt.js")
    assert decrypt_js.status_code == 200
    assert decrypt_js.data == (DEFAULT_THEME / "static" / "desk" / "decrypt.js").read_bytes()
    assert decrypt_js.headers["X-Content-Type-Options"] == "nosniff"  # the app's headers still apply


@pytest.mark.parametrize("path", ["/static/../templates/index.html", "/static/%2e%2e/templates/index.html", "/static/nothing.css"])
def test_static_files_outside_the_themes_are_not_served(app: Flask, path: str) -> None:
    assert app.test_client().get(path).status_code == 404


def test_a_missing_theme_stops_start_up_with_a_clear_error(instance_dir: Path) -> None:
    config = instance_dir / "parrhesia.toml"
    config.write_text(config.read_text().replace('theme = "civic"', 'theme = "absent"'))

    with pytest.raises(ConfigError, match=r"the theme 'absent' does not exist: there is no folder .*absent"):
        create_app(instance_dir)


def test_serve_refuses_a_missing_theme_in_one_line(instance_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import parrhesia.web.server

    def no_gunicorn(self: object) -> None:
        raise AssertionError("gunicorn started with a missing theme")

    monkeypatch.setattr(parrhesia.web.server._Server, "run", no_gunicorn)
    config = instance_dir / "parrhesia.toml"
    config.write_text(config.read_text().replace('theme = "civic"', 'theme = "absent"'))

    result = CliRunner().invoke(main, ["serve", "--instance", str(instance_dir)])

    assert result.exit_code == 1
    assert "the theme 'absent' does not exist" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('theme = "../default"', "instance.theme must be a folder name"),
        ("theme = 3", "instance.theme must be a folder name"),
        ('themes_dir = ""', "instance.themes_dir must be a folder path"),
    ],
)
def test_theme_settings_are_checked(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "parrhesia.toml").write_text(f"[instance]\n{line}\n")

    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_themes_dir_without_a_theme_keeps_the_default(instance_dir: Path) -> None:
    config = instance_dir / "parrhesia.toml"
    config.write_text(config.read_text().replace('theme = "civic"\n', ""))

    app = create_app(instance_dir)
    try:
        assert 'id="civic"' not in app.test_client().get("/").text
        assert app.test_client().get("/static/style.css").data == (DEFAULT_THEME / "static" / "style.css").read_bytes()
    finally:
        app.extensions["parrhesia.instance"].dispose()


def test_an_editable_install_reads_the_default_theme_from_the_source_tree() -> None:
    # A wheel carries it as package data instead (tests/test_wheel.py).
    assert bundled_themes() == ROOT / "themes"


def test_themes_dir_is_relative_to_the_instance_folder(tmp_path: Path) -> None:
    (tmp_path / "parrhesia.toml").write_text('[instance]\ntheme = "civic"\nthemes_dir = "my-themes"\n')

    config = load_config(tmp_path)

    assert config.themes_dir == (tmp_path / "my-themes").resolve()
    assert config.theme == "civic"
