"""The recipients' JSON API: token authorisation, ciphertext only, replies; reports sealed to
body keys that only members vouched for by a colleague (never the operator alone) can open."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto import (
    decode_public_key,
    decrypt_bytes,
    encode_public_key,
    encrypt_bytes,
    fingerprint,
    generate_recipient_key,
    open_report_key,
)
from parrhesia.crypto.errors import DecryptionError
from parrhesia.domain import custody
from parrhesia.recipient.client import DeskClient, DeskError, KnownKeys, keyring_from, rotate_body_key
from parrhesia.storage.models import BodyKeyGrant, Recipient, SealedKey
from parrhesia.testing import (
    TEST_BODIES,
    RegisteredRecipient,
    SubmittedReport,
    add_test_recipient,
    log_in,
    submit_report,
)


def _db(app: Flask) -> Session:
    return Session(app.extensions["parrhesia.instance"].engine)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_every_api_route_requires_a_valid_token(client: FlaskClient, submitted_report: SubmittedReport) -> None:
    routes = [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/reports"),
        ("GET", f"/api/v1/reports/{submitted_report.id}"),
        ("GET", f"/api/v1/reports/{submitted_report.id}/parts/{'0' * 32}"),
        ("PUT", f"/api/v1/reports/{submitted_report.id}/replies/{'0' * 32}"),
        ("GET", "/api/v1/keyring"),
        ("POST", "/api/v1/body-key"),
        ("POST", "/api/v1/body-key/grants"),
        ("POST", "/api/v1/body-key/rotation"),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.is_json


def test_recipient_lists_reports_of_their_body_with_key_sealed_to_the_body_key(
    client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    listing = client.get("/api/v1/reports", headers=recipient.headers).json
    assert [r["id"] for r in listing["reports"]] == [submitted_report.id]
    report = listing["reports"][0]
    assert report["route"] == [b["id"] for b in TEST_BODIES]
    assert report["generation"] == 1
    # Sealed to the body's key, never to the recipient's own key.
    with pytest.raises(DecryptionError):
        open_report_key(base64.b64decode(report["sealed_key"]), recipient.key)
    ring = recipient.keyring(client)
    assert ring.body_id == recipient.body_id and ring.current == 1
    report_key = ring.open(report["sealed_key"], report["generation"], recipient.key)
    assert bytes(report_key.public_key) == decode_public_key(report["public_key"])
    part = report["parts"][0]
    blob = client.get(f"/api/v1/reports/{report['id']}/parts/{part['id']}", headers=recipient.headers).data
    meta, content = decrypt_bytes(blob, report_key, report["id"], part["id"])
    assert meta["kind"] == "message"
    assert content.decode() == submitted_report.message


def test_recipient_of_another_body_sees_nothing(app: Flask, client: FlaskClient, submitted_report: SubmittedReport) -> None:
    outsider = add_test_recipient(app, "not-on-route")
    assert client.get("/api/v1/reports", headers=outsider.headers).json == {"reports": []}
    assert client.get(f"/api/v1/reports/{submitted_report.id}", headers=outsider.headers).status_code == 404
    parts = client.get(f"/api/v1/reports/{submitted_report.id}/parts/{'0' * 32}", headers=outsider.headers)
    assert parts.status_code == 404


def _read_message(client: FlaskClient, who: RegisteredRecipient, report_id: str) -> str:
    """The source's message, decrypted as ``who``'s own machine would."""
    report_key = who.report_key(client, report_id)
    report = client.get(f"/api/v1/reports/{report_id}", headers=who.headers).json
    [message] = [p for p in report["parts"] if p["kind"] == "message"]
    blob = client.get(f"/api/v1/reports/{report_id}/parts/{message['id']}", headers=who.headers).data
    meta, content = decrypt_bytes(blob, report_key, report_id, message["id"])
    assert meta["kind"] == "message"
    return content.decode()


def test_recipient_vouched_for_after_submission_reads_the_report(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    latecomer = add_test_recipient(app, TEST_BODIES[0]["id"], name="Latecomer")
    report = client.get(f"/api/v1/reports/{submitted_report.id}", headers=latecomer.headers).json
    assert report["sealed_key"] and report["generation"] == 1
    ring = latecomer.keyring(client)
    assert ring.vouched_by == "Standing reader"  # the body's first member, who holds its key
    assert _read_message(client, latecomer, submitted_report.id) == submitted_report.message
    with _db(app) as db:  # the grant, not anything sealed to the latecomer's own key, is what opens it
        assert db.scalars(select(SealedKey).where(SealedKey.recipient_id == latecomer.id)).all() == []


def _assert_reads_nothing(app: Flask, client: FlaskClient, who: RegisteredRecipient, report_id: str) -> None:
    """An operator-registered key nobody vouched for: no grant, nothing sealed to it."""
    keyring = client.get("/api/v1/keyring", headers=who.headers).json
    assert keyring["keyring"] and all(entry["grant"] is None for entry in keyring["keyring"])
    with pytest.raises(DeskError, match="no grant"):
        keyring_from(keyring, who.key)
    with pytest.raises(DeskError, match="no grant"):
        who.report_key(client, report_id)
    report = client.get(f"/api/v1/reports/{report_id}", headers=who.headers).json
    # What it is shown is sealed to the body key, which this key cannot open.
    with pytest.raises(DecryptionError):
        open_report_key(base64.b64decode(report["sealed_key"]), who.key)
    with _db(app) as db:
        assert db.scalars(select(BodyKeyGrant).where(BodyKeyGrant.recipient_id == who.id)).all() == []
        assert db.scalars(select(SealedKey).where(SealedKey.recipient_id == who.id)).all() == []


def test_a_key_the_operator_added_alone_never_opens_the_report(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    unvouched = add_test_recipient(app, TEST_BODIES[0]["id"], name="Operator's pick", vouched=False)
    _assert_reads_nothing(app, client, unvouched, submitted_report.id)
    listed = client.get(f"/api/v1/bodies/{TEST_BODIES[0]['id']}/recipients", headers=recipient.headers).json
    assert {r["id"]: r["holds_body_key"] for r in listed["recipients"]}[unvouched.id] is False

    # A report that arrives after the key was added is no more readable by it.
    response, codename = submit_report(app.test_client(), "A second report")
    assert response.status_code == 200 and codename
    second = next(r["id"] for r in client.get("/api/v1/reports", headers=unvouched.headers).json["reports"]
                  if r["id"] != submitted_report.id)
    _assert_reads_nothing(app, client, unvouched, second)
    assert _read_message(client, recipient, second) == "A second report"


def test_a_key_added_with_the_recipients_add_command_never_opens_the_report(
    app: Flask, client: FlaskClient, instance_dir: Path, submitted_report: SubmittedReport
) -> None:
    key = generate_recipient_key()
    result = CliRunner().invoke(main, [
        "recipients", "add", "--instance", str(instance_dir), "--body", TEST_BODIES[0]["id"], "--name", "Added by CLI",
        "--public-key", encode_public_key(bytes(key.public_key)),
    ])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with _db(app) as db:
        recipient_id = db.scalar(select(Recipient.id).where(Recipient.public_key == bytes(key.public_key)))
    added = RegisteredRecipient(id=recipient_id, body_id=TEST_BODIES[0]["id"], key=key, token=token)
    assert client.get("/api/v1/me", headers=added.headers).json["id"] == recipient_id
    _assert_reads_nothing(app, client, added, submitted_report.id)


def test_reply_sealed_by_recipient_reaches_the_source(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    report = client.get(f"/api/v1/reports/{submitted_report.id}", headers=recipient.headers).json
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(
        b"We have opened a case.", decode_public_key(report["public_key"]), report["id"], part_id, {"kind": "reply"}
    )
    response = client.put(
        f"/api/v1/reports/{report['id']}/replies/{part_id}", data=blob, headers=recipient.headers
    )
    assert response.status_code == 201
    again = client.put(f"/api/v1/reports/{report['id']}/replies/{part_id}", data=blob, headers=recipient.headers)
    assert again.status_code == 409
    source = app.test_client()
    log_in(source, submitted_report.codename)
    assert "We have opened a case." in source.get("/report").get_data(as_text=True)


def test_reply_that_is_not_a_parrhesia_part_is_refused_and_not_stored(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    part_id = secrets.token_hex(16)
    path = f"/api/v1/reports/{submitted_report.id}/replies/{part_id}"
    assert client.put(path, data=b"plain text reply", headers=recipient.headers).status_code == 400
    assert client.put(path, data=b"", headers=recipient.headers).status_code == 400
    assert client.put(f"/api/v1/reports/{submitted_report.id}/replies/..%2f..", data=b"PRHP", headers=recipient.headers).status_code in (400, 404)
    report = client.get(f"/api/v1/reports/{submitted_report.id}", headers=recipient.headers).json
    assert [p["kind"] for p in report["parts"]] == ["message"]
    blob_dir = app.extensions["parrhesia.instance"].blobs.root
    assert sorted(p.name for p in blob_dir.rglob("*") if p.is_file()) == [report["parts"][0]["id"]]


def test_deactivated_recipient_loses_access(app: Flask, client: FlaskClient, recipient: RegisteredRecipient) -> None:
    _deactivate(app, recipient)
    assert client.get("/api/v1/reports", headers=recipient.headers).status_code == 401


def _deactivate(app: Flask, who: RegisteredRecipient) -> None:
    with _db(app) as db:
        row = db.get(Recipient, who.id)
        assert row is not None
        row.active = False
        db.commit()


def test_after_a_rotation_a_deactivated_member_holds_no_key_to_new_reports(
    app: Flask, client: FlaskClient, server: str, tmp_path: Path, recipient: RegisteredRecipient,
    submitted_report: SubmittedReport,
) -> None:
    body_id = TEST_BODIES[0]["id"]
    leaver = add_test_recipient(app, body_id, name="Leaver")
    assert _read_message(client, leaver, submitted_report.id) == submitted_report.message
    _deactivate(app, leaver)
    assert client.get("/api/v1/reports", headers=leaver.headers).status_code == 401
    assert client.get("/api/v1/keyring", headers=leaver.headers).status_code == 401
    with _db(app) as db:
        assert custody.needs_rotation(db, body_id)  # the leaver still holds generation 1

    # A member who stays rotates the key on their machine, for the colleagues they trust.
    _, founder_id, founder_key = app.extensions["parrhesia.testing.body_keys"][body_id]
    known = KnownKeys(tmp_path / "known-keys.json")
    rotated = rotate_body_key(DeskClient(server, recipient.token), recipient.key, known=known,
                              trust=[fingerprint(bytes(founder_key.public_key))], drop=[leaver.id])
    with _db(app) as db:
        current = custody.current_key(db, body_id)
        assert current is not None and current.generation == 2 and fingerprint(current.public_key) == rotated
        assert {g.recipient_id for g in current.grants} == {recipient.id, founder_id}
        assert custody.grant_of(db, current, leaver.id) is None
        assert not custody.needs_rotation(db, body_id)

    response, codename = submit_report(app.test_client(), "After the leaver left")
    assert response.status_code == 200 and codename
    new = next(r for r in client.get("/api/v1/reports", headers=recipient.headers).json["reports"]
               if r["id"] != submitted_report.id)
    assert new["generation"] == 2
    assert _read_message(client, recipient, new["id"]) == "After the leaver left"
    assert _read_message(client, recipient, submitted_report.id) == submitted_report.message  # older, via the chain

    # What the leaver's machine could make of the keyring (read here from the database,
    # as their token no longer works) opens generation 1 only: not the new report.
    with _db(app) as db:
        row = db.get(Recipient, leaver.id)
        assert row is not None
        ring = keyring_from({"body": body_id, "keyring": custody.keyring_data(db, row, _b64)}, leaver.key)
    assert set(ring.keys) == {1}
    with pytest.raises(DeskError, match="generation 2"):
        ring.open(new["sealed_key"], new["generation"], leaver.key)
