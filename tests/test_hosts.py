"""The desk and the API answer only on the desk's host names when [hosts] is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from parrhesia.config import ConfigError, load_config
from parrhesia.web.app import create_app

SOURCE_ONION = "a" * 56 + ".onion"
DESK_ONION = "b" * 56 + ".onion"
RECIPIENT_PAGES = ("/desk/login", "/desk/", "/api/v1/openapi.json", "/api/v1/me", "/desk/no-such-page")
SOURCE_PAGES = ("/", "/submit")


def _with_hosts(instance_dir: Path, hosts: str) -> Path:
    config_file = instance_dir / "parrhesia.toml"
    config_file.write_text(config_file.read_text(encoding="utf-8") + "\n[hosts]\n" + hosts, encoding="utf-8")
    return instance_dir


@pytest.fixture
def onion_app(instance_dir: Path) -> Iterator[Flask]:
    _with_hosts(instance_dir, f'source = ["{SOURCE_ONION}"]\ndesk = ["{DESK_ONION.upper()}", "127.0.0.1:8080"]\n')
    application = create_app(instance_dir, {"TESTING": True})
    yield application
    application.extensions["parrhesia.instance"].dispose()


def _get(app: Flask, host: str, path: str) -> int:
    client: FlaskClient = app.test_client()
    return client.get(path, base_url=f"http://{host}").status_code


@pytest.mark.parametrize("path", RECIPIENT_PAGES)
def test_desk_and_api_are_not_found_on_the_source_onion(onion_app: Flask, path: str) -> None:
    response = onion_app.test_client().get(path, base_url=f"http://{SOURCE_ONION}")
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Server" not in response.headers


@pytest.mark.parametrize("path", RECIPIENT_PAGES[:4])
def test_desk_and_api_answer_on_the_desk_hosts(onion_app: Flask, path: str) -> None:
    assert _get(onion_app, DESK_ONION, path) != 404
    assert _get(onion_app, "127.0.0.1:8080", path) != 404


def test_desk_is_not_found_on_a_host_the_desk_list_does_not_name(onion_app: Flask) -> None:
    assert _get(onion_app, "elsewhere.example", "/desk/login") == 404
    assert _get(onion_app, "127.0.0.1:9999", "/api/v1/openapi.json") == 404


@pytest.mark.parametrize("host", [SOURCE_ONION, DESK_ONION])
@pytest.mark.parametrize("path", SOURCE_PAGES)
def test_source_pages_answer_on_both_onions(onion_app: Flask, host: str, path: str) -> None:
    assert _get(onion_app, host, path) == 200


def test_without_hosts_the_desk_answers_on_any_host(app: Flask) -> None:
    assert app.extensions["parrhesia.instance"].config.hosts == {}
    for host in (SOURCE_ONION, "localhost"):
        assert _get(app, host, "/desk/login") == 200
        assert _get(app, host, "/api/v1/openapi.json") == 200


def test_only_source_hosts_refuse_the_desk_there_and_nowhere_else(instance_dir: Path) -> None:
    application = create_app(_with_hosts(instance_dir, f'source = ["{SOURCE_ONION}"]\n'), {"TESTING": True})
    try:
        assert _get(application, SOURCE_ONION, "/desk/login") == 404
        assert _get(application, "localhost", "/desk/login") == 200
    finally:
        application.extensions["parrhesia.instance"].dispose()


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ('recipients = ["x.onion"]\n', "[hosts] takes only source and desk"),
        ('source = "x.onion"\n', "hosts.source must be a list of strings"),
        ('desk = ["http://x.onion/"]\n', "hosts.desk must hold host names"),
        ('source = ["x.onion"]\ndesk = ["X.onion"]\n', "cannot serve both"),
    ],
)
def test_a_wrong_hosts_table_is_a_clear_error(instance_dir: Path, hosts: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(_with_hosts(instance_dir, hosts))


def test_hosts_are_read_in_lower_case(instance_dir: Path) -> None:
    config = load_config(_with_hosts(instance_dir, f'desk = ["{DESK_ONION.upper()}"]\n'))
    assert config.hosts == {"desk": (DESK_ONION,)}
