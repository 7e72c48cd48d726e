"""Pytest fixtures for Parrhesia and for plugin authors (installed as a pytest plugin).

Every test gets its own instance folder and its own database: SQLite by default, and
also PostgreSQL when ``PARRHESIA_TEST_DATABASE_URL`` is set (each test then runs once
per backend, in a schema of its own that is dropped afterwards).

Fixtures: ``instance_settings`` (override it to enable plugins), ``database_url``,
``instance_dir``, ``app``, ``client``, ``directory``, ``host``, ``recipient`` (a
registered recipient with key and token), ``submitted_report``.
Helpers: :func:`csrf_token`, :func:`review_route`, :func:`submit_report`,
:func:`log_in`, :func:`add_test_recipient`.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = [
    "TEST_DATABASE_ENV",
    "TEST_BODIES",
    "RegisteredRecipient",
    "SubmittedReport",
    "csrf_token",
    "submit_report",
    "review_route",
    "log_in",
]

TEST_DATABASE_ENV = "PARRHESIA_TEST_DATABASE_URL"
TEST_BODIES = [
    {"id": "integrity-office", "name": "Integrity Office", "kind": "anti-corruption agency"},
    {"id": "ombudsman", "name": "Ombudsman", "kind": "ombudsman"},
]
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _backends() -> list[str]:
    import os

    return ["sqlite", "postgresql"] if os.environ.get(TEST_DATABASE_ENV) else ["sqlite"]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'parrhesia-test.db'}"
        return
    import os

    from parrhesia.db import make_engine

    base = os.environ[TEST_DATABASE_ENV]
    schema = f"t_{secrets.token_hex(6)}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    options = urllib.parse.quote(f"-csearch_path={schema}")
    try:
        yield f"{base}{separator}options={options}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    """Override in a test module to configure the test instance::

        @pytest.fixture
        def instance_settings():
            return {"plugins": ["demo"], "bodies": [], "instance": {"route": [], "last_resort": ["example-ombudsman"]}}

    Keys: ``plugins`` (enabled plugin names), ``plugin_settings`` (``{name: table}``
    written as ``[plugins.<name>]``), ``bodies`` (``[[bodies]]`` tables; default
    :data:`TEST_BODIES`), ``relations`` (``[[relations]]``), ``instance`` (extra
    ``[instance]`` settings).
    """
    return {}


@pytest.fixture
def instance_dir(tmp_path: Path, database_url: str, instance_settings: dict[str, Any]) -> Iterator[Path]:
    """An initialised instance folder (by default two test bodies on the route)."""
    from parrhesia.instance import init_instance

    instance = init_instance(
        tmp_path / "instance",
        name="Test instance",
        bodies=instance_settings.get("bodies", TEST_BODIES),
        database_url=database_url,
        plugins=instance_settings.get("plugins"),
        settings=instance_settings.get("instance"),
        plugin_settings=instance_settings.get("plugin_settings"),
        relations=instance_settings.get("relations"),
    )
    instance.dispose()
    yield instance.config.path


@pytest.fixture
def app(instance_dir: Path, instance_settings: dict[str, Any]) -> Iterator[Flask]:
    """The app of the test instance, ready to take reports: each body of the standing
    route and of last resort has a reader ("Standing reader") who created its body key,
    so a report always reaches someone who can read it. ``instance_settings["readers"]
    = False`` starts with no reader anywhere (an instance nobody can read yet)."""
    from parrhesia.app import create_app

    application = create_app(instance_dir, {"TESTING": True})
    if instance_settings.get("readers", True):
        config = application.extensions["parrhesia.instance"].config
        for body_id in dict.fromkeys([*config.route, *config.last_resort]):
            add_test_recipient(application, body_id, "Standing reader")
    yield application
    application.extensions["parrhesia.instance"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def directory(app: Flask) -> Any:
    """The app's merged directory of bodies (a :class:`parrhesia.directory.Directory`)."""
    return app.extensions["parrhesia.host"].directory


@pytest.fixture
def host(app: Flask) -> Any:
    """The app's plugin host: ``host.decide(RoutingRequest.from_fields({...}))`` dry-runs routing."""
    return app.extensions["parrhesia.host"]


@dataclass
class RegisteredRecipient:
    id: int
    body_id: str
    key: PrivateKey
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def keyring(self, client: FlaskClient) -> Any:
        """This recipient's opened body keyring (:class:`parrhesia.desk_client.Keyring`),
        as their own machine opens it from ``GET /api/v1/keyring``."""
        from parrhesia.desk_client import keyring_from

        response = client.get("/api/v1/keyring", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)  # nosec B101
        return keyring_from(response.get_json(), self.key)

    def report_key(self, client: FlaskClient, report_id: str) -> PrivateKey:
        """The report key, opened as this recipient's machine would (through the body key)."""
        response = client.get(f"/api/v1/reports/{report_id}", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)  # nosec B101
        data = response.get_json()
        if not data.get("sealed_key"):
            raise AssertionError(f"report {report_id} is not sealed to the body of recipient {self.id}")
        key: PrivateKey = self.keyring(client).open(data["sealed_key"], data.get("generation"), self.key)
        return key


@pytest.fixture
def recipient(app: Flask) -> RegisteredRecipient:
    """A recipient of the first test body, with a fresh key and an API token."""
    return add_test_recipient(app, TEST_BODIES[0]["id"])


def add_test_recipient(
    app: Flask, body_id: str, name: str = "Case officer", *, vouched: bool = True, **account: Any
) -> RegisteredRecipient:
    """Register a recipient with a fresh key, as ``parrhesia recipients add`` does.

    With ``vouched`` (the default) the test then plays the members' own machines: the
    body's first recipient creates its body key, and each later one is vouched for by
    that first member. ``vouched=False`` leaves a recipient the operator registered and
    no member vouched for: they can read nothing. ``account`` is passed on to
    :func:`parrhesia.accounts.add_recipient` (``login_name``, ``password``, ``role``).
    """
    from parrhesia import custody
    from parrhesia.accounts import add_recipient
    from parrhesia.crypto import generate_recipient_key, grant_body_key, new_body_key
    from parrhesia.models import Recipient
    from parrhesia.reports import today

    key = generate_recipient_key()
    engine = app.extensions["parrhesia.instance"].engine
    machines: dict[str, tuple[PrivateKey, int, PrivateKey]] = app.extensions.setdefault("parrhesia.testing.body_keys", {})
    with Session(engine) as db:
        token = add_recipient(db, body_id=body_id, name=name, public_key=bytes(key.public_key), **account)
        member = db.query(Recipient).filter(Recipient.public_key == bytes(key.public_key)).one()
        recipient_id = member.id
        if vouched:
            held = machines.get(body_id)
            if held is None or custody.current_key(db, body_id) is None:
                body_sk = new_body_key()
                custody.found_body_key(db, member, bytes(body_sk.public_key),
                                       grant_body_key(body_sk, bytes(key.public_key), key), on=today())
                machines[body_id] = (body_sk, recipient_id, key)
            else:
                body_sk, founder_id, founder_key = held
                founder = db.get(Recipient, founder_id)
                assert founder is not None  # nosec B101
                generation = custody.current_key(db, body_id).generation  # type: ignore[union-attr]
                custody.vouch(db, founder, member, generation,
                              grant_body_key(body_sk, bytes(key.public_key), founder_key), on=today())
    return RegisteredRecipient(id=recipient_id, body_id=body_id, key=key, token=token)


def csrf_token(html: str | bytes) -> str:
    """The CSRF token of the first form in a page."""
    page = html.decode() if isinstance(html, bytes) else html
    match = _CSRF.search(page)
    if match is None:
        raise AssertionError("no csrf_token field in the page")
    return match.group(1)


def review_route(client: FlaskClient, **routing: str | list[str]) -> Any:
    """Answer the routing questions (step 1); return the confirmation page (step 2)."""
    token = csrf_token(client.get("/submit").data)
    return client.post("/submit/review", data={"csrf_token": token, **routing})


def submit_report(
    client: FlaskClient,
    message: str = "",
    files: list[tuple[str, bytes]] | None = None,
    answers: dict[str, str] | None = None,
    **routing: str | list[str],
) -> tuple[Any, str | None]:
    """Submit through the source forms, as a browser would: routing questions, review,
    then message, content ``answers`` and files. Return the final response and the
    codename shown (None if the submission was refused)."""
    import io

    review = review_route(client, **routing)
    if review.status_code != 200:
        return review, None
    token = csrf_token(review.data)
    data: dict[str, Any] = {"csrf_token": token, **routing, **(answers or {}), "message": message}
    if files:
        data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    response = client.post("/submit", data=data, content_type="multipart/form-data")
    match = re.search(r'id="codename"[^>]*>([^<]+)<', response.get_data(as_text=True))
    return response, (match.group(1).strip() if match else None)


def log_in(client: FlaskClient, codename: str) -> Any:
    token = csrf_token(client.get("/login").data)
    return client.post("/login", data={"csrf_token": token, "codename": codename})


@dataclass
class SubmittedReport:
    id: str
    codename: str
    message: str


@pytest.fixture
def submitted_report(app: Flask, recipient: RegisteredRecipient) -> SubmittedReport:
    """A report submitted through the source form, readable by ``recipient``."""
    from parrhesia.crypto import derive_source_identity
    from parrhesia.reports import find_by_lookup

    message = f"Test report {secrets.token_hex(4)}"
    response, codename = submit_report(app.test_client(), message)
    if response.status_code != 200 or not codename:
        pytest.fail(f"submission failed: {response.status_code}")
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        report = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
        if report is None:
            pytest.fail("the submitted report cannot be found by its codename")
        report_id = report.id
    return SubmittedReport(id=report_id, codename=codename, message=message)


