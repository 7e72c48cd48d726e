"""The signed key manifest (docs/format.md §14): drafted by the instance, signed with an
offline key, installed only when it lists exactly the keys held, served at a fixed
address, shown on the source pages, and checked by ``parrhesia doctor``."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from nacl.public import PrivateKey
from nacl.pwhash import argon2id

from parrhesia.cli import main
from parrhesia.crypto import fingerprint, wrap_private_key
from parrhesia.crypto.manifest import (
    ManifestError,
    manifest_signing_key,
    read_manifest,
    sign_manifest,
    unsigned_manifest,
)
from parrhesia.crypto.receipt import encode_verify_key
from parrhesia.domain import key_manifest
from parrhesia.testing import InstanceRunner, add_test_recipient, install_key_manifest


def _facts(app: Flask) -> key_manifest.ManifestFacts:
    from sqlalchemy.orm import Session

    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        return key_manifest.current_facts(db, instance.config, on=date(2026, 12, 3))


def test_a_signed_manifest_reads_back_and_any_changed_byte_is_found(app: Flask) -> None:
    signer = manifest_signing_key(PrivateKey.generate())
    signed = sign_manifest(unsigned_manifest(_facts(app), bytes(signer.verify_key)), signer)
    found = read_manifest(signed)
    assert found.manifest_key == bytes(signer.verify_key)
    assert {b.body_id for b in found.facts.bodies} == {"integrity-office", "ombudsman"}
    assert len(found.facts.recipients) == 2
    for at in range(len(signed)):
        changed = bytearray(signed)
        changed[at] ^= 0x01
        with pytest.raises(ManifestError):
            read_manifest(bytes(changed))
    lines = signed.split(b"\n")
    reordered = b"\n".join([lines[0], lines[2], lines[1], *lines[3:]])
    with pytest.raises(ManifestError):
        read_manifest(reordered)
    with pytest.raises(ManifestError, match="not signed by the manifest key it names"):
        other = manifest_signing_key(PrivateKey.generate())
        forged = unsigned_manifest(_facts(app), bytes(signer.verify_key))
        read_manifest(forged + b"signature: " + base64.b64encode(other.sign(forged).signature) + b"\n")


def test_a_draft_is_signed_only_by_the_key_it_names(app: Flask) -> None:
    named = manifest_signing_key(PrivateKey.generate())
    draft = unsigned_manifest(_facts(app), bytes(named.verify_key))
    with pytest.raises(ManifestError, match="another manifest key"):
        sign_manifest(draft, manifest_signing_key(PrivateKey.generate()))


def _key_file(folder: Path) -> tuple[Path, Path, PrivateKey]:
    secret = PrivateKey.generate()
    path = folder / "manifest.key"
    path.write_bytes(wrap_private_key(secret, b"offline passphrase", opslimit=argon2id.OPSLIMIT_MIN,
                                      memlimit=argon2id.MEMLIMIT_MIN))
    passphrase = folder / "passphrase"
    passphrase.write_text("offline passphrase\n")
    return path, passphrase, secret


def test_draft_sign_install_verify_from_the_command_line(
    app: Flask, runner: InstanceRunner, tmp_path: Path,
) -> None:
    key_file, passphrase, secret = _key_file(tmp_path)
    shown = CliRunner().invoke(main, ["keys", "manifest", "key", "--key", str(key_file), "--passphrase-file",
                                      str(passphrase)])
    assert shown.exit_code == 0, shown.output
    public = bytes(manifest_signing_key(secret).verify_key)
    assert encode_verify_key(public) in shown.output and fingerprint(public) in shown.output

    draft, signed = tmp_path / "draft.txt", tmp_path / "manifest.txt"
    drafted = runner.invoke("keys", "manifest", "draft", "--manifest-key", encode_verify_key(public), "--out", draft)
    assert drafted.exit_code == 0 and "2 body key(s), 2 recipient key(s)" in drafted.output, drafted.output
    assert runner.invoke("keys", "manifest", "install", draft).exit_code == 1  # a draft is not signed
    done = CliRunner().invoke(main, ["keys", "manifest", "sign", str(draft), "--key", str(key_file),
                                     "--passphrase-file", str(passphrase), "--out", str(signed)])
    assert done.exit_code == 0, done.output
    installed = runner.invoke("keys", "manifest", "install", signed)
    assert installed.exit_code == 0 and fingerprint(public) in installed.output, installed.output

    verified = CliRunner().invoke(main, ["keys", "manifest", "verify", str(signed), "--key", fingerprint(public)])
    assert verified.exit_code == 0 and "body integrity-office (key generation 1)" in verified.output
    wrong = CliRunner().invoke(main, ["keys", "manifest", "verify", str(signed), "--key",
                                      encode_verify_key(bytes(manifest_signing_key(PrivateKey.generate()).verify_key))])
    assert wrong.exit_code == 1 and "not the one given" in wrong.output
    signed.write_bytes(signed.read_bytes().replace(b"body: integrity-office 1", b"body: integrity-office 2"))
    assert CliRunner().invoke(main, ["keys", "manifest", "verify", str(signed)]).exit_code == 1


def test_a_manifest_that_does_not_list_the_keys_held_now_is_not_installed(app: Flask, tmp_path: Path) -> None:
    secret, signed = install_key_manifest(app)
    add_test_recipient(app, "integrity-office", "Newcomer")
    instance = app.extensions["parrhesia.instance"]
    from sqlalchemy.orm import Session

    with Session(instance.engine) as db, pytest.raises(ManifestError, match=r"recipient \d+ of integrity-office is not listed"):
        key_manifest.install(db, instance.config, signed, on=instance.config.today())
    assert install_key_manifest(app, key=secret)[1] != signed  # a new draft, signed again, installs


def test_the_manifest_is_served_and_the_landing_page_says_what_it_vouches_for(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/keys/manifest.txt").status_code == 404
    assert "publishes no signed key manifest yet" in client.get("/").get_data(as_text=True)

    secret, signed = install_key_manifest(app)
    served = client.get("/keys/manifest.txt")
    assert served.status_code == 200 and served.data == signed and served.mimetype == "text/plain"
    page = client.get("/").get_data(as_text=True)
    assert read_manifest(signed).manifest_fingerprint in page
    assert page.count('class="kind manifest-vouched"') == 2 and "manifest-unlisted" not in page

    # A manifest that leaves out a body's key (installed by hand, as a forger would):
    # the page says that key is not vouched for.
    facts = read_manifest(signed).facts
    signer = manifest_signing_key(secret)
    partial = type(facts)(facts.instance, facts.issued, facts.instance_signing_key,
                          tuple(b for b in facts.bodies if b.body_id != "ombudsman"), facts.recipients)
    (app.extensions["parrhesia.instance"].config.path / key_manifest.MANIFEST_FILE).write_bytes(
        sign_manifest(unsigned_manifest(partial, bytes(signer.verify_key)), signer))
    page = client.get("/").get_data(as_text=True)
    assert page.count('class="kind manifest-vouched"') == 1
    assert page.count('class="warning manifest-unlisted"') == 1 and "Not listed in the signed key manifest" in page


def test_doctor_says_whether_the_manifest_is_missing_current_stale_or_damaged(
    app: Flask, runner: InstanceRunner,
) -> None:
    def line() -> str:
        found = [x for x in runner.invoke("doctor").output.splitlines() if "signed key manifest" in x]
        assert len(found) == 1
        return found[0]

    assert line().startswith("WARN") and "none installed" in line()
    install_key_manifest(app)
    assert line().startswith("OK") and "current" in line()
    add_test_recipient(app, "ombudsman", "Newcomer")
    assert line().startswith("WARN") and "of ombudsman is not listed" in line()
    path = app.extensions["parrhesia.instance"].config.path / key_manifest.MANIFEST_FILE
    path.write_bytes(path.read_bytes().replace(b"issued: ", b"issued: 1"))
    assert line().startswith("FAIL") and "does not verify" in line()
    assert runner.invoke("doctor").exit_code == 1
