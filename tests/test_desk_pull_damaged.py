"""``parrhesia desk pull`` over damaged parts (issue 16 item 5): one part that cannot be
downloaded or decrypted stops nothing else, is named with its report, is not recorded as
pulled (a later pull retries it), and the command ends non-zero; what is pulled is private
to the user (folders 0700, files 0600) whatever the umask; the server answers a missing
ciphertext blob with a 404."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.crypto import CryptoFormatError, derive_source_identity, encrypt_bytes, seal_report_key
from parrhesia.domain.reports import find_by_lookup
from parrhesia.recipient.client import MANIFEST, DeskClient, Keyring, pull_protection
from parrhesia.storage.models import Part
from parrhesia.testing import RegisteredRecipient, submit_report


@pytest.fixture(autouse=True)
def known_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "known-keys.json"
    monkeypatch.setenv("PARRHESIA_KNOWN_KEYS", str(path))
    return path


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets everyone read what is created (a careless machine's)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _pull(server: str, who: RegisteredRecipient, tmp_path: Path, out: Path) -> Result:
    return CliRunner().invoke(main, ["desk", "pull", "--server", server, "--token", who.token,
                                     *who.key_file_args(tmp_path), "--out", str(out)])


def _submit(app: Flask, message: str, files: list[tuple[str, bytes]]) -> str:
    response, codename = submit_report(app.test_client(), message, files=files)
    assert response.status_code == 200 and codename, response.status_code
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        report = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
        assert report is not None
        return report.id


def _parts(app: Flask, report_id: str) -> list[Part]:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        return list(db.scalars(select(Part).where(Part.report_id == report_id).order_by(Part.seq)))


def _blob_path(app: Flask, part: Part) -> Path:
    path: Path = app.extensions["parrhesia.instance"].blobs.path_for(part.blob)
    return path


@pytest.fixture
def three_reports(app: Flask) -> dict[str, str]:
    """Three reports, each a message and an attachment."""
    return {name: _submit(app, f"Report {name}", [(f"{name}.pdf", f"%PDF {name}".encode() * 50)])
            for name in ("flipped", "missing", "intact")}


def test_a_damaged_part_stops_nothing_else_and_is_named_with_its_report(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, three_reports: dict[str, str],
) -> None:
    flipped_part = next(p for p in _parts(app, three_reports["flipped"]) if p.kind == "message")
    missing_part = next(p for p in _parts(app, three_reports["missing"]) if p.kind == "attachment")
    flipped = _blob_path(app, flipped_part)
    original = flipped.read_bytes()
    data = bytearray(original)
    data[200] ^= 0x01  # one bit inside the first ciphertext chunk
    flipped.write_bytes(bytes(data))
    missing = _blob_path(app, missing_part)
    kept = missing.read_bytes()
    missing.unlink()

    out = tmp_path / "pulled"
    result = _pull(server, recipient, tmp_path, out)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    flipped_line = next(line for line in lines if flipped_part.id in line)
    assert three_reports["flipped"] in flipped_line and "damaged or was tampered with" in flipped_line
    missing_line = next(line for line in lines if missing_part.id in line)
    assert three_reports["missing"] in missing_line and "404" in missing_line
    assert "3 report(s), 4 new file(s)" in result.output
    assert "2 part(s) of 2 report(s)" in result.output

    # Everything else was pulled, whatever order the server lists the reports in.
    assert (out / three_reports["intact"] / "001-message.txt").read_text() == "Report intact"
    assert (out / three_reports["intact"] / "intact.pdf").read_bytes() == b"%PDF intact" * 50
    assert (out / three_reports["flipped"] / "flipped.pdf").read_bytes() == b"%PDF flipped" * 50
    assert (out / three_reports["missing"] / "001-message.txt").read_text() == "Report missing"
    assert not (out / three_reports["flipped"] / "001-message.txt").exists()
    assert not (out / three_reports["missing"] / "missing.pdf").exists()
    for report_id, damaged in ((three_reports["flipped"], flipped_part), (three_reports["missing"], missing_part)):
        manifest = json.loads((out / report_id / MANIFEST).read_text())
        assert damaged.id not in manifest and len(manifest) == 1
    assert not [p for p in out.rglob("*.incomplete")] and not [p for p in out.rglob("*.tmp")]

    # Repaired on the server, the damaged parts come with the next pull, and only they.
    flipped.write_bytes(original)
    missing.write_bytes(kept)
    again = _pull(server, recipient, tmp_path, out)
    assert again.exit_code == 0, again.output
    assert "3 report(s), 2 new file(s)" in again.output
    assert (out / three_reports["flipped"] / "001-message.txt").read_text() == "Report flipped"
    assert (out / three_reports["missing"] / "missing.pdf").read_bytes() == b"%PDF missing" * 50


def test_what_pull_writes_is_private_to_the_user_whatever_the_umask(
    app: Flask, server: str, tmp_path: Path, recipient: RegisteredRecipient, three_reports: dict[str, str],
    open_umask: None,
) -> None:
    out = tmp_path / "new" / "pulled"
    result = _pull(server, recipient, tmp_path, out)
    assert result.exit_code == 0, result.output
    folders = [tmp_path / "new", out, *(p for p in out.rglob("*") if p.is_dir())]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(folders) == 5 and len(files) == 3 * 3  # two parts and a manifest per report
    assert {p.name for p in files} >= {MANIFEST, "001-message.txt", "intact.pdf"}
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_part_whose_blob_is_missing_is_a_404_not_a_500(
    app: Flask, client: FlaskClient, recipient: RegisteredRecipient, three_reports: dict[str, str],
) -> None:
    report_id = three_reports["missing"]
    part = _parts(app, report_id)[0]
    _blob_path(app, part).unlink()
    response = client.get(f"/api/v1/reports/{report_id}/parts/{part.id}", headers=recipient.headers)
    assert response.status_code == 404
    assert response.is_json and "missing" in response.get_json()["message"]
    other = _parts(app, report_id)[1]
    served = client.get(f"/api/v1/reports/{report_id}/parts/{other.id}", headers=recipient.headers)
    assert served.status_code == 200
    assert len(served.data) == int(served.headers["Content-Length"]) == _blob_path(app, other).stat().st_size


class _ProtectionServer:
    """Just what :func:`pull_protection` asks of a DeskClient: two requests of one report,
    the first one's details damaged, the second one's whole."""

    def __init__(self, key: PrivateKey) -> None:
        self.key = key
        part_key = PrivateKey.generate()
        self.sealed = base64.b64encode(seal_report_key(part_key, bytes(key.public_key))).decode()
        self.blobs = {
            part_id: encrypt_bytes(f"details {part_id}".encode(), bytes(part_key.public_key), REPORT, part_id,
                                   {"kind": "protection"})
            for part_id in ("d1" * 16, "d2" * 16)
        }
        damaged = bytearray(self.blobs["d1" * 16])
        damaged[200] ^= 0x01
        self.blobs["d1" * 16] = bytes(damaged)

    def protection_requests(self) -> list[dict[str, Any]]:
        return [{"id": f"r{n}" * 16, "report_id": REPORT,
                 "details": {"part_id": f"d{n}" * 16, "sealed_key": self.sealed, "generation": None}}
                for n in (1, 2)]

    def open_protection_part(self, request_id: str, part_id: str) -> BinaryIO:
        return io.BytesIO(self.blobs[part_id])


REPORT = "ab" * 16


def test_a_damaged_protection_request_stops_no_other(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    ring = Keyring(body_id="integrity-office", keys={}, fingerprints={}, vouched_by="Colleague")
    fake = cast(DeskClient, _ProtectionServer(key))
    damaged: list[tuple[str, str, str]] = []
    written = pull_protection(fake, key, ring, tmp_path, damaged=damaged)
    assert [path.name for path in written] == [f"protection-{'r2' * 16}.txt"]
    assert written[0].read_text() == f"details {'d2' * 16}"
    ((report_id, part_id, why),) = damaged
    assert (report_id, part_id) == (REPORT, "d1" * 16)
    assert why.startswith(f"protection of protection request {'r1' * 16}: cannot decrypt: ")
    assert "damaged or was tampered with" in why
    with pytest.raises(CryptoFormatError):  # without a list to record them in, the first one is raised
        pull_protection(fake, key, ring, tmp_path / "again")
