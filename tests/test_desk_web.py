"""The web desk without JavaScript: log-in with TOTP, inbox, report page, casework, roles.

Runs on SQLite, and on PostgreSQL too when PARRHESIA_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parrhesia.crypto import (
    CryptoFormatError,
    decrypt_bytes,
    encrypt_bytes,
    generate_recipient_key,
    open_report_key,
    wrap_private_key,
)
from parrhesia.crypto._encoding import b64url_decode
from parrhesia.domain import audit
from parrhesia.domain.accounts import FREE_FAILURES, hash_password, new_totp_secret, utcnow
from parrhesia.recipient.client import Keyring, keyring_from
from parrhesia.storage.models import (
    AuditEntry,
    DeskSession,
    Operator,
    Part,
    PluginError,
    Recipient,
    Report,
    ReportClock,
    SealedKey,
)
from parrhesia.testing import (
    TEST_BODIES,
    RegisteredRecipient,
    SubmittedReport,
    add_test_recipient,
    csrf_token,
    log_in,
    submit_report,
)

PASSWORD = "a long desk password 1"
OTHER_BODY = "ombudsman"
OUTSIDER = "audit-office"


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    # The integrity office gets reports; the ombudsman is the last resort (it holds the
    # report key from submission, and receives the report on escalation or transfer);
    # the audit office holds no key for any report.
    return {
        "bodies": [*TEST_BODIES, {"id": OUTSIDER, "name": "Audit Office", "kind": "audit institution"}],
        "instance": {"route": [TEST_BODIES[0]["id"]], "last_resort": [OTHER_BODY]},
    }


@dataclass
class DeskUser:
    id: int
    kind: str
    login_name: str
    secret: str
    body_id: str | None = None
    key: PrivateKey | None = None

    def code(self, offset: int = 0) -> str:
        totp = pyotp.TOTP(self.secret)
        return totp.at(utcnow().replace(tzinfo=UTC) + timedelta(seconds=30 * offset))


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def add_desk_recipient(app: Flask, body_id: str, *, role: str = "recipient", enrolled: bool = True,
                       vouched: bool = True) -> DeskUser:
    """A desk log-in at a body; ``vouched`` (the default): a member of the body vouched for
    them (or they created its key), so they read its reports (see :func:`add_test_recipient`)."""
    login_name = f"officer-{secrets.token_hex(3)}"
    registered = add_test_recipient(app, body_id, f"Officer {login_name}", vouched=vouched, login_name=login_name,
                                    password=PASSWORD, role=role)
    with Session(_engine(app)) as db:
        recipient = db.get(Recipient, registered.id)
        assert recipient is not None
        if enrolled:
            recipient.totp_last_step = 0
        db.commit()
        return DeskUser(recipient.id, "recipient", login_name, recipient.totp_secret or "", body_id, registered.key)


def _keyring(data: dict[str, Any], user: DeskUser) -> Keyring:
    """The body keyring of a report's ``.json``, opened as the user's browser does."""
    assert user.key is not None and user.body_id is not None
    return keyring_from({"body": user.body_id, "keyring": data["keyring"]}, user.key)


def add_operator(app: Flask) -> DeskUser:
    secret = new_totp_secret()
    with Session(_engine(app)) as db:
        operator = Operator(login_name="operator-1", password_hash=hash_password(PASSWORD), totp_secret=secret,
                            failed_logins=0, created_on=date.today())
        db.add(operator)
        db.commit()
        return DeskUser(operator.id, "operator", operator.login_name, secret)


def login(client: FlaskClient, user: DeskUser, *, code: str | None = None, password: str = PASSWORD,
          next_path: str | None = None) -> Any:
    page = "/desk/login" + (f"?next={next_path}" if next_path else "")
    token = csrf_token(client.get(page).data)
    return client.post(page, data={"csrf_token": token, "login_name": user.login_name, "password": password,
                                   "code": user.code() if code is None else code})


def post(client: FlaskClient, path: str, page: str, **fields: str) -> Any:
    """Submit a form of ``page`` to ``path`` with the page's CSRF token."""
    token = csrf_token(client.get(page).data)
    return client.post(path, data={"csrf_token": token, **fields})


def audit_entries(app: Flask) -> list[AuditEntry]:
    with Session(_engine(app)) as db:
        return list(db.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def actions(app: Flask, actor: str | None = None) -> list[str]:
    return [e.action for e in audit_entries(app) if actor is None or e.actor == actor]


@pytest.fixture
def officer(app: Flask, recipient: RegisteredRecipient) -> DeskUser:
    """A desk log-in for the fixture recipient's body (integrity office), with its own key."""
    return add_desk_recipient(app, recipient.body_id)


@pytest.fixture
def report_for_officer(app: Flask, officer: DeskUser, submitted_report: SubmittedReport) -> SubmittedReport:
    return submitted_report


@pytest.fixture
def desk(client: FlaskClient, officer: DeskUser) -> FlaskClient:
    response = login(client, officer)
    assert response.status_code == 303, response.data
    return client


# ---------------------------------------------------------------- log-in


def test_login_with_password_and_totp_lands_in_the_inbox(app: Flask, client: FlaskClient, officer: DeskUser) -> None:
    response = login(client, officer)
    assert response.status_code == 303 and response.headers["Location"].endswith("/desk/")
    inbox = client.get("/desk/")
    assert inbox.status_code == 200 and b"Integrity Office" in inbox.data
    assert actions(app, f"recipient:{officer.id}")[-1] == "login"


def test_login_refuses_a_wrong_password_or_code_with_one_generic_message(
    app: Flask, client: FlaskClient, officer: DeskUser
) -> None:
    wrong_password = login(client, officer, password="not the password at all")
    wrong_code = login(client, officer, code="000000" if officer.code() != "000000" else "111111")
    unknown = login(client, DeskUser(0, "recipient", "nobody-here", pyotp.random_base32()))
    for response in (wrong_password, wrong_code, unknown):
        assert response.status_code == 403
        assert b"Log-in refused" in response.data
    alerts = {re.search(r'role="alert">([^<]+)<', r.get_data(as_text=True)).group(1) for r in (wrong_password, wrong_code, unknown)}
    assert len(alerts) == 1, "the message must not say which factor was wrong, or whether the account exists"
    failed = [e for e in audit_entries(app) if e.action == "login.failed"]
    assert [e.actor for e in failed] == [f"recipient:{officer.id}", f"recipient:{officer.id}", "unknown"]


def test_a_totp_code_cannot_be_reused(app: Flask, client: FlaskClient, officer: DeskUser) -> None:
    code = officer.code()
    assert login(client, officer, code=code).status_code == 303
    post(client, "/desk/logout", "/desk/")
    assert login(client, officer, code=code).status_code == 403
    assert client.get("/desk/").status_code == 303
    # an older code than the one used is refused too; the next one works
    assert login(client, officer, code=officer.code(-1)).status_code == 403
    assert login(client, officer, code=officer.code(+1)).status_code == 303


def _alert(response: Any) -> str:
    return re.search(r'role="alert">([^<]+)<', response.get_data(as_text=True)).group(1)


def _counters(app: Flask, user: DeskUser) -> tuple[int, Any]:
    with Session(_engine(app)) as db:
        stored = db.get(Recipient, user.id)
        assert stored is not None
        return stored.failed_logins, stored.locked_until


def test_repeated_failures_delay_the_next_attempt_without_locking_the_real_user_out(
    app: Flask, client: FlaskClient, officer: DeskUser
) -> None:
    for _ in range(FREE_FAILURES):
        wrong = login(client, officer, password="wrong password, again")
        assert wrong.status_code == 403
    failures, next_allowed = _counters(app, officer)
    assert failures == FREE_FAILURES and next_allowed is not None and next_allowed > utcnow()
    # Too early: refused even with the right password and code, with the same message,
    # and not counted (nor is a wrong password sent during the wait).
    early = login(client, officer)
    assert early.status_code == 403 and _alert(early) == _alert(wrong)
    assert client.get("/desk/").status_code == 303
    assert login(client, officer, password="wrong password, during the wait").status_code == 403
    assert _counters(app, officer) == (failures, next_allowed)
    failed = [json.loads(e.detail) for e in audit_entries(app) if e.action == "login.failed"]
    assert [d["throttled"] for d in failed] == [False] * FREE_FAILURES + [True, True]
    # Once the wait is over, the real user gets in (the early attempt did not use up the code).
    with Session(_engine(app)) as db:
        db.execute(update(Recipient).where(Recipient.id == officer.id).values(locked_until=utcnow() - timedelta(seconds=1)))
        db.commit()
    assert login(client, officer).status_code == 303
    assert _counters(app, officer) == (0, None)


def test_the_delay_is_per_account(
    app: Flask, client: FlaskClient, officer: DeskUser, recipient: RegisteredRecipient
) -> None:
    colleague = add_desk_recipient(app, recipient.body_id)
    for _ in range(FREE_FAILURES + 3):
        assert login(client, officer, password="wrong password, again").status_code == 403
    assert _counters(app, officer)[1] is not None
    other = app.test_client()
    assert login(other, colleague).status_code == 303
    assert _counters(app, colleague) == (0, None)


def test_first_login_enrols_totp_with_a_server_rendered_qr_code(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient
) -> None:
    newcomer = add_desk_recipient(app, recipient.body_id, enrolled=False)
    response = login(client, newcomer, code="")
    assert response.status_code == 303 and response.headers["Location"].endswith("/desk/enrol")
    assert client.get("/desk/").status_code == 303, "a pending enrolment is not a log-in"
    page = client.get("/desk/enrol")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "<img" not in html
    secret = re.search(r'id="totp-secret"[^>]*>([^<]+)<', html).group(1).replace(" ", "")
    assert secret != newcomer.secret, "the secret is made fresh after the password was checked"
    token = csrf_token(html)
    wrong = client.post("/desk/enrol", data={"csrf_token": token, "code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 403
    done = client.post("/desk/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 303 and done.headers["Location"].endswith("/desk/")
    assert client.get("/desk/").status_code == 200
    with Session(_engine(app)) as db:
        stored = db.get(Recipient, newcomer.id)
        assert stored.totp_secret == secret and stored.totp_last_step is not None
    assert actions(app, f"recipient:{newcomer.id}") == ["enrol.start", "enrol.failed", "enrol", "login"]
    # enrolled now: the password alone no longer logs in
    client2 = app.test_client()
    assert login(client2, DeskUser(newcomer.id, "recipient", newcomer.login_name, secret), code="").status_code == 403


def test_enrolment_needs_the_password_and_expires(app: Flask, client: FlaskClient, recipient: RegisteredRecipient) -> None:
    newcomer = add_desk_recipient(app, recipient.body_id, enrolled=False)
    assert client.get("/desk/enrol").status_code == 303
    assert login(client, newcomer, code="", password="wrong password here").status_code == 403
    assert client.get("/desk/enrol").status_code == 303
    assert login(client, newcomer, code="").status_code == 303
    with client.session_transaction() as state:
        pending = state["desk_enrol"]
        state["desk_enrol"] = [pending[0], 0, pending[2]]  # the pending state is short-lived
    assert client.get("/desk/enrol").status_code == 303


def test_login_redirects_only_to_local_desk_paths(
    app: Flask, officer: DeskUser, report_for_officer: SubmittedReport
) -> None:
    from parrhesia.web.desk.views import _safe_next

    evil = "https://evil.example/desk/"
    response = login(app.test_client(), officer, code=officer.code(0), next_path=evil)
    assert response.status_code == 303 and response.headers["Location"] == "/desk/"
    wanted = f"/desk/reports/{report_for_officer.id}"
    response = login(app.test_client(), officer, code=officer.code(+1), next_path=wanted)
    assert response.status_code == 303 and response.headers["Location"] == wanted
    for evil in ("https://evil.example/desk/", "//evil.example/desk/", "/\\evil.example", "/submit",
                 "javascript:alert(1)", "/desk/../submit", "/desk/\nx", "http:/desk/"):
        assert _safe_next(evil) is None, evil
    assert _safe_next(wanted) == wanted


# ---------------------------------------------------------------- sessions


def _only_session(app: Flask) -> DeskSession:
    with Session(_engine(app)) as db:
        return db.scalars(select(DeskSession)).one()


@pytest.mark.parametrize(("field", "age"), [("last_seen_at", timedelta(minutes=31)), ("created_at", timedelta(hours=12, minutes=1))])
def test_sessions_expire_when_idle_and_after_the_absolute_limit(app: Flask, desk: FlaskClient, field: str, age: timedelta) -> None:
    assert desk.get("/desk/").status_code == 200
    row = _only_session(app)
    with Session(_engine(app)) as db:
        db.execute(update(DeskSession).where(DeskSession.token_hash == row.token_hash).values({field: utcnow() - age}))
        db.commit()
    response = desk.get("/desk/")
    assert response.status_code == 303 and "/desk/login" in response.headers["Location"]
    with Session(_engine(app)) as db:
        assert db.scalars(select(DeskSession)).first() is None


def test_logout_is_post_only_and_ends_the_session(app: Flask, desk: FlaskClient, officer: DeskUser) -> None:
    assert desk.get("/desk/logout").status_code == 405
    assert desk.get("/desk/").status_code == 200
    assert desk.post("/desk/logout").status_code == 400, "a log-out without CSRF token is refused"
    assert desk.get("/desk/").status_code == 200
    response = post(desk, "/desk/logout", "/desk/")
    assert response.status_code == 303
    assert desk.get("/desk/").status_code == 303
    with Session(_engine(app)) as db:
        assert db.scalars(select(DeskSession)).first() is None
    assert actions(app, f"recipient:{officer.id}")[-1] == "logout"


# ---------------------------------------------------------------- CSRF on every form


def test_every_desk_form_refuses_a_request_without_csrf_token(
    app: Flask, desk: FlaskClient, report_for_officer: SubmittedReport
) -> None:
    report = f"/desk/reports/{report_for_officer.id}"
    before = len(audit_entries(app))
    for path, data in [
        ("/desk/login", {"login_name": "x", "password": "y", "code": "1"}),
        ("/desk/enrol", {"code": "123456"}),
        ("/desk/logout", {}),
        (f"{report}/acknowledge", {}),
        (f"{report}/status", {"status": "closed"}),
        (f"{report}/reply", {"text": "hello"}),
        (f"{report}/note", {"text": "note"}),
        (f"{report}/recuse", {"reason": "conflict"}),
        (f"{report}/transfer", {"target": OTHER_BODY, "reason": "competent"}),
        ("/desk/key", {"key_file": "{}"}),
        ("/desk/key/forget", {}),
    ]:
        response = desk.post(path, data=data)
        assert response.status_code == 400, path
        assert b"CSRF" in response.data, path
    put = desk.put(f"{report}/replies/{'ab' * 16}", data=b"PRHP" + bytes(200), content_type="application/octet-stream")
    assert put.status_code == 400
    assert len(audit_entries(app)) == before
    assert desk.get(report).status_code == 200


# ---------------------------------------------------------------- inbox


def _set_clock(app: Flask, report_id: str, days_from_today: int) -> None:
    with Session(_engine(app)) as db:
        db.execute(update(ReportClock).where(ReportClock.report_id == report_id)
                   .values(due_on=date.today() + timedelta(days=days_from_today), state="running"))
        db.commit()


def test_inbox_lists_reports_with_route_clocks_urgency_and_unread_marker(
    app: Flask, desk: FlaskClient, officer: DeskUser
) -> None:
    source = app.test_client()
    calm, _ = submit_report(source, "nothing urgent")
    urgent_response, _ = submit_report(app.test_client(), "they will act tomorrow", urgency="imminent")
    assert calm.status_code == 200 and urgent_response.status_code == 200
    with Session(_engine(app)) as db:
        reports = list(db.scalars(select(Report)))
        assert len(reports) == 2
        urgent_id = next(r.id for r in reports if any(f.name == "urgency" and f.value == "imminent" for f in r.fields))
        calm_id = next(r.id for r in reports if r.id != urgent_id)
        has_clocks = all(r.clocks for r in reports)
    page = desk.get("/desk/").get_data(as_text=True)
    assert page.count('class="badge unread-marker"') == 2
    assert page.count("Urgent: imminent harm") == 1
    assert re.search(rf'id="report-{urgent_id}".*?Urgent', page, re.S)
    desk.get(f"/desk/reports/{calm_id}")
    page = desk.get("/desk/").get_data(as_text=True)
    assert page.count('class="badge unread-marker"') == 1
    assert not re.search(rf'id="report-{calm_id}"[^>]*>\s*<td>[^<]*<a[^>]*>[^<]*<code>[^<]*</code></a>\s*<span class="badge unread-marker"', page)

    if has_clocks:
        _set_clock(app, calm_id, -2)
        _set_clock(app, urgent_id, 3)
        overdue = desk.get("/desk/?clock=overdue").get_data(as_text=True)
        assert calm_id[:8] in overdue and urgent_id[:8] not in overdue and "(overdue)" in overdue
        soon = desk.get("/desk/?clock=due-soon").get_data(as_text=True)
        assert urgent_id[:8] in soon and calm_id[:8] not in soon

    post(desk, f"/desk/reports/{calm_id}/acknowledge", f"/desk/reports/{calm_id}")
    acknowledged = desk.get("/desk/?status=acknowledged").get_data(as_text=True)
    assert calm_id[:8] in acknowledged and urgent_id[:8] not in acknowledged
    received = desk.get("/desk/?status=received").get_data(as_text=True)
    assert urgent_id[:8] in received and calm_id[:8] not in received
    assert desk.get("/desk/?status=<script>&clock=whenever").status_code == 200


# ---------------------------------------------------------------- the report page and its actions


def test_report_page_shows_metadata_routing_clocks_and_parts_but_no_content(
    app: Flask, desk: FlaskClient, report_for_officer: SubmittedReport
) -> None:
    page = desk.get(f"/desk/reports/{report_for_officer.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert report_for_officer.id in html and "Integrity Office" in html and "Ombudsman" in html
    assert report_for_officer.message not in html
    assert 'id="decrypt"' in html and "vendor/libsodium-wrappers.js" in html and "<script>" not in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "script-src" not in app.test_client().get("/").headers["Content-Security-Policy"]
    assert actions(app)[-1] == "open"


def test_each_action_works_and_writes_its_audit_entry(
    app: Flask, desk: FlaskClient, officer: DeskUser, recipient: RegisteredRecipient, report_for_officer: SubmittedReport
) -> None:
    report = f"/desk/reports/{report_for_officer.id}"
    actor = f"recipient:{officer.id}"

    response = post(desk, f"{report}/acknowledge", report)
    assert response.status_code == 303 and response.headers["Location"].endswith(report)
    assert b"Receipt acknowledged." in desk.get(report).data

    assert post(desk, f"{report}/status", report, status="investigating").status_code == 303
    assert post(desk, f"{report}/status", report, status="buried").status_code == 400

    reply_text = "Thank you. We have opened a case; please send the contract if you can."
    assert post(desk, f"{report}/reply", report, text=reply_text, feedback="y").status_code == 303
    assert post(desk, f"{report}/reply", report, text="   ").status_code == 400
    note_text = "Internal: the procurement officer is the minister's cousin."
    assert post(desk, f"{report}/note", report, text=note_text).status_code == 303

    mine = [e for e in audit_entries(app) if e.actor == actor]
    assert [e.action for e in mine if e.action != "open"] == ["login", "acknowledge", "status", "reply", "note"]
    assert json.loads(next(e.detail for e in mine if e.action == "status")) == {"from": "acknowledged", "to": "investigating"}
    assert json.loads(next(e.detail for e in mine if e.action == "reply"))["feedback"] is True
    assert audit.verify(audit_entries(app)) is None

    # the reply is sealed to the report key (the source and the body read it); the note
    # to the body's key only (every member of the body, never the source)
    with Session(_engine(app)) as db:
        parts = {p.kind: p for p in db.scalars(select(Part).where(Part.report_id == report_for_officer.id))}
        [note_key] = db.scalars(select(SealedKey).where(SealedKey.part_id == parts["note"].id)).all()
        assert (note_key.holder, note_key.recipient_id) == ("note", None)
        assert note_key.body_key is not None and note_key.body_key.body_id == officer.body_id
        assert db.scalars(select(SealedKey).where(SealedKey.recipient_id == officer.id)).all() == []
        status = db.get(Report, report_for_officer.id).status
    assert status == "investigating"
    data = desk.get(f"{report}.json").get_json()
    ring = _keyring(data, officer)
    report_key = ring.open(data["sealed_key"], data["generation"], officer.key)
    blobs = app.extensions["parrhesia.instance"].blobs
    with blobs.open(parts["reply"].blob) as handle:
        assert decrypt_bytes(handle.read(), report_key, report_for_officer.id, parts["reply"].id)[1] == reply_text.encode()
    with blobs.open(parts["note"].blob) as handle:
        note_blob = handle.read()
    [shown_note] = [p for p in data["parts"] if p["id"] == parts["note"].id]
    note_private = ring.open(shown_note["sealed_note_key"], shown_note["note_generation"], officer.key)
    assert decrypt_bytes(note_blob, note_private, report_for_officer.id, parts["note"].id)[1] == note_text.encode()
    # the recipient's own key alone opens neither; the report key (the source's) not the note
    for sealed in (data["sealed_key"], shown_note["sealed_note_key"]):
        with pytest.raises(CryptoFormatError):
            open_report_key(b64url_decode(sealed), officer.key)
    with pytest.raises(CryptoFormatError):
        decrypt_bytes(note_blob, report_key, report_for_officer.id, parts["note"].id)

    # the source reads the reply after logging in with the codename
    source = app.test_client()
    log_in(source, report_for_officer.codename)
    assert reply_text in source.get("/report").get_data(as_text=True)


def test_report_data_and_ciphertext_for_the_browser(
    app: Flask, desk: FlaskClient, officer: DeskUser, report_for_officer: SubmittedReport
) -> None:
    data = desk.get(f"/desk/reports/{report_for_officer.id}.json").get_json()
    assert data["id"] == report_for_officer.id and data["sealed_key"] and data["generation"] == 1
    [generation] = data["keyring"]
    assert generation["generation"] == 1 and generation["grant"]["vouched_by"]["name"] == "Standing reader"
    report_key = _keyring(data, officer).open(data["sealed_key"], data["generation"], officer.key)
    message = next(p for p in data["parts"] if p["kind"] == "message")
    before = len(audit_entries(app))
    blob = desk.get(message["url"])
    assert blob.status_code == 200 and blob.mimetype == "application/octet-stream"
    assert decrypt_bytes(blob.data, report_key, report_for_officer.id, message["id"])[1] == report_for_officer.message.encode()
    last = audit_entries(app)[before:]
    assert [(e.action, json.loads(e.detail)) for e in last] == [("download", {"part": message["id"]})]
    assert desk.get(f"/desk/reports/{report_for_officer.id}/parts/{'00' * 16}").status_code == 404
    # without a session: 401 for the JSON, not a log-in page
    assert app.test_client().get(f"/desk/reports/{report_for_officer.id}.json").status_code == 401


def test_a_reply_sealed_in_the_browser_is_put_with_csrf_and_recorded(
    app: Flask, desk: FlaskClient, officer: DeskUser, report_for_officer: SubmittedReport
) -> None:
    report = f"/desk/reports/{report_for_officer.id}"
    token = csrf_token(desk.get(report).data)
    public = b64url_decode(desk.get(f"{report}.json").get_json()["public_key"])
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(b"Sealed in the browser.", public, report_for_officer.id, part_id, {"kind": "reply"})
    headers = {"X-CSRFToken": token}
    assert desk.put(f"{report}/replies/{part_id}", data=blob, content_type="application/octet-stream").status_code == 400
    assert desk.put(f"{report}/replies/not-an-id", data=blob, headers=headers).status_code == 400
    assert desk.put(f"{report}/replies/{secrets.token_hex(16)}", data=b"garbage" * 100, headers=headers).status_code == 400
    assert desk.put(f"{report}/replies/{secrets.token_hex(16)}", data=blob[:-1], headers=headers).status_code == 400
    created = desk.put(f"{report}/replies/{part_id}?feedback=1", data=blob, headers=headers,
                       content_type="application/octet-stream")
    assert created.status_code == 201, created.data
    assert desk.put(f"{report}/replies/{part_id}", data=blob, headers=headers).status_code == 409
    entry = audit_entries(app)[-1]
    assert entry.action == "reply" and json.loads(entry.detail)["part"] == part_id
    assert json.loads(entry.detail)["feedback"] is True
    source = app.test_client()
    log_in(source, report_for_officer.codename)
    assert "Sealed in the browser." in source.get("/report").get_data(as_text=True)


def test_recusal_removes_access_at_once(app: Flask, desk: FlaskClient, officer: DeskUser) -> None:
    add_desk_recipient(app, OTHER_BODY)  # the last resort holds the key: it can take over
    report_for_officer = _submit(app, "the director takes bribes")
    report = f"/desk/reports/{report_for_officer.id}"
    assert post(desk, f"{report}/recuse", report, reason="").status_code == 400
    response = post(desk, f"{report}/recuse", report, reason="The director is my brother-in-law.")
    assert response.status_code == 303 and response.headers["Location"].endswith("/desk/")
    assert b"Conflict of interest declared" in desk.get("/desk/").data
    for path in (report, f"{report}.json"):
        assert desk.get(path).status_code == 404
    assert report_for_officer.id[:8] not in desk.get("/desk/").get_data(as_text=True)
    assert "recusal" in actions(app, f"recipient:{officer.id}")


def test_recusal_is_refused_when_nobody_could_take_over(
    app: Flask, desk: FlaskClient, officer: DeskUser, report_for_officer: SubmittedReport
) -> None:
    # The last resort's only reader leaves: its key is granted to no active member, so
    # nobody there could read the report.
    with Session(_engine(app)) as db:
        for reader in db.scalars(select(Recipient).where(Recipient.body_id == OTHER_BODY)):
            reader.active = False
        db.commit()
    report = f"/desk/reports/{report_for_officer.id}"
    response = post(desk, f"{report}/recuse", report, reason="The director is my brother-in-law.")
    assert response.status_code == 400
    assert "No other independent body could read this report" in response.get_data(as_text=True)
    assert desk.get(report).status_code == 200


def _submit(app: Flask, message: str) -> SubmittedReport:
    from parrhesia.crypto import derive_source_identity
    from parrhesia.domain.reports import find_by_lookup

    _, codename = submit_report(app.test_client(), message)
    assert codename
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        found = find_by_lookup(db, derive_source_identity(codename, instance.pepper).lookup_id)
        assert found is not None
        return SubmittedReport(id=found.id, codename=codename, message=message)


def test_transfer_needs_a_body_that_holds_the_key_without_javascript(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient
) -> None:
    ombudsman = add_desk_recipient(app, OTHER_BODY)  # holds the key from submission (last resort)
    response, codename = submit_report(app.test_client(), "the mayor took a bribe")
    assert codename
    officer = add_desk_recipient(app, recipient.body_id)
    add_desk_recipient(app, OUTSIDER, vouched=False)  # registered by the operator: the body has no key
    assert login(client, officer).status_code == 303
    report_id = re.search(r'href="/desk/reports/([0-9a-f]{32})"', client.get("/desk/").get_data(as_text=True)).group(1)
    report = f"/desk/reports/{report_id}"
    nobody = post(client, f"{report}/transfer", report, target=OUTSIDER, reason="their competence")
    # A body nobody there can read for is not even offered; posted anyway, it is refused.
    assert OUTSIDER not in client.get(report).get_data(as_text=True).split('id="transfer-target"')[1].split("</select>")[0]
    assert nobody.status_code == 400 and b"Nothing was changed" in nobody.data
    add_desk_recipient(app, OUTSIDER)  # creates the body's key after submission: this report is not sealed to it
    refused = post(client, f"{report}/transfer", report, target=OUTSIDER, reason="their competence")
    assert refused.status_code == 400 and b"cannot open this report yet" in refused.data
    assert client.get(report).status_code == 200
    done = post(client, f"{report}/transfer", report, target=OTHER_BODY, reason="competent for municipalities")
    assert done.status_code == 303 and done.headers["Location"].endswith("/desk/")
    assert client.get(report).status_code == 404
    other = app.test_client()
    assert login(other, ombudsman).status_code == 303
    assert other.get(report).status_code == 200
    assert "transfer" in actions(app, f"recipient:{officer.id}")


# ---------------------------------------------------------------- who may see what


def _desk_routes(report_id: str, part_id: str) -> list[tuple[str, str]]:
    base = f"/desk/reports/{report_id}"
    return [
        ("GET", base), ("GET", f"{base}.json"), ("GET", f"{base}/parts/{part_id}"),
        ("POST", f"{base}/acknowledge"), ("POST", f"{base}/status"), ("POST", f"{base}/reply"),
        ("POST", f"{base}/note"), ("POST", f"{base}/recuse"), ("POST", f"{base}/transfer"),
        ("PUT", f"{base}/replies/{secrets.token_hex(16)}"),
    ]


def _message_part(app: Flask, report_id: str) -> str:
    with Session(_engine(app)) as db:
        return db.scalar(select(Part.id).where(Part.report_id == report_id))


def test_a_recipient_of_another_body_gets_404_on_every_desk_route_of_the_report(
    app: Flask, client: FlaskClient, report_for_officer: SubmittedReport
) -> None:
    stranger = add_desk_recipient(app, OUTSIDER)
    assert login(client, stranger).status_code == 303
    token = csrf_token(client.get("/desk/key").data)
    before = len(audit_entries(app))
    for method, path in _desk_routes(report_for_officer.id, _message_part(app, report_for_officer.id)):
        fields = {"csrf_token": token, "status": "closed", "text": "x", "reason": "x", "target": OTHER_BODY}
        response = client.open(path, method=method, data=fields if method == "POST" else b"PRHP",
                               headers={"X-CSRFToken": token})
        assert response.status_code == 404, (method, path)
        assert report_for_officer.message.encode() not in response.data
    assert report_for_officer.id[:8] not in client.get("/desk/").get_data(as_text=True)
    assert len(audit_entries(app)) == before


def test_an_operator_sees_instance_health_and_no_report(
    app: Flask, client: FlaskClient, report_for_officer: SubmittedReport
) -> None:
    operator = add_operator(app)
    response = login(client, operator)
    assert response.status_code == 303 and response.headers["Location"].endswith("/desk/operator")
    page = client.get("/desk/operator")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "The audit log is intact" in html and "parrhesia.contract.defaults.core_intake" in html
    assert report_for_officer.id not in html and report_for_officer.message not in html
    # The route and last-resort bodies have readers; the audit office nobody yet.
    unreadable = html.split('id="unreadable-bodies"')[1].split("</ul>")[0]
    assert "Audit Office" in unreadable and "Ombudsman" not in unreadable and "Integrity Office" not in unreadable
    # Flood figures: counts of forms (the report's own submission among them), never who.
    figures = html.split('id="flood-figures"')[1].split("</table>")[0]
    assert "<code>stored:submit</code></td><td>1<" in figures and "<code>level:submit</code></td><td>0<" in figures
    token = csrf_token(html)
    for method, path in [*_desk_routes(report_for_officer.id, _message_part(app, report_for_officer.id)),
                         ("GET", "/desk/"), ("GET", "/desk/key"), ("GET", "/desk/key.json"), ("GET", "/desk/body")]:
        response = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else b"",
                               headers={"X-CSRFToken": token})
        assert response.status_code == 403, (method, path)
        assert report_for_officer.id.encode() not in response.data
    assert "operator.view" in actions(app, f"operator:{operator.id}")


def test_operator_page_shows_a_broken_audit_chain_and_plugin_errors(
    app: Flask, client: FlaskClient, report_for_officer: SubmittedReport
) -> None:
    operator = add_operator(app)
    with Session(_engine(app)) as db:
        db.add(PluginError(occurred_on=date.today(), plugin="jurisdiction-x", hook="parrhesia_route", error="KeyError"))
        db.commit()
    assert login(client, operator).status_code == 303
    assert "jurisdiction-x" in client.get("/desk/operator").get_data(as_text=True)
    with Session(_engine(app)) as db:
        db.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(detail='{"edited":true}'))
        db.commit()
    assert "The audit log is broken at entry 1" in client.get("/desk/operator").get_data(as_text=True)


def test_a_recipient_cannot_open_the_operator_page_and_only_body_admins_list_their_body(
    app: Flask, desk: FlaskClient, recipient: RegisteredRecipient
) -> None:
    assert desk.get("/desk/operator").status_code == 403
    assert desk.get("/desk/body").status_code == 403
    admin = add_desk_recipient(app, recipient.body_id, role="body_admin")
    colleague_in_other_body = add_desk_recipient(app, OUTSIDER)
    client = app.test_client()
    assert login(client, admin).status_code == 303
    page = client.get("/desk/body").get_data(as_text=True)
    assert admin.login_name in page and colleague_in_other_body.login_name not in page
    assert "My body" in client.get("/desk/").get_data(as_text=True)


# ---------------------------------------------------------------- the key file kept on the server


def test_the_wrapped_key_file_can_be_kept_on_the_server(app: Flask, desk: FlaskClient, officer: DeskUser) -> None:
    import nacl.pwhash.argon2id as argon2id

    assert desk.get("/desk/key.json").get_json() == {"key_file": None}
    foreign = wrap_private_key(generate_recipient_key(), b"passphrase", opslimit=argon2id.OPSLIMIT_MIN,
                               memlimit=argon2id.MEMLIMIT_MIN).decode()
    assert post(desk, "/desk/key", "/desk/key", key_file=foreign).status_code == 400
    assert post(desk, "/desk/key", "/desk/key", key_file="not a key file").status_code == 400
    own = wrap_private_key(officer.key, b"passphrase", opslimit=argon2id.OPSLIMIT_MIN,
                           memlimit=argon2id.MEMLIMIT_MIN).decode()
    assert post(desk, "/desk/key", "/desk/key", key_file=own).status_code == 303
    assert json.loads(desk.get("/desk/key.json").get_json()["key_file"]) == json.loads(own)
    assert post(desk, "/desk/key/forget", "/desk/key").status_code == 303
    assert desk.get("/desk/key.json").get_json() == {"key_file": None}
    assert [a for a in actions(app, f"recipient:{officer.id}") if a.startswith("key.")] == ["key.store", "key.fetch", "key.forget"]


# ---------------------------------------------------------------- what is never recorded


def test_no_address_password_or_code_in_any_audit_entry_or_log(
    app: Flask, client: FlaskClient, officer: DeskUser, report_for_officer: SubmittedReport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    address = "203.0.113.77"
    client.environ_base["REMOTE_ADDR"] = address
    wrong_code = "000000" if officer.code() != "000000" else "111111"
    login(client, officer, code=wrong_code)
    login(client, officer, password="hunter2 hunter2 hunter2")
    code = officer.code()
    assert login(client, officer, code=code).status_code == 303
    report = f"/desk/reports/{report_for_officer.id}"
    client.get(report)
    post(client, f"{report}/reply", report, text="secret reply text")
    post(client, "/desk/logout", "/desk/")
    entries = audit_entries(app)
    assert {"login.failed", "login", "open", "reply", "logout"} <= {e.action for e in entries}
    recorded = " ".join(f"{e.actor} {e.action} {e.report_id} {e.body_id} {e.detail}" for e in entries)
    logged = caplog.text
    for needle in (address, PASSWORD, "hunter2", code, wrong_code, officer.secret, "secret reply text",
                   report_for_officer.message, officer.login_name):
        assert needle not in recorded, needle
        assert needle not in logged, needle


def test_a_body_administrator_adds_and_deactivates_colleagues_of_their_own_body_only(
    app: Flask, recipient: RegisteredRecipient
) -> None:
    from parrhesia.crypto import encode_public_key

    admin = add_desk_recipient(app, recipient.body_id, role="body_admin")
    plain = add_desk_recipient(app, recipient.body_id)
    elsewhere = add_desk_recipient(app, OUTSIDER)
    client = app.test_client()
    login(client, admin)
    colleague_key = generate_recipient_key()
    added = post(client, "/desk/body/recipients", "/desk/body", name="New officer",
                 public_key=encode_public_key(bytes(colleague_key.public_key)), login_name="new-officer",
                 password="a long first password")
    assert added.status_code == 200
    token = re.search(r'class="token">([^<]+)<', added.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["body"]["id"] == recipient.body_id and me["name"] == "New officer"
    assert "body.recipient.add" not in actions(app) and "recipient.add" in actions(app, f"recipient:{admin.id}")
    bad = post(client, "/desk/body/recipients", "/desk/body", name="x", public_key="not a key", login_name="xx",
               password="a long first password")
    assert bad.status_code == 400 and "prh1pk_" in bad.get_data(as_text=True)
    off = post(client, f"/desk/body/recipients/{plain.id}/deactivate", "/desk/body")
    assert off.status_code == 303
    assert "body.recipient.deactivate" in actions(app, f"recipient:{admin.id}")
    assert post(client, f"/desk/body/recipients/{elsewhere.id}/deactivate", "/desk/body").status_code == 404
    with Session(_engine(app)) as db:
        assert db.get(Recipient, plain.id).active is False  # type: ignore[union-attr]
        assert db.get(Recipient, elsewhere.id).active is True  # type: ignore[union-attr]
    other = app.test_client()
    login(other, add_desk_recipient(app, recipient.body_id))
    refused = post(other, "/desk/body/recipients", "/desk/", name="x", public_key="x", login_name="yy", password="p" * 12)
    assert refused.status_code == 403


def test_a_recipient_log_in_name_cannot_shadow_an_operators(app: Flask, recipient: RegisteredRecipient) -> None:
    from parrhesia.crypto import encode_public_key

    operator = add_operator(app)
    admin = add_desk_recipient(app, recipient.body_id, role="body_admin")
    client = app.test_client()
    login(client, admin)
    refused = post(client, "/desk/body/recipients", "/desk/body", name="Shadow",
                   public_key=encode_public_key(bytes(generate_recipient_key().public_key)),
                   login_name=operator.login_name, password="a long first password")
    assert refused.status_code == 400 and "taken" in refused.get_data(as_text=True)


def test_deadlines_are_extended_paused_and_restarted_from_the_desk_with_reasons(
    app: Flask, desk: FlaskClient, officer: DeskUser, report_for_officer: SubmittedReport
) -> None:
    with Session(_engine(app)) as db:
        created = db.get(Report, report_for_officer.id).created_on  # type: ignore[union-attr]
        db.add_all([
            ReportClock(report_id=report_for_officer.id, clock_id="feedback", label="Feedback", legal_source="Test s.1",
                        due_on=created + timedelta(days=90), state="running", extendable_to_months=6),
            ReportClock(report_id=report_for_officer.id, clock_id="reflection", label="Reflection", legal_source="Test s.2",
                        due_on=created + timedelta(days=30), state="running", pausable=True),
        ])
        db.commit()
    page = f"/desk/reports/{report_for_officer.id}"
    base = f"{page}/clocks"
    assert "Stop the clock" in desk.get(page).get_data(as_text=True)
    no_reason = post(desk, f"{base}/feedback/extend", page, months="6", reason="")
    assert no_reason.status_code == 400
    assert post(desk, f"{base}/feedback/extend", page, months="6", reason="duly justified").status_code == 303
    assert post(desk, f"{base}/reflection/pause", page, reason="the source asked for time").status_code == 303
    assert "Restart the clock" in desk.get(page).get_data(as_text=True)
    assert post(desk, f"{base}/reflection/resume", page).status_code == 303
    with Session(_engine(app)) as db:
        clocks = {c.clock_id: c for c in db.scalars(select(ReportClock).where(ReportClock.report_id == report_for_officer.id))}
    assert clocks["feedback"].extension_reason == "duly justified" and clocks["feedback"].due_on > created + timedelta(days=170)
    assert clocks["reflection"].state == "running" and clocks["reflection"].pause_reason == "the source asked for time"
    assert {"clock.extend", "clock.pause", "clock.resume"} <= set(actions(app, f"recipient:{officer.id}"))
    assert post(desk, f"{base}/reflection/explode", page).status_code == 400


class TestBodiesNobodyCanReadYet:
    @pytest.fixture
    def instance_settings(self) -> dict[str, Any]:
        return {"readers": False}

    def test_the_operator_page_says_when_every_body_can_read(self, app: Flask, client: FlaskClient) -> None:
        for body in ("integrity-office", "ombudsman", OUTSIDER):
            add_test_recipient(app, body)
        assert login(client, add_operator(app)).status_code == 303
        html = client.get("/desk/operator").get_data(as_text=True)
        assert "Every body of the directory can read the reports sent to it." in html


def test_a_report_marked_as_junk_on_the_desk_says_so_and_a_new_status_lifts_it(
    app: Flask, desk: FlaskClient, officer: DeskUser, report_for_officer: SubmittedReport
) -> None:
    report = f"/desk/reports/{report_for_officer.id}"
    assert 'id="junk-form"' in desk.get(report).get_data(as_text=True)
    assert post(desk, f"{report}/junk", report, reason="  ").status_code == 400  # the reason is required
    assert post(desk, f"{report}/junk", report, reason="One of a flood of identical reports").status_code == 303
    page = desk.get(report).get_data(as_text=True)
    assert 'id="junk-state"' in page and 'id="junk-form"' not in page
    assert post(desk, f"{report}/status", report, status="assessing").status_code == 303
    actions_done = [e.action for e in audit_entries(app) if e.actor == f"recipient:{officer.id}"]
    assert "junk" in actions_done and actions_done.index("junk") < actions_done.index("status")
    assert 'id="junk-form"' in desk.get(report).get_data(as_text=True)
