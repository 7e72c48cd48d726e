"""A source's proof of reporting: a receipt signed by the instance, checked offline.

Issue 11, item 2. The receipt states the instance, the report's reference, the day of
submission, the bodies holding it and its deadlines; never its content or codename;
only the report's own source gets it; any changed byte makes `parrhesia receipt
verify` fail; the landing page and keys/ publish the key that signs it.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from nacl.signing import SigningKey
from plugin_fixtures import fixture_entry_points  # noqa: F401 - autouse fixture: the fixture plugins are installed
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto import derive_source_identity, fingerprint
from parrhesia.crypto.receipt import (
    ReceiptBody,
    ReceiptDeadline,
    ReceiptError,
    ReceiptFacts,
    clean_text,
    encode_verify_key,
    sign_receipt,
    signing_key_from_seed,
    verify_receipt,
)
from parrhesia.domain.reports import find_by_lookup
from parrhesia.instance import RECEIPT_KEY_FILE, read_receipt_signing_key
from parrhesia.ops.doctor import Status, check_receipt_key
from parrhesia.storage.models import Report
from parrhesia.testing import InstanceRunner, csrf_token, log_in, submit_report

KEYS = Path(__file__).resolve().parents[1] / "keys"
FORMAT_DOC = Path(__file__).resolve().parents[1] / "docs" / "format.md"
CANARY = "CANARY-receipt-7f3a9c the minister took the bribe"
CANARY_FILE = "canary-ledger-2b81.pdf"


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    # A jurisdiction with deadlines: 10 days to acknowledge, 60 to give feedback.
    return {"plugins": ["flaky-clocks"]}


@dataclass
class Reported:
    client: FlaskClient
    codename: str
    report_id: str
    confirmation: str


def _report(app: Flask, message: str = CANARY) -> Reported:
    client = app.test_client()
    response, codename = submit_report(client, message, files=[(CANARY_FILE, b"%PDF-1.4 canary ledger")])
    assert response.status_code == 200 and codename, response.get_data(as_text=True)
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        report = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
        assert report is not None
        return Reported(client, codename, report.id, response.get_data(as_text=True))


def _download(client: FlaskClient, tmp_path: Path) -> Path:
    response = client.get("/report/receipt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    path = tmp_path / "receipt.txt"
    path.write_bytes(response.data)
    return path


def _verify(path: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["receipt", "verify", str(path), *options])


def _instance_key(app: Flask) -> SigningKey:
    key = read_receipt_signing_key(app.extensions["parrhesia.instance"].config)
    assert key is not None
    return key


@pytest.fixture
def reported(app: Flask) -> Reported:
    return _report(app)


def test_the_confirmation_page_offers_the_receipt_as_plain_links(reported: Reported) -> None:
    assert 'href="/report/receipt"' in reported.confirmation
    assert 'href="/report/receipt/print"' in reported.confirmation
    assert "<script" not in reported.confirmation


def test_a_downloaded_receipt_verifies_offline_and_states_the_report(
    app: Flask, reported: Reported, tmp_path: Path
) -> None:
    path = _download(reported.client, tmp_path)
    result = _verify(path)
    assert result.exit_code == 0, result.output
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        report = db.get(Report, reported.report_id)
        assert report is not None
        clocks = sorted((c.due_on, c.label) for c in report.clocks)
        holders = sorted(b.body_id for b in report.bodies if b.role == "route")
        submitted = report.created_on
    facts = verify_receipt(path.read_bytes()).facts
    assert facts.reference == reported.report_id[:16]
    assert facts.instance == "Test instance"
    assert facts.submitted_on == submitted
    assert [b.id for b in facts.bodies] == holders and holders
    assert sorted((d.due_on, d.label) for d in facts.deadlines) == clocks and clocks
    assert "Signature: good" in result.output
    assert f"Report reference: {reported.report_id[:16]}" in result.output
    assert f"Submitted on: {submitted.isoformat()}" in result.output
    assert "Integrity Office (integrity-office)" in result.output
    assert fingerprint(bytes(_instance_key(app).verify_key)) in result.output


def test_one_flipped_byte_anywhere_fails_verification(reported: Reported, tmp_path: Path) -> None:
    data = _download(reported.client, tmp_path).read_bytes()
    for offset in range(len(data)):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        with pytest.raises(ReceiptError):
            verify_receipt(bytes(changed))
    changed_path = tmp_path / "changed.txt"
    offset = data.index(b"reference: ") + len(b"reference: ")
    changed_path.write_bytes(data[:offset] + (b"0" if data[offset:offset + 1] != b"0" else b"1") + data[offset + 1:])
    result = _verify(changed_path)
    assert result.exit_code == 1
    assert "NOT VALID" in result.output


def test_a_moved_due_day_fails_verification(reported: Reported, tmp_path: Path) -> None:
    data = _download(reported.client, tmp_path).read_text(encoding="utf-8")
    match = re.search(r"^deadline: (\d{4}-\d{2}-\d{2}) ", data, re.MULTILINE)
    assert match is not None, data
    later = (date.fromisoformat(match.group(1)) + timedelta(days=30)).isoformat()
    changed = tmp_path / "later.txt"
    changed.write_text(data.replace(f"deadline: {match.group(1)} ", f"deadline: {later} ", 1), encoding="utf-8")
    result = _verify(changed)
    assert result.exit_code == 1
    assert "the signature does not match" in result.output


def test_appended_or_reformatted_lines_fail_verification(reported: Reported, tmp_path: Path) -> None:
    data = _download(reported.client, tmp_path).read_bytes()
    for changed in (data + b"received-by: police Police\n", data.replace(b"\n", b"\r\n"),
                    data.replace(b"instance: ", b"instance:  ", 1), data[:-1]):
        with pytest.raises(ReceiptError):
            verify_receipt(changed)


def test_the_receipt_holds_no_content_and_no_codename(reported: Reported, tmp_path: Path) -> None:
    receipt = _download(reported.client, tmp_path).read_text(encoding="utf-8")
    page = reported.client.get("/report/receipt/print").get_data(as_text=True)
    for shown in (receipt, page):
        assert "CANARY" not in shown
        assert "bribe" not in shown
        assert CANARY_FILE not in shown
        assert reported.codename not in shown
    assert reported.report_id not in receipt  # only its reference, the start of it
    assert reported.report_id[:16] in receipt


def test_the_key_given_must_be_the_one_that_signed(app: Flask, reported: Reported, tmp_path: Path) -> None:
    path = _download(reported.client, tmp_path)
    public = bytes(_instance_key(app).verify_key)
    assert _verify(path, "--key", encode_verify_key(public)).exit_code == 0
    assert _verify(path, "--key", fingerprint(public).lower()).exit_code == 0
    other = bytes(SigningKey.generate().verify_key)
    for wrong in (encode_verify_key(other), fingerprint(other)):
        result = _verify(path, "--key", wrong)
        assert result.exit_code == 1
        assert "signed by another key" in result.output


def test_a_receipt_signed_by_another_key_is_told_apart(app: Flask, reported: Reported, tmp_path: Path) -> None:
    genuine = verify_receipt(_download(reported.client, tmp_path).read_bytes())
    forged = tmp_path / "forged.txt"
    forged.write_bytes(sign_receipt(genuine.facts, SigningKey.generate()))
    assert _verify(forged).exit_code == 0  # intact, but signed by a key of its own
    result = _verify(forged, "--key", genuine.fingerprint)
    assert result.exit_code == 1


def test_only_the_reports_own_source_gets_its_receipt(app: Flask, reported: Reported, tmp_path: Path) -> None:
    stranger = app.test_client()
    for url in ("/report/receipt", "/report/receipt/print"):
        assert stranger.get(url).status_code == 403
    other = _report(app, "another report")
    theirs = verify_receipt(other.client.get("/report/receipt").data).facts
    assert theirs.reference == other.report_id[:16] != reported.report_id[:16]
    # After logging out the receipt is gone; logging in again with the codename brings it back.
    logout = reported.client.post("/logout", data={"csrf_token": csrf_token(reported.client.get("/report").data)})
    assert logout.status_code in (302, 303)
    assert reported.client.get("/report/receipt").status_code == 403
    log_in(reported.client, reported.codename)
    again = verify_receipt(reported.client.get("/report/receipt").data).facts
    assert again.reference == reported.report_id[:16]


def test_the_printable_receipt_shows_the_facts_and_the_signed_text(reported: Reported) -> None:
    response = reported.client.get("/report/receipt/print")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<script" not in page
    match = re.search(r'<pre class="receipt-text">(.*?)</pre>', page, re.DOTALL)
    assert match is not None
    printed = verify_receipt(html.unescape(match.group(1)).encode("utf-8"))
    assert printed.facts.reference == reported.report_id[:16]
    assert f"<code>{reported.report_id[:16]}</code>" in page
    assert "Integrity Office" in page


def test_the_landing_page_shows_the_receipt_key_fingerprint(app: Flask, client: FlaskClient) -> None:
    public = bytes(_instance_key(app).verify_key)
    page = client.get("/").get_data(as_text=True)
    assert f'id="receipt-fingerprint">{fingerprint(public)}<' in page
    assert encode_verify_key(public) in page


def test_an_instance_without_a_key_makes_one_on_first_need(app: Flask, instance_dir: Path, tmp_path: Path) -> None:
    key_file = instance_dir / "secrets" / RECEIPT_KEY_FILE
    key_file.unlink()
    assert check_receipt_key(app.extensions["parrhesia.instance"].config).status is Status.WARN
    reported = _report(app)
    made = verify_receipt(_download(reported.client, tmp_path).read_bytes())
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert made.public_key == bytes(_instance_key(app).verify_key)
    assert [p.name for p in key_file.parent.iterdir() if p.name.startswith(".")] == []  # nothing left aside


def test_keys_command_shows_the_instance_key_as_a_keys_file(app: Flask, runner: InstanceRunner) -> None:
    result = runner.invoke("keys", "instance-signing", "show")
    assert result.exit_code == 0, result.output
    public = bytes(_instance_key(app).verify_key)
    assert tomllib.loads(result.output) == {"public_key": encode_verify_key(public), "fingerprint": fingerprint(public)}


def test_doctor_checks_the_receipt_key(app: Flask, instance_dir: Path) -> None:
    config = app.extensions["parrhesia.instance"].config
    good = check_receipt_key(config)
    assert good.status is Status.OK
    assert fingerprint(bytes(_instance_key(app).verify_key)) in good.advice
    key_file = instance_dir / "secrets" / RECEIPT_KEY_FILE
    key_file.chmod(0o644)
    assert check_receipt_key(config).status is Status.WARN
    key_file.write_bytes(b"short")
    assert check_receipt_key(config).status is Status.FAIL


def test_the_demo_signs_with_the_key_published_in_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nacl.pwhash.argon2id as argon2id

    from parrhesia.ops import demo

    real_wrap = demo.wrap_private_key
    monkeypatch.setattr(demo, "wrap_private_key", lambda key, passphrase: real_wrap(
        key, passphrase, opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN))
    instance, _ = demo.ensure_demo_instance(tmp_path / "demo")
    try:
        used = read_receipt_signing_key(instance.config)
    finally:
        instance.dispose()
    assert used is not None
    public = bytes(used.verify_key)
    assert public == bytes(demo.demo_receipt_signing_key().verify_key)
    published = tomllib.loads((KEYS / "demo" / "instance-signing.pub").read_text(encoding="utf-8"))
    assert published == {"public_key": encode_verify_key(public), "fingerprint": fingerprint(public)}


def test_text_values_are_made_one_clean_line() -> None:
    assert clean_text(" Office of\nthe \u2028Ombudsman\x00 ") == "Office of the Ombudsman"
    facts = ReceiptFacts(
        instance="Instance\nreference: 0000000000000000",
        reference="0123456789abcdef",
        submitted_on=date(2026, 12, 2),
        issued_on=date(2026, 12, 2),
        bodies=(ReceiptBody("ombudsman", "Ombudsman\nsignature: forged"),),
        deadlines=(ReceiptDeadline(date(2026, 12, 9), "running", None, "Acknowledge\r\nreceipt"),),
    )
    checked = verify_receipt(sign_receipt(facts, SigningKey.generate())).facts
    assert checked.instance == "Instance reference: 0000000000000000"
    assert checked.bodies == (ReceiptBody("ombudsman", "Ombudsman signature: forged"),)
    assert checked.deadlines[0].label == "Acknowledge receipt"


def test_an_unknown_version_is_refused_by_name() -> None:
    facts = ReceiptFacts("I", "0123456789abcdef", date(2026, 1, 1), date(2026, 1, 1), (), ())
    data = sign_receipt(facts, SigningKey.generate())
    with pytest.raises(ReceiptError, match="unsupported receipt version '2'"):
        verify_receipt(data.replace(b"parrhesia-receipt 1", b"parrhesia-receipt 2", 1))
    with pytest.raises(ReceiptError, match="not a Parrhesia receipt"):
        verify_receipt(b"hello\n")


def test_the_example_in_the_format_document_is_exact() -> None:
    block = re.search(r"```text\n(parrhesia-receipt 1\n.*?)```", FORMAT_DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None, "docs/format.md §9 shows an example receipt"
    example = block.group(1).encode("utf-8")
    facts = ReceiptFacts(
        instance="Parrhesia demo (Republic of Example)",
        reference="3f2a9c1b7d4e5a60",
        submitted_on=date(2026, 12, 2),
        issued_on=date(2026, 12, 3),
        bodies=(ReceiptBody("example-aca", "Anti-Corruption Agency of the Republic of Example"),),
        deadlines=(ReceiptDeadline(date(2026, 12, 9), "met", "example-aca", "Acknowledge receipt"),
                   ReceiptDeadline(date(2027, 3, 2), "running", "example-aca", "Give feedback")),
    )
    assert sign_receipt(facts, signing_key_from_seed(bytes(range(32)))) == example
    assert verify_receipt(example).facts == facts


def test_a_damaged_key_never_takes_the_landing_page_down(app: Flask, instance_dir: Path, reported: Reported) -> None:
    (instance_dir / "secrets" / RECEIPT_KEY_FILE).write_bytes(b"damaged")
    landing = app.test_client().get("/")
    assert landing.status_code == 200
    assert "receipt-fingerprint" not in landing.get_data(as_text=True)
    assert reported.client.get("/report/receipt").status_code == 503
    assert reported.client.get("/report").status_code == 200
