"""Pytest fixtures and helpers for Parrhesia and for plugin authors.

Installed as a pytest plugin (the ``pytest11`` entry point), so a plugin's tests get the
fixtures without importing anything; the helpers are imported from here::

    from parrhesia.testing import decide, make_host

    def test_the_interior_never_receives_a_report_about_itself():
        host = make_host(plugins=["demo"], settings={"last_resort": ["example-ombudsman"]})
        assert "example-interior" not in decide(host, implicated="example-interior").route

Every test built on the instance gets its own instance folder and its own database:
SQLite by default, and also PostgreSQL when ``PARRHESIA_TEST_DATABASE_URL`` is set (each
test then runs once per backend, in a schema of its own that is dropped afterwards).

Fixtures: ``instance_settings`` (override it to enable plugins), ``database_url``,
``instance_dir``, ``app``, ``client``, ``server`` (the app over HTTP, for the desk client),
``directory``, ``host``, ``db`` (a database
session), ``runner`` (the command line, bound to the instance), ``recipient`` (a
registered recipient with key and token), ``submitted_report``.
Helpers: :func:`decide`, :func:`make_host`, :func:`tick_at`, :func:`submit_report`,
:func:`review_route`, :func:`csrf_token`, :func:`log_in`, :func:`add_test_recipient`.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import text
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # kept out of import time: pytest loads this module for every run
    from parrhesia.contract.directory import Directory
    from parrhesia.domain.clock_engine import TickResult
    from parrhesia.domain.host import PluginHost
    from parrhesia.domain.routing import RouteDecision

__all__ = [
    "TEST_DATABASE_ENV",
    "TEST_BODIES",
    "InstanceRunner",
    "RegisteredRecipient",
    "SubmittedReport",
    "add_test_recipient",
    "install_key_manifest",
    "csrf_token",
    "work_fields",
    "decide",
    "log_in",
    "make_host",
    "review_route",
    "submit_report",
    "tick_at",
]

TEST_DATABASE_ENV = "PARRHESIA_TEST_DATABASE_URL"
TEST_BODIES = [
    {"id": "integrity-office", "name": "Integrity Office", "kind": "anti-corruption agency"},
    {"id": "ombudsman", "name": "Ombudsman", "kind": "ombudsman"},
]
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_WORK = re.compile(r'name="work_challenge"[^>]*value="([^"]+)"')


def _backends() -> list[str]:
    import os

    return ["sqlite", "postgresql"] if os.environ.get(TEST_DATABASE_ENV) else ["sqlite"]


@pytest.fixture(autouse=True)
def desk_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own ``$XDG_CONFIG_HOME``: what the command-line desk remembers (trusted
    keys, audit heads) never comes from, or goes to, the user's ``~/.config`` or another test."""
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'parrhesia-test.db'}"
        return
    import os

    with postgresql_schema(os.environ[TEST_DATABASE_ENV]) as url:
        yield url


@contextmanager
def postgresql_schema(base: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty schema of the PostgreSQL database at ``base`` for as long as the
    block lasts (dropped after): the URL that makes it the search path."""
    from parrhesia.storage.db import make_engine

    schema = f"{prefix}_{secrets.token_hex(6)}"
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
    from parrhesia.web.app import create_app

    application = create_app(instance_dir, {"TESTING": True})
    if instance_settings.get("readers", True):
        config = application.extensions["parrhesia.instance"].config
        for body_id in dict.fromkeys([*config.route, *config.last_resort]):
            add_test_recipient(application, body_id, "Standing reader")
    yield application
    application.extensions["parrhesia.instance"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app: a source's or a recipient's browser."""
    return app.test_client()


@pytest.fixture
def directory(app: Flask) -> Directory:
    """The app's merged directory of bodies (a :class:`parrhesia.contract.directory.Directory`)."""
    found: Directory = app.extensions["parrhesia.domain.host"].directory
    return found


@pytest.fixture
def host(app: Flask) -> PluginHost:
    """The app's plugin host: ``decide(host, implicated=...)`` dry-runs routing on it."""
    found: PluginHost = app.extensions["parrhesia.domain.host"]
    return found


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A SQLAlchemy session on the test instance's database, closed after the test.

    Its transaction holds the database's write lock (transactions begin immediately):
    end it, ``db.commit()`` or ``db.rollback()``, before the app, the command line or
    :func:`tick_at` writes."""
    with Session(app.extensions["parrhesia.instance"].engine) as session:
        yield session


class InstanceRunner:
    """The ``parrhesia`` command line, run in-process against the test instance.

    ``runner.invoke("route", "--field", "implicated=example-interior")`` runs
    ``parrhesia route --instance <the test instance> --field ...``: every command that
    takes ``--instance`` reads it from ``$PARRHESIA_INSTANCE``, which ``invoke`` sets.
    A ``--instance`` given explicitly wins. ``input`` is fed to prompts.
    """

    def __init__(self, instance_dir: Path) -> None:
        self.instance_dir = instance_dir
        self.cli = CliRunner()

    def invoke(self, *args: str | Path, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
        """Run one command; return click's :class:`~click.testing.Result` (``exit_code``,
        ``output``, ``exception``)."""
        from parrhesia.cli import main

        environment = {"PARRHESIA_INSTANCE": str(self.instance_dir), **(env or {})}
        return self.cli.invoke(main, [str(arg) for arg in args], input=input, env=environment)


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app served over HTTP on a loopback port (a thread of this process), for the
    recipient's command-line desk (``parrhesia.recipient.client.DeskClient(server, token)``)."""
    import threading

    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def runner(instance_dir: Path) -> InstanceRunner:
    """The command line bound to the test instance (:class:`InstanceRunner`). It does not
    start the app: ask for ``app`` too when a command needs its standing readers."""
    return InstanceRunner(instance_dir)


def make_host(
    plugins: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    *,
    bodies: Sequence[Mapping[str, str]] = (),
    relations: Sequence[Mapping[str, str]] = (),
    plugin_settings: Mapping[str, Mapping[str, Any]] | None = None,
    path: Path | None = None,
) -> PluginHost:
    """A plugin host with no app and no database, for pure routing tests.

    ``plugins`` are enabled by name (installed entry points, as on an instance);
    ``settings`` is the ``[instance]`` table (``last_resort``, ``route``, ``timezone``...);
    ``bodies`` and ``relations`` are ``[[bodies]]`` and ``[[relations]]`` tables of the
    instance's own (none by default: the plugins' directory only); ``plugin_settings``
    the ``[plugins.<name>]`` tables. The ``parrhesia.toml`` is written to ``path`` (a
    folder, e.g. ``tmp_path``) or to a temporary folder removed once the host is loaded.
    A plugin that fails at start-up raises the error an instance would
    (:class:`parrhesia.plugin.ConfigError`).
    """
    import tomli_w

    from parrhesia.config import CONFIG_FILE, load_config
    from parrhesia.domain.host import load_host

    document = {
        "instance": {"name": "Test host", "route": [], **(settings or {})},
        "bodies": [dict(b) for b in bodies],
        "relations": [dict(r) for r in relations],
        "plugins": {"enabled": list(plugins), **{k: dict(v) for k, v in (plugin_settings or {}).items()}},
    }
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_FILE).write_text(tomli_w.dumps(document), encoding="utf-8")
        return load_host(load_config(path))
    with tempfile.TemporaryDirectory(prefix="parrhesia-host-") as folder:
        (Path(folder) / CONFIG_FILE).write_text(tomli_w.dumps(document), encoding="utf-8")
        return load_host(load_config(folder))


def decide(host_or_app: PluginHost | Flask, **fields: str | Sequence[str]) -> RouteDecision:
    """Route a report with these routing answers, storing nothing; return the decision.

    ``fields`` are routing answers by field name: ``implicated="example-interior"``,
    ``subject=...``, ``jurisdiction=...``, ``urgency=URGENCY_IMMINENT``,
    ``exclude=["example-police"]`` (a list for a multiple choice), and any routing field
    a plugin defines. They are checked as the source form checks them: an unknown
    field or a value that is not one of its choices raises ``AssertionError``, so a
    mistyped body id cannot make a test pass. On an app, only bodies that can read
    reports there are routed to, as for a real submission; on a host (:func:`make_host`,
    the ``host`` fixture) every body counts as able to read.
    """
    from parrhesia.contract.intake import InvalidAnswer, clean_routing_answers
    from parrhesia.contract.routing_request import RoutingRequest

    answers = {name: [value] if isinstance(value, str) else list(value) for name, value in fields.items()}
    if isinstance(host_or_app, Flask):
        plugin_host: PluginHost = host_or_app.extensions["parrhesia.domain.host"]
    else:
        plugin_host = host_or_app
    known = {f.name for f in plugin_host.routing_fields}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise AssertionError(f"not routing fields: {unknown} (known: {sorted(known)})")
    try:
        request = RoutingRequest.from_fields(clean_routing_answers(plugin_host.routing_fields, answers))
    except InvalidAnswer as exc:
        raise AssertionError(f"invalid routing answer: {exc}") from None
    if not isinstance(host_or_app, Flask):
        return plugin_host.decide(request)
    from parrhesia.domain import custody

    with Session(host_or_app.extensions["parrhesia.instance"].engine) as session:
        return plugin_host.decide(request, custody.readable_bodies(session))


def tick_at(app: Flask, day: date | str) -> TickResult:
    """Travel to ``day`` (a date or ``"YYYY-MM-DD"``) and run the clock engine, as
    ``parrhesia tick --now DAY`` does: every running clock due before that day is marked
    missed and its report escalates. Returns the
    :class:`parrhesia.domain.clock_engine.TickResult`: ``missed`` (report id, clock id) pairs,
    ``escalated`` (report id, body id or None) pairs, and ``retention``."""
    from parrhesia.domain.clock_engine import tick

    on = date.fromisoformat(day) if isinstance(day, str) else day
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as session:
        result = tick(app.extensions["parrhesia.domain.host"], session, on=on, instance=instance)
        session.commit()
    return result


@dataclass
class RegisteredRecipient:
    """A recipient registered by :func:`add_test_recipient`: their private key and API token."""

    id: int
    body_id: str
    key: PrivateKey
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def key_file_args(self, folder: Path, passphrase: str = "correct horse battery") -> list[str]:  # nosec B107 - a test key's passphrase
        """``--key FILE --passphrase-file FILE`` for the command-line desk: this
        recipient's key written to ``folder`` as their machine keeps it (fast Argon2id)."""
        from nacl.pwhash import argon2id

        from parrhesia.crypto import wrap_private_key

        path = folder / f"key-{self.id}.prhkey"
        path.write_bytes(wrap_private_key(self.key, passphrase.encode(),
                                          opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN))
        secret = folder / f"passphrase-{self.id}"
        secret.write_text(passphrase + "\n")
        return ["--key", str(path), "--passphrase-file", str(secret)]

    def keyring(self, client: FlaskClient) -> Any:
        """This recipient's opened body keyring (:class:`parrhesia.recipient.client.Keyring`),
        as their own machine opens it from ``GET /api/v1/keyring``."""
        from parrhesia.recipient.client import keyring_from

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


def install_key_manifest(app: Flask, *, key: PrivateKey | None = None) -> tuple[PrivateKey, bytes]:
    """Draft, sign (with ``key``, a fresh manifest key by default) and install the test
    instance's key manifest, as ``parrhesia keys manifest draft/sign/install`` do;
    returns the manifest key file's key and the signed manifest."""
    from parrhesia.crypto.manifest import manifest_signing_key, sign_manifest
    from parrhesia.crypto.receipt import encode_verify_key
    from parrhesia.domain import key_manifest

    instance = app.extensions["parrhesia.instance"]
    secret = key or PrivateKey.generate()
    signer = manifest_signing_key(secret)
    with Session(instance.engine) as db:
        draft = key_manifest.draft(db, instance.config, encode_verify_key(bytes(signer.verify_key)),
                                   on=instance.config.today())
        signed = sign_manifest(draft, signer)
        key_manifest.install(db, instance.config, signed, on=instance.config.today())
    return secret, signed


def add_test_recipient(
    app: Flask, body_id: str, name: str = "Case officer", *, vouched: bool = True, **account: Any
) -> RegisteredRecipient:
    """Register a recipient with a fresh key, as ``parrhesia recipients add`` does.

    With ``vouched`` (the default) the test then plays the members' own machines: the
    body's first recipient creates its body key, and each later one is vouched for by
    that first member. ``vouched=False`` leaves a recipient the operator registered and
    no member vouched for: they can read nothing. ``account`` is passed on to
    :func:`parrhesia.domain.accounts.add_recipient` (``login_name``, ``password``, ``role``).
    """
    from parrhesia.crypto import generate_recipient_key, grant_body_key, new_body_key
    from parrhesia.domain import custody
    from parrhesia.domain.accounts import add_recipient
    from parrhesia.storage.models import Recipient

    key = generate_recipient_key()
    engine = app.extensions["parrhesia.instance"].engine
    machines: dict[str, tuple[PrivateKey, int, PrivateKey]] = app.extensions.setdefault("parrhesia.testing.body_keys", {})
    today = app.extensions["parrhesia.instance"].config.today
    with Session(engine) as db:
        token = add_recipient(db, body_id=body_id, name=name, public_key=bytes(key.public_key), on=today(), **account)
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


def work_fields(html: str | bytes) -> dict[str, str]:
    """The work challenge of the first form in a page (parrhesia.domain.flood), to send
    with the form as a browser does; it asks nothing outside a flood."""
    page = html.decode() if isinstance(html, bytes) else html
    match = _WORK.search(page)
    if match is None:
        raise AssertionError("no work_challenge field in the page")
    return {"work_challenge": match.group(1), "work_solution": ""}


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
    """Submit a report through the source forms, as a browser would: the routing
    questions, the review page, then the report itself.

    ``client``: the browser (the ``client`` fixture, or ``app.test_client()``).
    ``message``: the report's text (may be empty when there are files).
    ``files``: attachments as ``(file name, content)`` pairs.
    ``answers``: the content questions' answers by field name (``{"when": "May"}``),
    encrypted with the report.
    ``routing``: the routing answers by field name, as strings or lists of strings
    (``implicated="example-interior"``, ``subject=...``, ``exclude=[...]``); sent with
    both steps, as the form does.

    Returns the final response and the codename it shows, or ``(response, None)`` when
    the submission was refused (then ``response`` is the page that refused it: the
    review step's or the submission's).
    """
    import io

    review = review_route(client, **routing)
    if review.status_code != 200:
        return review, None
    token = csrf_token(review.data)
    data: dict[str, Any] = {"csrf_token": token, **work_fields(review.data), **routing, **(answers or {}),
                            "message": message}
    if files:
        data["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    response = client.post("/submit", data=data, content_type="multipart/form-data")
    match = re.search(r'id="codename"[^>]*>([^<]+)<', response.get_data(as_text=True))
    return response, (match.group(1).strip() if match else None)


def log_in(client: FlaskClient, codename: str) -> Any:
    """Log in as a source with their codename; return the response."""
    page = client.get("/login").data
    return client.post("/login", data={"csrf_token": csrf_token(page), **work_fields(page), "codename": codename})


@dataclass
class SubmittedReport:
    """A report the ``submitted_report`` fixture submitted: its id, codename and message."""

    id: str
    codename: str
    message: str


@pytest.fixture
def submitted_report(app: Flask, recipient: RegisteredRecipient) -> SubmittedReport:
    """A report submitted through the source form, readable by ``recipient``."""
    from parrhesia.crypto import derive_source_identity
    from parrhesia.domain.reports import find_by_lookup

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


