"""The source interface: submission, codename, login, report page, follow-ups."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from parrhesia.config import load_config
from parrhesia.crypto import (
    CODENAME_KDF_V1,
    CODENAME_KDF_V2,
    CODENAME_WORDS,
    WORDLIST,
    derive_source_identity,
    fingerprint,
)
from parrhesia.domain.reports import find_by_lookup
from parrhesia.storage.db import make_engine
from parrhesia.storage.models import InstanceFact, Part, Report, SourceSession
from parrhesia.testing import RegisteredRecipient, add_test_recipient, csrf_token, log_in, submit_report
from parrhesia.web.app import create_app


def _count(app: Flask, model: type) -> int:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _body_key_fingerprint(app: Flask, body_id: str) -> str:
    from parrhesia.domain import custody

    with Session(app.extensions["parrhesia.instance"].engine) as db:
        key = custody.current_key(db, body_id)
        assert key is not None
        return fingerprint(key.public_key)


def test_landing_page_names_the_bodies_and_their_key_fingerprints(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "Integrity Office" in page and "Ombudsman" in page
    # Reports are sealed to each body's key; its members, vouched for, are named with theirs.
    assert _body_key_fingerprint(app, "integrity-office") in page
    assert _body_key_fingerprint(app, "ombudsman") in page
    assert fingerprint(bytes(recipient.key.public_key)) in page
    assert "no key on this instance yet" not in page
    assert "Tor Browser" in page


@pytest.mark.parametrize("instance_settings", [{"readers": False}])
def test_landing_page_warns_of_a_body_nobody_can_read_for_yet(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert _body_key_fingerprint(app, "integrity-office") in page
    assert fingerprint(bytes(recipient.key.public_key)) in page
    # the ombudsman has no body key: nobody there can read reports sent now
    assert page.count("This body has no key on this instance yet") == 1


def test_pages_use_no_script_and_no_outside_resource(client: FlaskClient) -> None:
    for path in ("/", "/submit", "/login"):
        page = client.get(path).get_data(as_text=True)
        assert "<script" not in page.lower()
        assert not re.search(r'(src|href)="(https?:)?//', page), path


def test_first_submission_shows_a_codename_of_at_least_88_bits_once(client: FlaskClient) -> None:
    response, codename = submit_report(client, "The mayor takes bribes.")
    assert response.status_code == 200
    assert codename is not None
    words = codename.split()
    assert len(words) == CODENAME_WORDS and all(w in WORDLIST for w in words)
    assert response.headers["Cache-Control"] == "no-store"
    # Shown once: the report page does not show it again.
    assert codename not in client.get("/report").get_data(as_text=True)


def test_codename_is_never_in_a_cookie(client: FlaskClient) -> None:
    response, codename = submit_report(client, "cookie check")
    assert codename
    cookies = " ".join(response.headers.getlist("Set-Cookie"))
    for word in codename.split():
        assert word not in cookies
    cookie = client.get_cookie("parrhesia")
    assert cookie is not None
    assert "HttpOnly" in cookies and "SameSite=Strict" in cookies and "Expires=" in cookies


def test_source_logs_in_with_codename_and_reads_own_messages(app: Flask, client: FlaskClient) -> None:
    _, codename = submit_report(client, "First message about the harbour contract.", [("ledger.csv", b"a,b\n")])
    assert codename
    other = app.test_client()
    response = log_in(other, codename.upper().replace(" ", "  "))  # case and spacing do not matter
    assert response.status_code == 303
    page = other.get("/report").get_data(as_text=True)
    assert "First message about the harbour contract." in page
    assert "ledger.csv" in page


def test_an_instance_on_codename_derivation_version_1_still_works(instance_dir: Path) -> None:
    # An instance created before version 2 (no secrets/codename_kdf, no facts in its
    # database before migration 0009) keeps deriving with version 1: its sources'
    # reports are stored under the version 1 lookup id.
    (instance_dir / "secrets" / "codename_kdf").unlink()
    engine = make_engine(load_config(instance_dir).database_url)
    with Session(engine) as db:
        db.execute(delete(InstanceFact))
        db.commit()
    engine.dispose()
    app = create_app(instance_dir)
    try:
        for body_id in ("integrity-office", "ombudsman"):  # readers holding the body keys
            add_test_recipient(app, body_id, "Standing reader")
        _, codename = submit_report(app.test_client(), "Filed on an older instance.")
        assert codename
        instance = app.extensions["parrhesia.instance"]
        with Session(instance.engine) as db:
            for kdf, found in ((CODENAME_KDF_V1, True), (CODENAME_KDF_V2, False)):
                lookup_id = derive_source_identity(codename, instance.pepper, kdf).lookup_id
                assert (find_by_lookup(db, lookup_id) is not None) is found
        other = app.test_client()
        assert log_in(other, codename).status_code == 303
        assert "Filed on an older instance." in other.get("/report").get_data(as_text=True)
    finally:
        app.extensions["parrhesia.instance"].dispose()


def test_wrong_codename_gets_a_clear_error_and_no_session(app: Flask, client: FlaskClient) -> None:
    submit_report(client, "x")
    other = app.test_client()
    response = log_in(other, "these are not the words you are looking for")
    assert response.status_code == 403
    assert "not recognised" in response.get_data(as_text=True)
    assert other.get("/report").status_code == 303  # back to the login page


def test_follow_up_message_and_file_are_added_to_the_report(app: Flask, client: FlaskClient) -> None:
    submit_report(client, "first")
    token = csrf_token(client.get("/report").data)
    import io

    response = client.post(
        "/report",
        data={"csrf_token": token, "message": "second", "attachments": [(io.BytesIO(b"pdf"), "minutes.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "second" in page and "minutes.pdf" in page and "Sent." in page
    assert _count(app, Part) == 3


def test_empty_submission_is_refused_and_stores_nothing(app: Flask, client: FlaskClient) -> None:
    response, codename = submit_report(client, "")
    assert response.status_code == 400
    assert codename is None
    assert "Write a message" in response.get_data(as_text=True)
    assert _count(app, Report) == 0


def test_submission_without_csrf_token_is_refused_and_stores_nothing(app: Flask, client: FlaskClient) -> None:
    client.get("/submit")
    response = client.post("/submit", data={"message": "forged"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "expired or was not sent from this site" in response.get_data(as_text=True)
    assert _count(app, Report) == 0 and _count(app, Part) == 0


def test_login_without_csrf_token_is_refused(client: FlaskClient) -> None:
    response = client.post("/login", data={"codename": "a b c"})
    assert response.status_code == 400


def test_follow_up_after_logout_is_refused(app: Flask, client: FlaskClient) -> None:
    submit_report(client, "first")
    token = csrf_token(client.get("/report").data)
    client.post("/logout", data={"csrf_token": token})
    assert _count(app, SourceSession) == 0
    response = client.post("/report", data={"csrf_token": token, "message": "late"}, content_type="multipart/form-data")
    assert response.status_code == 403
    assert _count(app, Part) == 1


def test_logout_requires_post_with_csrf(client: FlaskClient) -> None:
    submit_report(client, "first")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/report").status_code == 200


def test_session_expires_after_its_lifetime(app: Flask, client: FlaskClient) -> None:
    submit_report(client, "first")
    with client.session_transaction() as session:
        session["since"] = session["since"] - int(app.permanent_session_lifetime.total_seconds()) - 1
    assert client.get("/report").status_code == 303


def test_source_dates_are_days_only(app: Flask, client: FlaskClient) -> None:
    submit_report(client, "timing")
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.scalars(select(Report)).one()
        assert type(report.created_on).__name__ == "date"
        session_row = db.scalars(select(SourceSession)).one()
        assert type(session_row.created_on).__name__ == "date"


def test_unknown_page_gets_a_friendly_404(client: FlaskClient) -> None:
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert "Back to the start page" in response.get_data(as_text=True)


def test_two_follow_ups_sent_within_one_second_are_both_stored(app: Flask, client: FlaskClient) -> None:
    """A spent form token renews the session's CSRF secret: the next page's token differs
    even when it is signed in the same second, so it is not refused as sent already."""
    submit_report(client, "first")
    tokens = []
    for text in ("second", "third"):
        token = csrf_token(client.get("/report").data)
        tokens.append(token)
        sent = client.post("/report", data={"csrf_token": token, "message": text}, content_type="multipart/form-data")
        assert sent.status_code == 303, sent.get_data(as_text=True)
    assert tokens[0] != tokens[1]
    assert _count(app, Part) == 3
