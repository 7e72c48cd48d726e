"""The recipients' JSON API: token authorisation, ciphertext only, replies."""

from __future__ import annotations

import base64
import secrets

from flask import Flask
from flask.testing import FlaskClient

from parrhesia.crypto import decode_public_key, decrypt_bytes, encrypt_bytes, open_report_key
from parrhesia.testing import (
    TEST_BODIES,
    RegisteredRecipient,
    SubmittedReport,
    add_test_recipient,
    log_in,
)


def test_every_api_route_requires_a_valid_token(client: FlaskClient, submitted_report: SubmittedReport) -> None:
    routes = [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/reports"),
        ("GET", f"/api/v1/reports/{submitted_report.id}"),
        ("GET", f"/api/v1/reports/{submitted_report.id}/parts/{'0' * 32}"),
        ("PUT", f"/api/v1/reports/{submitted_report.id}/replies/{'0' * 32}"),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.is_json


def test_recipient_lists_reports_of_their_body_with_sealed_key(
    client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    listing = client.get("/api/v1/reports", headers=recipient.headers).json
    assert [r["id"] for r in listing["reports"]] == [submitted_report.id]
    report = listing["reports"][0]
    assert report["route"] == [b["id"] for b in TEST_BODIES]
    report_key = open_report_key(base64.b64decode(report["sealed_key"]), recipient.key)
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


def test_recipient_who_joined_after_submission_sees_the_report_but_holds_no_key(
    app: Flask, client: FlaskClient, submitted_report: SubmittedReport
) -> None:
    latecomer = add_test_recipient(app, TEST_BODIES[0]["id"], name="Latecomer")
    report = client.get(f"/api/v1/reports/{submitted_report.id}", headers=latecomer.headers).json
    assert report["sealed_key"] is None


def test_reply_sealed_by_recipient_reaches_the_source(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    report = client.get(f"/api/v1/reports/{submitted_report.id}", headers=recipient.headers).json
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(
        "We have opened a case.".encode(), decode_public_key(report["public_key"]), report["id"], part_id, {"kind": "reply"}
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
    from sqlalchemy.orm import Session

    from parrhesia.models import Recipient

    with Session(app.extensions["parrhesia.instance"].engine) as db:
        row = db.get(Recipient, recipient.id)
        assert row is not None
        row.active = False
        db.commit()
    assert client.get("/api/v1/reports", headers=recipient.headers).status_code == 401
