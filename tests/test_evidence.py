"""Evidence packages (issue 11 item 3): ``parrhesia desk export`` writes a signed BagIt
package of a report on the recipient's machine, ``parrhesia evidence verify`` checks it;
any changed, added or removed file fails verification, an audit entry changed even by
an exporter who signs again fails it, and what was left out or redacted is recorded."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bagit
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto import derive_source_identity, fingerprint
from parrhesia.crypto.audit_chain import entry_hash
from parrhesia.crypto.evidence import decode_verify_key, encode_verify_key, evidence_signing_key
from parrhesia.domain.reports import find_by_lookup
from parrhesia.instance import RECEIPT_KEY_FILE, read_receipt_signing_key
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.recipient.evidence import SIGNATURE_FILE, TAG_MANIFEST
from parrhesia.storage.models import AuditEntry, Part, ProtectionRequest
from parrhesia.testing import (
    TEST_BODIES,
    RegisteredRecipient,
    add_test_recipient,
    csrf_token,
    log_in,
    submit_report,
)

CANARY = "CANARY-7f3a-evidence"
MESSAGE = f"The mayor took a bribe. {CANARY}"
CONTRACT = f"%PDF-1.4 contract {CANARY}-contract ".encode() * 40
LEDGER = f"ledger {CANARY}-ledger with names".encode() * 30
REPLY = f"Thank you, we are looking into it. {CANARY}-reply"


@pytest.fixture(autouse=True)
def known_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "known-keys.json"
    monkeypatch.setenv("PARRHESIA_KNOWN_KEYS", str(path))
    return path


@pytest.fixture
def report_id(app: Flask, server: str, recipient: RegisteredRecipient) -> str:
    """A report with a message, two attachments and a reply, as a source and a recipient sent them."""
    response, codename = submit_report(app.test_client(), MESSAGE,
                                       files=[("contract.pdf", CONTRACT), ("ledger.txt", LEDGER)])
    assert response.status_code == 200 and codename
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        report = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
        assert report is not None
        found = report.id
    sent = CliRunner().invoke(main, ["desk", "reply", "--server", server, "--token", recipient.token,
                                     "--report", found, "--message", REPLY])
    assert sent.exit_code == 0, sent.output
    return found


def _export(server: str, who: RegisteredRecipient, tmp_path: Path, report_id: str, out: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["desk", "export", "--server", server, "--token", who.token,
                                     *who.key_file_args(tmp_path), "--report", report_id, "--out", str(out), *extra])


def _verify(folder: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["evidence", "verify", str(folder), *extra])


@pytest.fixture
def package(server: str, recipient: RegisteredRecipient, tmp_path: Path, report_id: str) -> Path:
    out = tmp_path / "evidence"
    result = _export(server, recipient, tmp_path, report_id, out)
    assert result.exit_code == 0, result.output
    return out


def _evidence(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "evidence.json").read_text())
    return data


def _blobs(app: Flask, report_id: str) -> dict[str, bytes]:
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        parts = list(db.scalars(select(Part).where(Part.report_id == report_id)))
        return {p.id: instance.blobs.path_for(p.blob).read_bytes() for p in parts}


def test_an_exported_package_holds_the_decrypted_report_and_verifies(
    app: Flask, package: Path, report_id: str, recipient: RegisteredRecipient,
) -> None:
    assert (package / "data" / "messages" / "001-message.txt").read_text() == MESSAGE
    assert (package / "data" / "attachments" / "contract.pdf").read_bytes() == CONTRACT
    assert (package / "data" / "attachments" / "ledger.txt").read_bytes() == LEDGER
    [reply] = list((package / "data" / "replies").iterdir())
    assert reply.read_text() == REPLY
    bagit.Bag(str(package)).validate()  # a valid BagIt bag for any BagIt tool

    evidence = _evidence(package)
    assert evidence["report"]["id"] == report_id
    assert evidence["report"]["route"] and evidence["routing"]["bodies"] and isinstance(evidence["clocks"], list)
    blobs = _blobs(app, report_id)
    assert {p["part"] for p in evidence["parts"]} == set(blobs)
    for part in evidence["parts"]:
        assert part["treatment"] == "included"
        assert part["ciphertext"] == {"sha256": hashlib.sha256(blobs[part["part"]]).hexdigest(),
                                      "size": len(blobs[part["part"]])}
        assert part["sha256"] == hashlib.sha256((package / part["file"]).read_bytes()).hexdigest()
    actions = [e["action"] for e in evidence["audit"]["entries"]]
    assert "open" in actions and actions.count("download") >= 4 and "reply" in actions
    assert evidence["audit"]["head"]["seq"] >= evidence["audit"]["entries"][-1]["seq"]
    assert evidence["exporter"]["recipient"] == f"recipient:{recipient.id}"
    assert evidence["exporter"]["body"]["id"] == recipient.body_id
    assert "name" not in evidence["exporter"]  # never a name unless the exporter gives it
    assert evidence["exported_at"].endswith("Z")
    assert evidence["signature"]["verify_key"] == encode_verify_key(bytes(evidence_signing_key(recipient.key).verify_key))

    result = _verify(package, "--key", evidence["signature"]["verify_key"], "--instance-key", _instance_key(app))
    assert result.exit_code == 0, result.output
    assert "The package verifies" in result.output
    assert f"vouched for by the instance key {_instance_key(app)}" in result.output
    assert "parrhesia audit verify" in result.output  # what the instance's signature does not prove is said


def _instance_key(app: Flask) -> str:
    key = read_receipt_signing_key(app.extensions["parrhesia.instance"].config)
    assert key is not None
    return encode_verify_key(bytes(key.verify_key))


def test_the_instance_key_given_must_be_the_one_that_vouched(app: Flask, package: Path) -> None:
    fingerprint_ = fingerprint(decode_verify_key(_instance_key(app)))
    assert _verify(package, "--instance-key", fingerprint_).exit_code == 0
    other = encode_verify_key(bytes(evidence_signing_key(PrivateKey.generate()).verify_key))
    result = _verify(package, "--instance-key", other)
    assert result.exit_code == 1 and "is not the one you gave" in result.output


def test_what_export_writes_is_private_to_the_user(package: Path) -> None:
    for path in [package, *package.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_the_signature_verifies_with_standard_tools(package: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    command = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(package / "signer.pem"), "-rawin",
               "-in", str(package / TAG_MANIFEST), "-sigfile", str(package / SIGNATURE_FILE)]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0  # noqa: S603
    tampered = package / "tampered-manifest"
    data = bytearray((package / TAG_MANIFEST).read_bytes())
    data[0] ^= 0x01
    tampered.write_bytes(bytes(data))
    command[command.index(str(package / TAG_MANIFEST))] = str(tampered)
    assert subprocess.run(command, capture_output=True, check=False).returncode != 0  # noqa: S603


def _flip(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


TAMPERINGS: dict[str, tuple[Callable[[Path], None], str]] = {
    "a byte of an attachment": (lambda p: _flip(p / "data" / "attachments" / "contract.pdf", 10), "contract.pdf"),
    "a byte of the message": (lambda p: _flip(p / "data" / "messages" / "001-message.txt"), "001-message.txt"),
    "a byte of the metadata": (lambda p: (p / "evidence.json").write_text(
        (p / "evidence.json").read_text().replace('"status": "', '"status": "X', 1)), "evidence.json"),
    "a byte of bag-info.txt": (lambda p: _flip(p / "bag-info.txt", 3), "bag-info.txt"),
    "a byte of the payload manifest": (lambda p: _flip(p / "manifest-sha256.txt", 0), "manifest-sha256.txt"),
    "a byte of the tag manifest": (lambda p: _flip(p / TAG_MANIFEST, 0), "signature"),
    "a byte of the signature": (lambda p: _flip(p / SIGNATURE_FILE, 5), "signature"),
    "the signer's key": (lambda p: (p / "signer.pem").write_text((p / "signer.pem").read_text().replace("A", "B", 1)),
                         "signer.pem"),
    "a file added to data/": (lambda p: (p / "data" / "attachments" / "extra.pdf").write_bytes(b"%PDF new"), "extra.pdf"),
    "a hidden file added to data/": (lambda p: (p / "data" / ".hidden").write_bytes(b"x"), ".hidden"),
    "a file added beside the bag's": (lambda p: (p / "notes.txt").write_text("added"), "notes.txt"),
    "a data file removed": (lambda p: (p / "data" / "attachments" / "ledger.txt").unlink(), "ledger.txt"),
    "the metadata removed": (lambda p: (p / "evidence.json").unlink(), "evidence.json"),
    "the signature removed": (lambda p: (p / SIGNATURE_FILE).unlink(), SIGNATURE_FILE),
}


@pytest.mark.parametrize("change", sorted(TAMPERINGS))
def test_any_change_to_the_package_fails_verification(package: Path, change: str) -> None:
    assert _verify(package).exit_code == 0  # the control: the same package before the change
    tamper, named = TAMPERINGS[change]
    tamper(package)
    result = _verify(package)
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if line.startswith("FAILED:")]
    assert failures and any(named in line for line in failures), result.output
    assert "The package verifies" not in result.output


def _resign(package: Path, recipient: RegisteredRecipient) -> None:
    """What an exporter could do: rewrite the tag manifest with bagit and sign it again."""
    cwd = Path.cwd()
    try:
        bagit.Bag(str(package)).save()
    finally:
        import os

        os.chdir(cwd)
    signature = evidence_signing_key(recipient.key).sign((package / TAG_MANIFEST).read_bytes()).signature
    (package / SIGNATURE_FILE).write_bytes(signature)


def test_an_audit_entry_changed_and_signed_again_fails_the_chain_check(
    package: Path, recipient: RegisteredRecipient,
) -> None:
    evidence = _evidence(package)
    entry = next(e for e in evidence["audit"]["entries"] if e["action"] == "download")
    entry["at"] = "2020-01-01T00:00:00+00:00"
    (package / "evidence.json").write_text(json.dumps(evidence, indent=1, sort_keys=True))
    _resign(package, recipient)
    result = _verify(package)
    assert result.exit_code == 1, result.output
    assert f"audit entry {entry['seq']}: its hash does not match its content" in result.output
    assert "the instance vouched for other audit entries" not in result.output  # the same seqs and hashes
    assert "signature" not in "".join(line for line in result.output.splitlines() if line.startswith("FAILED"))

    # Recomputing that entry's hash is caught by the entry after it (when it is the report's too).
    evidence = _evidence(package)
    entries = evidence["audit"]["entries"]
    index = next(i for i, e in enumerate(entries) if e["seq"] == entry["seq"])
    forged = entries[index]
    forged["hash"] = entry_hash(forged["prev_hash"], forged["seq"], forged["at"], forged["actor"], forged["action"],
                                forged["report_id"], forged["body_id"], forged["detail"])
    (package / "evidence.json").write_text(json.dumps(evidence, indent=1, sort_keys=True))
    _resign(package, recipient)
    result = _verify(package)
    following = entries[index + 1] if index + 1 < len(entries) else None
    assert following is not None and following["seq"] == forged["seq"] + 1  # downloads follow one another
    assert result.exit_code == 1, result.output
    assert f"audit entry {following['seq']} does not follow entry {forged['seq']}" in result.output
    assert "the instance vouched for other audit entries" in result.output


@pytest.mark.parametrize("where", ["first", "last"])
def test_an_audit_entry_removed_and_signed_again_fails(package: Path, recipient: RegisteredRecipient, where: str) -> None:
    evidence = _evidence(package)
    evidence["audit"]["entries"].pop(0 if where == "first" else -1)
    (package / "evidence.json").write_text(json.dumps(evidence, indent=1, sort_keys=True))
    _resign(package, recipient)
    result = _verify(package)
    assert result.exit_code == 1, result.output
    assert "the instance vouched for other audit entries" in result.output


def test_a_package_signed_by_another_key_than_the_one_given_fails(
    app: Flask, package: Path, recipient: RegisteredRecipient,
) -> None:
    colleague = add_test_recipient(app, recipient.body_id, "Colleague")
    theirs = encode_verify_key(bytes(evidence_signing_key(colleague.key).verify_key))
    assert theirs != _evidence(package)["signature"]["verify_key"]
    result = _verify(package, "--key", theirs)
    assert result.exit_code == 1, result.output
    assert "not by the key you gave" in result.output
    # Replaced whole (key, record and signature) by the colleague, it still names who signed it.
    _resign_with(package, colleague)
    assert _verify(package, "--key", theirs).exit_code == 1  # evidence.json still names the exporter's key
    assert _verify(package, "--key", _evidence(package)["signature"]["verify_key"]).exit_code == 1


def _resign_with(package: Path, who: RegisteredRecipient) -> None:
    from parrhesia.crypto.evidence import verify_key_pem

    (package / "signer.pem").write_bytes(verify_key_pem(bytes(evidence_signing_key(who.key).verify_key)))
    _resign(package, who)


def test_omitted_and_redacted_attachments_are_recorded_and_the_package_verifies(
    server: str, recipient: RegisteredRecipient, tmp_path: Path, report_id: str, app: Flask,
) -> None:
    redacted = tmp_path / "contract-redacted.pdf"
    redacted.write_bytes(b"%PDF-1.4 contract [REDACTED]")
    out = tmp_path / "evidence"
    result = _export(server, recipient, tmp_path, report_id, out,
                     "--omit", "ledger.txt", "--reason", "ledger.txt=names third parties",
                     "--redact", f"contract.pdf={redacted}", "--reason", "contract.pdf=an account number")
    assert result.exit_code == 0, result.output
    assert "omitted: attachment" in result.output and "names third parties" in result.output
    assert not (out / "data" / "attachments").exists()
    assert (out / "data" / "redacted" / "contract-redacted.pdf").read_bytes() == redacted.read_bytes()
    parts = {p["treatment"]: p for p in _evidence(out)["parts"] if p["kind"] == "attachment"}
    assert parts["omitted"]["reason"] == "names third parties" and parts["omitted"]["file"] is None
    assert parts["redacted"]["reason"] == "an account number"
    assert parts["redacted"]["file"] == "data/redacted/contract-redacted.pdf"
    blobs = _blobs(app, report_id)
    for part in parts.values():  # the ciphertext each came from is still named
        assert part["ciphertext"]["sha256"] == hashlib.sha256(blobs[part["part"]]).hexdigest()
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert f"{CANARY}-ledger".encode() not in data and f"{CANARY}-contract".encode() not in data, path

    verified = _verify(out)
    assert verified.exit_code == 0, verified.output
    assert "omitted: attachment" in verified.output and "names third parties" in verified.output
    assert "redacted: attachment" in verified.output and "an account number" in verified.output

    # The record of an omission cannot be dropped quietly either.
    evidence = _evidence(out)
    evidence["parts"] = [p for p in evidence["parts"] if p["treatment"] != "omitted"]
    (out / "evidence.json").write_text(json.dumps(evidence))
    assert _verify(out).exit_code == 1


def test_an_omission_needs_a_reason_and_a_part_it_names(
    server: str, recipient: RegisteredRecipient, tmp_path: Path, report_id: str,
) -> None:
    out = tmp_path / "evidence"
    no_reason = _export(server, recipient, tmp_path, report_id, out, "--omit", "ledger.txt")
    assert no_reason.exit_code == 2 and "Give a reason" in no_reason.output
    unknown = _export(server, recipient, tmp_path, report_id, out, "--omit", "nothing.pdf", "--reason", "nothing.pdf=x")
    assert unknown.exit_code == 1 and "No part of this report is named 'nothing.pdf'" in unknown.output
    assert not out.exists()  # nothing decrypted is left behind


def test_no_plaintext_lands_outside_the_package(
    server: str, recipient: RegisteredRecipient, tmp_path: Path, report_id: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    out = tmp_path / "evidence"
    result = _export(server, recipient, tmp_path, report_id, out)
    assert result.exit_code == 0, result.output
    assert any(CANARY.encode() in p.read_bytes() for p in out.rglob("*") if p.is_file())  # the control
    for path in tmp_path.rglob("*"):
        if path.is_file() and out not in path.parents:
            assert CANARY.encode() not in path.read_bytes(), path


def test_the_audit_route_gives_the_report_entries_with_hashes_that_recompute(
    client: FlaskClient, app: Flask, recipient: RegisteredRecipient, report_id: str,
) -> None:
    response = client.get(f"/api/v1/reports/{report_id}/audit", headers=recipient.headers)
    assert response.status_code == 200
    record = response.get_json()
    assert record["entries"] and all(e["report_id"] == report_id for e in record["entries"])
    for entry in record["entries"]:
        assert entry["hash"] == entry_hash(entry["prev_hash"], entry["seq"], entry["at"], entry["actor"],
                                           entry["action"], entry["report_id"], entry["body_id"], entry["detail"])
    assert record["head"]["seq"] >= record["entries"][-1]["seq"]
    assert {b["role"] for b in record["bodies"]} >= {"route"}
    other = add_test_recipient(app, TEST_BODIES[1]["id"], "Other body")
    if report_id not in {r["id"] for r in client.get("/api/v1/reports", headers=other.headers).get_json()["reports"]}:
        assert client.get(f"/api/v1/reports/{report_id}/audit", headers=other.headers).status_code == 404


def test_a_damaged_part_is_recorded_as_unreadable_and_the_rest_is_exported(
    app: Flask, server: str, recipient: RegisteredRecipient, tmp_path: Path, report_id: str,
) -> None:
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        ledger = list(db.scalars(select(Part).where(Part.report_id == report_id, Part.kind == "attachment")
                                 .order_by(Part.seq)))[-1]  # contract.pdf, then ledger.txt
        blob = instance.blobs.path_for(ledger.blob)
    _flip(blob, 200)  # one bit inside the first ciphertext chunk
    damaged = blob.read_bytes()
    out = tmp_path / "evidence"
    result = _export(server, recipient, tmp_path, report_id, out)
    assert result.exit_code == 1, result.output
    assert f"part {ledger.id}: unreadable" in result.output
    [entry] = [p for p in _evidence(out)["parts"] if p["part"] == ledger.id]
    assert entry["treatment"] == "unreadable" and "damaged" in entry["reason"] and entry["file"] is None
    assert entry["ciphertext"] == {"sha256": hashlib.sha256(damaged).hexdigest(), "size": len(damaged)}
    assert (out / "data" / "attachments" / "contract.pdf").read_bytes() == CONTRACT
    assert not (out / "data" / "attachments" / "ledger.txt").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".incomplete")]
    verified = _verify(out)
    assert verified.exit_code == 0, verified.output
    assert f"unreadable: attachment {ledger.id}" in verified.output


@pytest.mark.parametrize("instance_settings", [{"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS}])
def test_a_protection_request_of_another_body_stays_out_of_the_audit_route(app: Flask, client: FlaskClient) -> None:
    add_test_recipient(app, "example-supreme-court")
    aca = add_test_recipient(app, "example-aca")
    _, codename = submit_report(app.test_client(), "retaliation after my report", subject="public-procurement")
    assert codename
    source = app.test_client()
    log_in(source, codename)
    token = csrf_token(source.get("/report").data)
    asked = source.post("/report/protection", data={"csrf_token": token, "measure": "example-interim-relief",
                                                    "details": "x", "from_date": "2026-01-01"})
    assert asked.status_code == 303
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        request = db.scalars(select(ProtectionRequest)).one()
        logged = list(db.scalars(select(AuditEntry).where(AuditEntry.report_id == request.report_id)))
    assert request.body_id != aca.body_id
    assert any(e.action.startswith("protection.") for e in logged)  # the control: there is one to hide
    assert client.get(f"/api/v1/reports/{request.report_id}", headers=aca.headers).status_code == 200  # an "open"
    record = client.get(f"/api/v1/reports/{request.report_id}/audit", headers=aca.headers).get_json()
    assert record["entries"] and not [e for e in record["entries"] if e["action"].startswith("protection.")]
    assert not [c for c in record["clocks"] if c["id"].startswith("protection-")]


def test_without_a_usable_instance_key_the_package_says_the_instance_did_not_vouch(
    app: Flask, server: str, recipient: RegisteredRecipient, tmp_path: Path, report_id: str,
) -> None:
    config = app.extensions["parrhesia.instance"].config
    (config.secrets_dir / RECEIPT_KEY_FILE).unlink(missing_ok=True)
    (config.secrets_dir / RECEIPT_KEY_FILE).write_bytes(b"damaged")
    out = tmp_path / "evidence"
    result = _export(server, recipient, tmp_path, report_id, out)
    assert result.exit_code == 1, result.output
    assert "The instance did not sign the report's audit entries" in result.output
    assert _evidence(out)["audit"]["vouched"] is None
    verified = _verify(out)
    assert verified.exit_code == 1
    assert "the instance did not vouch for the audit entries" in verified.output
