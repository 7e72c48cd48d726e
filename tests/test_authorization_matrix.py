"""The authorisation matrix, built from the app's own URL map.

Every rule under ``/api/v1`` and ``/desk`` that takes a ``report_id`` is tried with
every method it allows: a recipient of another body gets 404 and no data; an operator
gets 403 at the desk; nobody logged in gets 401 (or is sent to the desk log-in); a
body that recused itself loses access at once; a deactivated recipient's token and
desk session stop working; the key custody routes act only on the caller's own body,
and only for a holder of its key. Routes added later are covered without touching this file.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from parrhesia.crypto import (
    chain_previous_body_key,
    encode_public_key,
    encrypt_bytes,
    grant_body_key,
    new_body_key,
)
from parrhesia.crypto._encoding import b64url_encode
from parrhesia.domain.accounts import utcnow
from parrhesia.domain.reports import token_hash
from parrhesia.recipient.client import DeskError
from parrhesia.storage.models import (
    AuditEntry,
    BodyKey,
    BodyKeyGrant,
    DeskSession,
    Operator,
    Part,
    Recipient,
    Report,
    ReportBody,
)
from parrhesia.testing import RegisteredRecipient, SubmittedReport, add_test_recipient

BODY_A = "integrity-office"  # the outsider's body: never on the report's route
BODY_B = "ombudsman"  # the body the report is routed to
LAST_RESORT = "audit-office"
PUBLIC_API = {"/api/v1/openapi.json"}
_IGNORED_METHODS = {"HEAD", "OPTIONS"}
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {
        "bodies": [
            {"id": BODY_A, "name": "Integrity Office", "kind": "anti-corruption agency"},
            {"id": BODY_B, "name": "Ombudsman", "kind": "ombudsman"},
            {"id": LAST_RESORT, "name": "Audit Office", "kind": "audit institution"},
        ],
        "instance": {"route": [BODY_B], "last_resort": [LAST_RESORT]},
    }


@pytest.fixture
def matrix_app(app: Flask) -> Flask:
    # CSRF is switched off so that a POST reaches the authorisation check: a 400 for a
    # missing CSRF token would prove nothing about who may act on a report.
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def _desk_recipient(app: Flask, body_id: str, login_name: str, *, vouched: bool = True) -> RegisteredRecipient:
    """A recipient with an API token and a desk log-in; ``vouched``: holding the body key."""
    return add_test_recipient(app, body_id, login_name, vouched=vouched, login_name=login_name,
                              password=f"{login_name} has a long password")


@pytest.fixture
def insider(app: Flask) -> RegisteredRecipient:
    return _desk_recipient(app, BODY_B, "ombudsman-officer")


@pytest.fixture
def outsider(app: Flask) -> RegisteredRecipient:
    return _desk_recipient(app, BODY_A, "integrity-officer")


@pytest.fixture
def report_b(app: Flask, insider: RegisteredRecipient, outsider: RegisteredRecipient) -> SubmittedReport:
    """A report routed to body B only, submitted through the source form; the last
    resort has a recipient, so that body B can recuse (someone must be able to take over)."""
    _desk_recipient(app, LAST_RESORT, "audit-officer")
    from parrhesia.crypto import derive_source_identity
    from parrhesia.domain.reports import find_by_lookup
    from parrhesia.testing import submit_report

    response, codename = submit_report(app.test_client(), "Matrix report")
    assert response.status_code == 200 and codename
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        found = find_by_lookup(db, derive_source_identity(codename, instance.pepper).lookup_id)
        assert found is not None
        assert [b.body_id for b in found.bodies if b.role == "route"] == [BODY_B]
        return SubmittedReport(id=found.id, codename=codename, message="Matrix report")


# ---------------------------------------------------------------------------
# The matrix: rules, requests and what must not leak
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    rule: Rule
    method: str
    path: str

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule}"


def _rules(app: Flask, *prefixes: str) -> Iterator[Rule]:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefixes):
            yield rule


def _probes(app: Flask, values: dict[str, str], *, prefixes: tuple[str, ...] = ("/api/v1/", "/desk/"),
            report_rules_only: bool = True) -> list[Probe]:
    probes = []
    for rule in _rules(app, *prefixes):
        if report_rules_only and "report_id" not in rule.arguments:
            continue
        path = _ARGUMENT.sub(lambda m: values.get(m.group(1), "0" * 32), rule.rule)
        for method in sorted((rule.methods or set()) - _IGNORED_METHODS):
            probes.append(Probe(rule, method, path))
    return probes


def _values(app: Flask, report_id: str) -> dict[str, str]:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        part_id = db.scalar(select(Part.id).where(Part.report_id == report_id).order_by(Part.seq).limit(1))
    return {"report_id": report_id, "part_id": part_id or "0" * 32}


def _send(client: FlaskClient, probe: Probe, headers: dict[str, str], report: Report | None = None) -> TestResponse:
    """The request, with a body that would do something if it were let through."""
    if probe.method in ("GET", "DELETE"):
        return client.open(probe.path, method=probe.method, headers=headers)
    if probe.method == "PUT":
        blob = b"PRHP" + b"\0" * 64
        if report is not None:
            part_id = probe.path.rstrip("/").rsplit("/", 1)[-1]
            blob = encrypt_bytes(b"let me in", report.public_key, report.id, part_id, {"kind": "reply"})
        return client.open(probe.path, method="PUT", data=blob, headers=headers)
    fields = {"status": "closed", "reason": "matrix probe", "body": LAST_RESORT, "target": LAST_RESORT,
              "text": "matrix probe", "message": "matrix probe"}
    if probe.api:
        return client.open(probe.path, method=probe.method, json=fields, headers=headers)
    return client.open(probe.path, method=probe.method, data=fields, headers=headers)


def _secrets_of(app: Flask, report_id: str) -> list[str]:
    """What a response to a stranger must never contain."""
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        found = db.get(Report, report_id)
        assert found is not None
        keys = [found.public_key] + [k.sealed for k in found.sealed_keys]
        parts = [p.id for p in found.parts]
    encoded = [encode_public_key(found.public_key)]
    for key in keys:
        encoded += [base64.b64encode(key).decode(), b64url_encode(key)]
    return encoded + parts


def _state(app: Flask, report_id: str) -> tuple[Any, ...]:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        found = db.get(Report, report_id)
        assert found is not None
        return (
            found.status,
            sorted((b.body_id, b.role) for b in found.bodies),
            sorted(p.id for p in found.parts),
            sorted((c.clock_id, c.state, c.due_on) for c in found.clocks),
            db.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.report_id == report_id, AuditEntry.action != "open")),
        )


def _leaks(response: TestResponse, secrets_: list[str], probe: Probe) -> list[str]:
    """Secrets in the response, but for what the request itself carried in its path
    (a redirect to the log-in page names the page asked for)."""
    text = response.get_data(as_text=True)
    return [s for s in secrets_ if s and s in text and s not in probe.path]


def _desk_login(app: Flask, account: str) -> FlaskClient:
    """A client logged in to the desk, without going through the log-in page."""
    token = secrets.token_bytes(32)
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        now = utcnow()
        db.add(DeskSession(token_hash=token_hash(token), account=account, created_at=now, last_seen_at=now))
        db.commit()
    client = app.test_client()
    with client.session_transaction() as session:
        session["desk"] = token.hex()
    return client


def _add_operator(app: Flask) -> int:
    from parrhesia.domain.accounts import hash_password, new_totp_secret
    today = date.today

    with Session(app.extensions["parrhesia.instance"].engine) as db:
        operator = Operator(login_name="operator", password_hash=hash_password("a long operator password"),
                            totp_secret=new_totp_secret(), failed_logins=0, created_on=today())
        db.add(operator)
        db.commit()
        return operator.id


def _not_logged_in(response: TestResponse) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code in (302, 303) and "/desk/login" in response.headers.get("Location", "")


def _report(failures: list[str]) -> None:
    assert not failures, "\n" + "\n".join(failures)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_the_matrix_covers_every_report_route_of_the_api(matrix_app: Flask, report_b: SubmittedReport) -> None:
    api = {str(p) for p in _probes(matrix_app, _values(matrix_app, report_b.id), prefixes=("/api/v1/",))}
    for expected in ("GET /api/v1/reports/<report_id>", "GET /api/v1/reports/<report_id>/parts/<part_id>",
                     "PUT /api/v1/reports/<report_id>/replies/<part_id>", "POST /api/v1/reports/<report_id>/acknowledge",
                     "POST /api/v1/reports/<report_id>/status", "POST /api/v1/reports/<report_id>/notes",
                     "POST /api/v1/reports/<report_id>/recusal", "POST /api/v1/reports/<report_id>/transfer",
                     "GET /api/v1/reports/<report_id>/audit"):
        assert expected in api


def test_insider_reaches_every_readable_report_route(
    matrix_app: Flask, insider: RegisteredRecipient, report_b: SubmittedReport
) -> None:
    """The control: the same requests that strangers are refused do work for the body."""
    desk = _desk_login(matrix_app, f"recipient:{insider.id}")
    api = matrix_app.test_client()
    failures = []
    for probe in _probes(matrix_app, _values(matrix_app, report_b.id)):
        if probe.method != "GET":
            continue
        response = _send(api if probe.api else desk, probe, insider.headers if probe.api else {})
        if response.status_code != 200:
            failures.append(f"{probe}: {response.status_code} for a recipient of the report's body")
    _report(failures)
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        public_key = db.get(Report, report_b.id).public_key  # type: ignore[union-attr]
    assert bytes(insider.report_key(api, report_b.id).public_key) == public_key  # and opens it


def test_recipient_of_another_body_gets_404_and_no_data_on_every_report_route(
    matrix_app: Flask, outsider: RegisteredRecipient, report_b: SubmittedReport
) -> None:
    secrets_ = _secrets_of(matrix_app, report_b.id)
    before = _state(matrix_app, report_b.id)
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        report = db.get(Report, report_b.id)
    desk = _desk_login(matrix_app, f"recipient:{outsider.id}")
    api = matrix_app.test_client()
    failures = []
    for probe in _probes(matrix_app, _values(matrix_app, report_b.id)):
        response = _send(api if probe.api else desk, probe, outsider.headers if probe.api else {}, report)
        if response.status_code != 404:
            failures.append(f"{probe}: {response.status_code}, expected 404")
        if probe.api and not response.is_json:
            failures.append(f"{probe}: the API answered without JSON")
        if leaked := _leaks(response, secrets_ + [report_b.id], probe):
            failures.append(f"{probe}: the response contains {leaked}")
    _report(failures)
    assert _state(matrix_app, report_b.id) == before


def test_recipient_of_another_body_lists_nothing_of_it(
    matrix_app: Flask, outsider: RegisteredRecipient, report_b: SubmittedReport
) -> None:
    desk = _desk_login(matrix_app, f"recipient:{outsider.id}")
    api = matrix_app.test_client()
    failures = []
    for probe in _probes(matrix_app, {}, report_rules_only=False):
        if probe.method != "GET" or probe.rule.arguments:
            continue
        response = _send(api if probe.api else desk, probe, outsider.headers if probe.api else {})
        if report_b.id in response.get_data(as_text=True):
            failures.append(f"{probe}: lists the report of another body")
    _report(failures)


def test_operator_gets_403_on_every_desk_report_route(matrix_app: Flask, report_b: SubmittedReport) -> None:
    secrets_ = _secrets_of(matrix_app, report_b.id)
    before = _state(matrix_app, report_b.id)
    desk = _desk_login(matrix_app, f"operator:{_add_operator(matrix_app)}")
    failures = []
    for probe in _probes(matrix_app, _values(matrix_app, report_b.id), prefixes=("/desk/",)):
        response = _send(desk, probe, {})
        if response.status_code != 403:
            failures.append(f"{probe}: {response.status_code}, expected 403 for an operator")
        if leaked := _leaks(response, secrets_, probe):
            failures.append(f"{probe}: the response contains {leaked}")
    _report(failures)
    assert _state(matrix_app, report_b.id) == before


def test_nobody_logged_in_is_refused_on_every_desk_report_route(matrix_app: Flask, report_b: SubmittedReport) -> None:
    secrets_ = _secrets_of(matrix_app, report_b.id)
    before = _state(matrix_app, report_b.id)
    anonymous = matrix_app.test_client()
    failures = []
    for probe in _probes(matrix_app, _values(matrix_app, report_b.id), prefixes=("/desk/",)):
        response = _send(anonymous, probe, {})
        if not _not_logged_in(response):
            failures.append(f"{probe}: {response.status_code}, expected 401/403 or the log-in page")
        if leaked := _leaks(response, secrets_, probe):
            failures.append(f"{probe}: the response contains {leaked}")
    _report(failures)
    assert _state(matrix_app, report_b.id) == before


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Bearer ", "Basic b3BlcmF0b3I6c2VjcmV0", "bearer"])
def test_every_api_route_refuses_a_missing_or_invalid_token(
    matrix_app: Flask, report_b: SubmittedReport, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = _state(matrix_app, report_b.id)
    client = matrix_app.test_client()
    failures = []
    probes = _probes(matrix_app, _values(matrix_app, report_b.id), prefixes=("/api/v1/",), report_rules_only=False)
    for probe in probes:
        response = _send(client, probe, headers)
        expected = 200 if probe.rule.rule in PUBLIC_API else 401
        if response.status_code != expected or not response.is_json:
            failures.append(f"{probe}: {response.status_code}, expected {expected} (JSON)")
    _report(failures)
    assert _state(matrix_app, report_b.id) == before
    assert {p.rule.rule for p in probes} >= PUBLIC_API | {"/api/v1/me", "/api/v1/reports"}


def test_recused_body_loses_access_at_once_on_every_report_route(
    matrix_app: Flask, insider: RegisteredRecipient, report_b: SubmittedReport
) -> None:
    values = _values(matrix_app, report_b.id)
    desk = _desk_login(matrix_app, f"recipient:{insider.id}")
    api = matrix_app.test_client()
    recusal = api.post(f"/api/v1/reports/{report_b.id}/recusal", json={"reason": "Our director is implicated"},
                       headers=insider.headers)
    assert recusal.status_code == 200
    secrets_ = _secrets_of(matrix_app, report_b.id)
    before = _state(matrix_app, report_b.id)
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        report = db.get(Report, report_b.id)
    failures = []
    for probe in _probes(matrix_app, values):
        response = _send(api if probe.api else desk, probe, insider.headers if probe.api else {}, report)
        if response.status_code != 404:
            failures.append(f"{probe}: {response.status_code} after recusal, expected 404")
        if leaked := _leaks(response, secrets_, probe):
            failures.append(f"{probe}: the response contains {leaked}")
    _report(failures)
    assert _state(matrix_app, report_b.id) == before
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        roles = set(db.scalars(select(ReportBody.role).where(ReportBody.report_id == report_b.id,
                                                             ReportBody.body_id == BODY_B)))
    assert roles == {"recused"}


def test_deactivated_recipient_loses_token_and_desk_session(
    matrix_app: Flask, insider: RegisteredRecipient, report_b: SubmittedReport
) -> None:
    desk = _desk_login(matrix_app, f"recipient:{insider.id}")
    api = matrix_app.test_client()
    assert api.get(f"/api/v1/reports/{report_b.id}", headers=insider.headers).status_code == 200
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        row = db.get(Recipient, insider.id)
        assert row is not None
        row.active = False
        db.commit()
    secrets_ = _secrets_of(matrix_app, report_b.id)
    before = _state(matrix_app, report_b.id)
    failures = []
    for probe in _probes(matrix_app, _values(matrix_app, report_b.id), report_rules_only=False):
        if probe.rule.rule in PUBLIC_API or (not probe.api and "report_id" not in probe.rule.arguments):
            continue
        response = _send(api if probe.api else desk, probe, insider.headers if probe.api else {})
        if probe.api and response.status_code != 401:
            failures.append(f"{probe}: {response.status_code} for a deactivated recipient's token, expected 401")
        if not probe.api and not _not_logged_in(response):
            failures.append(f"{probe}: {response.status_code} for a deactivated recipient's desk session")
        if leaked := _leaks(response, secrets_, probe):
            failures.append(f"{probe}: the response contains {leaked}")
    _report(failures)
    assert _state(matrix_app, report_b.id) == before


def _custody(app: Flask) -> tuple[Any, ...]:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        keys = sorted((k.body_id, k.generation, k.public_key) for k in db.scalars(select(BodyKey)))
        grants = sorted((g.body_key_id, g.recipient_id, g.boxed) for g in db.scalars(select(BodyKeyGrant)))
    return keys, grants


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_key_custody_routes_act_only_on_the_callers_own_body(
    matrix_app: Flask, insider: RegisteredRecipient, outsider: RegisteredRecipient, report_b: SubmittedReport
) -> None:
    api = matrix_app.test_client()
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        body_b = [k for k in db.scalars(select(BodyKey).where(BodyKey.body_id == BODY_B))]
        hidden = [g.boxed for k in body_b for g in k.grants] + [k.previous_sealed for k in body_b if k.previous_sealed]
    ring = api.get("/api/v1/keyring", headers=outsider.headers)
    assert ring.status_code == 200 and ring.json["body"] == BODY_A
    assert ring.json["keyring"][0]["grant"] is not None  # the outsider holds their own body's key
    leaked = [h for h in hidden if _b64(h) in ring.get_data(as_text=True)]
    assert leaked == [], "another body's grants in the keyring"

    unvouched = _desk_recipient(matrix_app, BODY_B, "ombudsman-newcomer", vouched=False)
    before, custody_before = _state(matrix_app, report_b.id), _custody(matrix_app)
    stray_body_key = new_body_key()

    def rotation(who: RegisteredRecipient, members: list[RegisteredRecipient]) -> dict[str, Any]:
        return {"generation": 1, "public_key": encode_public_key(bytes(stray_body_key.public_key)),
                "previous_sealed": _b64(chain_previous_body_key(new_body_key(), bytes(stray_body_key.public_key))),
                "grants": {str(m.id): _b64(grant_body_key(stray_body_key, bytes(m.key.public_key), who.key))
                           for m in members}}

    attempts = [
        # A holder of body A's key vouches for, or rotates to, a member of body B.
        (outsider, "/api/v1/body-key/grants",
         {"recipient": insider.id, "generation": 1, "grant": _b64(grant_body_key(stray_body_key, bytes(insider.key.public_key), outsider.key))}),
        (outsider, "/api/v1/body-key/grants",
         {"recipient": unvouched.id, "generation": 1, "grant": _b64(grant_body_key(stray_body_key, bytes(unvouched.key.public_key), outsider.key))}),
        (outsider, "/api/v1/body-key/rotation", rotation(outsider, [outsider, insider])),
        # A member of body B nobody vouched for (the operator's pick) cannot make themselves a reader.
        (unvouched, "/api/v1/body-key",
         {"public_key": encode_public_key(bytes(stray_body_key.public_key)),
          "grant": _b64(grant_body_key(stray_body_key, bytes(unvouched.key.public_key), unvouched.key))}),
        (unvouched, "/api/v1/body-key/grants",
         {"recipient": unvouched.id, "generation": 1, "grant": _b64(grant_body_key(stray_body_key, bytes(unvouched.key.public_key), unvouched.key))}),
        (unvouched, "/api/v1/body-key/rotation", rotation(unvouched, [unvouched])),
    ]
    failures = []
    for who, path, payload in attempts:
        response = api.post(path, json=payload, headers=who.headers)
        if response.status_code != 409 or not response.is_json:
            failures.append(f"POST {path} by recipient {who.id} of {who.body_id}: {response.status_code}, expected 409")
    _report(failures)
    assert _custody(matrix_app) == custody_before
    assert _state(matrix_app, report_b.id) == before
    with pytest.raises(DeskError, match="no grant"):
        unvouched.report_key(api, report_b.id)


def test_intake_routes_never_reach_an_existing_report_nor_seal_to_a_body_off_the_route(
    matrix_app: Flask, outsider: RegisteredRecipient, report_b: SubmittedReport
) -> None:
    """A recipient filing for a person (``desk intake``) makes a new report or nothing:
    not one under an existing report's id, and never one sealed to a body the server's
    own routing did not choose (here the filer's own body, which is not on the route)."""
    from parrhesia.crypto import decode_public_key, new_report_keypair, seal_report_key

    api = matrix_app.test_client()
    route = api.post("/api/v1/intake/route", json={"fields": {}}, headers=outsider.headers)
    assert route.status_code == 200 and not route.json["your_body_receives"]
    assert report_b.id not in route.get_data(as_text=True)
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        own = db.scalars(select(BodyKey).where(BodyKey.body_id == BODY_A)).one()
        reports_before = db.scalar(select(func.count()).select_from(Report))
    before = _state(matrix_app, report_b.id)

    def payload(report_id: str, *, own_body: bool) -> dict[str, Any]:
        report_key, part_id = new_report_keypair(), secrets.token_hex(16)
        blob = encrypt_bytes(b"filed for a person", bytes(report_key.public_key), report_id, part_id, {"kind": "message"})
        sealed = [{"body": b["body"], "generation": b["generation"],
                   "sealed_key": _b64(seal_report_key(report_key, decode_public_key(b["public_key"])))}
                  for b in route.json["body_keys"]]
        return {"id": report_id, "channel": "in-person", "fields": {}, "name_officer": False,
                "public_key": encode_public_key(bytes(report_key.public_key)), "lookup_id": _b64(secrets.token_bytes(32)),
                "source_sealed_key": _b64(seal_report_key(report_key, bytes(new_report_keypair().public_key))),
                "bodies": [*sealed, *([{"body": BODY_A, "generation": own.generation,
                                        "sealed_key": _b64(seal_report_key(report_key, own.public_key))}]
                                      if own_body else [])],
                "parts": [{"id": part_id, "kind": "message", "ciphertext": _b64(blob)}]}

    failures = []
    for what, body in (("an existing report's id", payload(report_b.id, own_body=False)),
                       ("a key sealed to the filer's own body, off the route",
                        payload(secrets.token_hex(16), own_body=True))):
        response = api.post("/api/v1/intake", json=body, headers=outsider.headers)
        if response.status_code != 409 or not response.is_json:
            failures.append(f"POST /api/v1/intake with {what}: {response.status_code}, expected 409")
    _report(failures)
    assert _state(matrix_app, report_b.id) == before
    with Session(matrix_app.extensions["parrhesia.instance"].engine) as db:
        assert db.scalar(select(func.count()).select_from(Report)) == reports_before
