"""Backups that restore: taken while sources submit, restored elsewhere, read there."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.pwhash.argon2id as argon2id
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto import decrypt_bytes, encode_public_key, generate_recipient_key, wrap_private_key
from parrhesia.storage.db import make_engine
from parrhesia.storage.models import Part
from parrhesia.testing import TEST_DATABASE_ENV, RegisteredRecipient, postgresql_schema, submit_report
from parrhesia.web.app import create_app


@dataclass
class Operator:
    key_file: Path
    passphrase_file: Path
    public_key: str


def _operator(folder: Path, name: str) -> Operator:
    key = generate_recipient_key()
    key_file = folder / f"{name}.key"
    # The cheapest Argon2id the format allows: these tests are about backups, not key files.
    key_file.write_bytes(wrap_private_key(key, b"operator passphrase", opslimit=argon2id.OPSLIMIT_MIN,
                                          memlimit=argon2id.MEMLIMIT_MIN))
    passphrase_file = folder / f"{name}.passphrase"
    passphrase_file.write_text("operator passphrase\n", encoding="utf-8")
    return Operator(key_file, passphrase_file, encode_public_key(bytes(key.public_key)))


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    """The operator's key, made off the server: only its public key is given to backup."""
    return _operator(tmp_path, "operator")


@pytest.fixture
def restore_url(database_url: str) -> Iterator[str | None]:
    """Where a backup is restored: a new SQLite file inside the new folder (None), or a
    fresh PostgreSQL schema of the test database, created and dropped here."""
    if not database_url.startswith("postgresql"):
        yield None
        return
    with postgresql_schema(os.environ[TEST_DATABASE_ENV], prefix="r") as url:
        yield url


def _cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], env={"PARRHESIA_INSTANCE": ""})


def _back_up(instance_dir: Path, out: Path, operator: Operator) -> Result:
    return _cli("backup", "--instance", instance_dir, "--out", out, "--to-key", operator.public_key)


def _restore(backup: Path, new_dir: Path, operator: Operator, url: str | None) -> Result:
    args: list[str | Path] = ["restore", backup, "--instance", new_dir, "--key", operator.key_file,
                              "--passphrase-file", operator.passphrase_file]
    return _cli(*args, *(["--database-url", url] if url else []))


def _messages_read_by(recipient: RegisteredRecipient, app: Flask) -> dict[str, str]:
    """Every report's message as the recipient's own machine decrypts it, by report id."""
    client = app.test_client()
    listing = client.get("/api/v1/reports", headers=recipient.headers)
    assert listing.status_code == 200
    read = {}
    for report in listing.json["reports"]:
        report_key = recipient.report_key(client, report["id"])
        [message] = [p for p in report["parts"] if p["kind"] == "message"]
        blob = client.get(f"/api/v1/reports/{report['id']}/parts/{message['id']}", headers=recipient.headers).data
        meta, content = decrypt_bytes(blob, report_key, report["id"], message["id"])
        assert meta["kind"] == "message"
        read[report["id"]] = content.decode()
    return read


def _schema_tables(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
            )).scalar_one())
    finally:
        engine.dispose()


def test_backup_taken_while_sources_submit_restores_every_report_it_holds(
    app: Flask, recipient: RegisteredRecipient, instance_dir: Path, operator: Operator,
    restore_url: str | None, tmp_path: Path,
) -> None:
    submitted: list[str] = []
    failures: list[str] = []
    stop = threading.Event()
    backed_up = threading.Event()
    later: list[str] = []  # begun once the backup was written

    def submit_until_stopped() -> None:
        browser = app.test_client()
        while not stop.is_set():
            message = f"canary {secrets.token_hex(8)}"
            if backed_up.is_set():
                later.append(message)
            response, codename = submit_report(browser, message)
            if response.status_code != 200 or not codename:
                failures.append(f"submission refused: {response.status_code}")
                return
            submitted.append(message)

    for _ in range(2):
        message = f"canary {secrets.token_hex(8)}"
        assert submit_report(app.test_client(), message)[1]
        submitted.append(message)
    source = threading.Thread(target=submit_until_stopped, daemon=True)
    source.start()
    try:
        while len(submitted) < 4 and not failures:
            stop.wait(0.01)
        before = len(submitted)
        backup = tmp_path / "instance.prhb"
        result = _back_up(instance_dir, backup, operator)
        backed_up.set()
        while not later and not failures:
            stop.wait(0.01)
        while len(submitted) < before + 2 and not failures:
            stop.wait(0.01)
    finally:
        stop.set()
        source.join(timeout=30)
    assert not failures
    assert result.exit_code == 0, result.output
    assert "0 blob" not in result.output

    sealed = backup.read_bytes()
    for message in submitted:
        assert message.encode() not in sealed
    for secret in ("pepper", "secret_key"):
        assert (instance_dir / "secrets" / secret).read_bytes() not in sealed
    assert b"parrhesia.toml" not in sealed  # not even the tar stream's names are in clear

    new_dir = tmp_path / "elsewhere" / "restored"
    restored = _restore(backup, new_dir, operator, restore_url)
    assert restored.exit_code == 0, restored.output
    assert "the instance opens" in restored.output
    assert (new_dir / "secrets").stat().st_mode & 0o777 == 0o700
    for secret in (new_dir / "secrets").iterdir():
        assert secret.stat().st_mode & 0o777 == 0o600
        assert secret.read_bytes() == (instance_dir / "secrets" / secret.name).read_bytes()

    restored_app = create_app(new_dir, {"TESTING": True})
    try:
        read = _messages_read_by(recipient, restored_app)
        restored_instance = restored_app.extensions["parrhesia.instance"]
        with Session(restored_instance.engine) as db:
            blobs = list(db.scalars(select(Part.blob)))
        assert blobs and all(restored_instance.blobs.path_for(name).is_file() for name in blobs)
    finally:
        restored_app.extensions["parrhesia.instance"].dispose()
    # Everything submitted before the backup began is there and readable; what was
    # submitted during it is there whole or not at all; nothing begun after it.
    assert set(submitted[:before]) <= set(read.values()) <= set(submitted) - set(later)
    assert len(read) == len(set(read.values()))


def test_a_backup_for_another_key_is_refused_and_writes_nothing(
    app: Flask, instance_dir: Path, operator: Operator, restore_url: str | None, tmp_path: Path,
) -> None:
    backup = tmp_path / "instance.prhb"
    assert _back_up(instance_dir, backup, operator).exit_code == 0
    stranger = _operator(tmp_path, "stranger")
    result = _restore(backup, tmp_path / "restored", stranger, restore_url)
    assert result.exit_code != 0
    assert "not encrypted to this key" in result.output
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "appended byte", "flipped key"])
def test_a_tampered_backup_is_refused_and_writes_nothing(
    app: Flask, instance_dir: Path, operator: Operator, restore_url: str | None, tmp_path: Path, damage: str,
) -> None:
    backup = tmp_path / "instance.prhb"
    assert _back_up(instance_dir, backup, operator).exit_code == 0
    data = bytearray(backup.read_bytes())
    if damage == "flipped byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncated":
        del data[-200:]
    elif damage == "appended byte":
        data += b"\x00"
    else:
        data[20] ^= 0x01  # inside the sealed stream key
    backup.write_bytes(bytes(data))
    result = _restore(backup, tmp_path / "restored", operator, restore_url)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert any(word in result.output for word in ("tampered", "truncated", "not encrypted to this key"))
    assert not (tmp_path / "restored").exists()
    if restore_url:
        assert _schema_tables(restore_url) == 0


def test_restore_refuses_a_folder_that_is_not_empty(
    app: Flask, instance_dir: Path, operator: Operator, restore_url: str | None, tmp_path: Path,
) -> None:
    backup = tmp_path / "instance.prhb"
    assert _back_up(instance_dir, backup, operator).exit_code == 0
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine", encoding="utf-8")
    result = _restore(backup, occupied, operator, restore_url)
    assert result.exit_code != 0 and "not empty" in result.output
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]


def test_a_missing_blob_is_reported_by_name(
    app: Flask, recipient: RegisteredRecipient, instance_dir: Path, operator: Operator, tmp_path: Path,
) -> None:
    assert submit_report(app.test_client(), "a report whose blob goes missing")[1]
    [blob] = list(app.extensions["parrhesia.instance"].blobs.stored())
    app.extensions["parrhesia.instance"].blobs.delete(blob.name)
    result = _back_up(instance_dir, tmp_path / "instance.prhb", operator)
    assert result.exit_code == 2
    assert blob.name in result.output


def test_backup_refuses_a_private_key_file(app: Flask, instance_dir: Path, operator: Operator, tmp_path: Path) -> None:
    result = _cli("backup", "--instance", instance_dir, "--out", tmp_path / "x.prhb", "--to-key", operator.key_file)
    assert result.exit_code != 0 and "private key" in result.output
    assert not (tmp_path / "x.prhb").exists()


def test_onion_service_keys_named_by_the_config_come_back_in_the_restored_folder(
    app: Flask, instance_dir: Path, operator: Operator, restore_url: str | None, tmp_path: Path,
) -> None:
    service = tmp_path / "tor" / "parrhesia-desk"
    (service / "authorized_clients").mkdir(parents=True)
    (service / "hs_ed25519_secret_key").write_bytes(b"== ed25519v1-secret: type0 ==\x00\x00\x00" + secrets.token_bytes(64))
    (service / "hostname").write_text("a" * 56 + ".onion\n", encoding="ascii")
    (service / "authorized_clients" / "alice.auth").write_text("descriptor:x25519:ABC\n", encoding="ascii")
    config = instance_dir / "parrhesia.toml"
    config.write_text(config.read_text(encoding="utf-8") + f'\n[tor]\ndesk_onion_dir = "{service}"\n', encoding="utf-8")
    backup = tmp_path / "instance.prhb"
    assert _back_up(instance_dir, backup, operator).exit_code == 0
    assert (service / "hs_ed25519_secret_key").read_bytes() not in backup.read_bytes()
    result = _restore(backup, tmp_path / "restored", operator, restore_url)
    assert result.exit_code == 0, result.output
    assert str(service) in result.output
    for name in ("hs_ed25519_secret_key", "hostname", "authorized_clients/alice.auth"):
        restored = tmp_path / "restored" / "tor" / "0" / name
        assert restored.read_bytes() == (service / name).read_bytes()
        assert restored.stat().st_mode & 0o777 == 0o600


def test_backup_memory_does_not_grow_with_the_blob_store(
    app: Flask, recipient: RegisteredRecipient, instance_dir: Path, operator: Operator, tmp_path: Path,
) -> None:
    import tracemalloc

    from parrhesia.crypto import decode_public_key
    from parrhesia.ops.backup import create_backup

    assert submit_report(app.test_client(), "a report whose blob we make large")[1]
    store = app.extensions["parrhesia.instance"].blobs
    [blob] = list(store.stored())
    with open(store.path_for(blob.name), "ab") as handle:  # 24 MB more ciphertext-like bytes
        for _ in range(24):
            handle.write(secrets.token_bytes(1024 * 1024))
    tracemalloc.start()
    try:
        with open(tmp_path / "instance.prhb", "wb") as out:
            result = create_backup(instance_dir, out, decode_public_key(operator.public_key))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.blobs == 1 and (tmp_path / "instance.prhb").stat().st_size > 24 * 1024 * 1024
    assert peak < 4 * 1024 * 1024
