"""Issue 11 item 2 for reports taken in person or by telephone: the person, logged in
online with the codename on their slip, is offered the same signed receipt an online
source gets (the file and the page to print), and it verifies offline with the
instance's key. (The slip itself carries no receipt: the person gets it online.)"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session
from test_intake import (  # noqa: F401 - fixtures
    OMBUDSMAN,
    _canary,
    _codename,
    _fingerprint,
    _intake,
    _report_of,
    known_keys,
    officer,
)

from parrhesia.cli import main
from parrhesia.crypto.receipt import encode_verify_key, verify_receipt
from parrhesia.instance import read_receipt_signing_key
from parrhesia.storage.models import Report
from parrhesia.testing import RegisteredRecipient, log_in


def _instance_key(app: Flask) -> str:
    key = read_receipt_signing_key(app.extensions["parrhesia.instance"].config)
    assert key is not None
    return encode_verify_key(bytes(key.verify_key))


def test_a_person_whose_report_was_taken_in_person_gets_a_receipt_that_verifies(
    app: Flask, server: str, officer: RegisteredRecipient, tmp_path: Path,  # noqa: F811 - the fixture
) -> None:
    canary = _canary()
    slip = tmp_path / "slip.txt"
    result = _intake(server, officer, tmp_path, "--message", canary, "--slip", str(slip),
                     "--trust", _fingerprint(app, OMBUDSMAN))
    assert result.exit_code == 0, result.output
    codename = _codename(slip)
    report = _report_of(app, codename)

    person = app.test_client()
    assert log_in(person, codename).status_code == 303
    report_page = person.get("/report").get_data(as_text=True)
    assert 'href="/report/receipt"' in report_page and 'href="/report/receipt/print"' in report_page
    response = person.get("/report/receipt")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    receipt = tmp_path / "receipt.txt"
    receipt.write_bytes(response.data)

    verified = CliRunner().invoke(main, ["receipt", "verify", str(receipt), "--key", _instance_key(app)])
    assert verified.exit_code == 0, verified.output
    assert "Signature: good" in verified.output
    facts = verify_receipt(response.data).facts
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        stored = db.get(Report, report.id)
        assert stored is not None
        holders = sorted(b.body_id for b in stored.bodies if b.role == "route")
        assert facts.submitted_on == stored.created_on
    assert facts.reference == report.id[:16]
    assert [b.id for b in facts.bodies] == holders and holders
    for secret in (canary, codename):
        assert secret not in response.get_data(as_text=True)

    printed = person.get("/report/receipt/print")
    assert printed.status_code == 200
    page = printed.get_data(as_text=True)
    assert report.id[:16] in page and canary not in page and codename not in page
