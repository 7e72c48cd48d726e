"""The web desk's evidence package (issue 11 item 3, the desk button): the package the
report page builds in the browser (themes/default/static/desk/evidence.js, run here
under node) is the one ``parrhesia desk export`` writes — the same record, the same
files with the same hashes, the same signing key — and ``parrhesia evidence verify``
checks it, in a folder or as the ZIP the browser saves. A ZIP that is damaged, or holds
a path outside the package, is refused before anything in it is trusted."""

from __future__ import annotations

import base64
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from node_support import answer_of, run_check
from sqlalchemy.orm import Session
from test_evidence import (  # noqa: F401 - fixtures
    CONTRACT,
    LEDGER,
    _evidence,
    _export,
    known_keys,
    package,
    report_id,
)

from parrhesia.cli import main
from parrhesia.crypto import derive_source_identity
from parrhesia.crypto.evidence import encode_verify_key, evidence_signing_key
from parrhesia.domain.reports import find_by_lookup
from parrhesia.recipient.evidence import verify
from parrhesia.testing import RegisteredRecipient, submit_report

ORIGINALS = {"contract.pdf": CONTRACT, "ledger.txt": LEDGER}


def _node(job: dict[str, Any]) -> dict[str, Any]:
    return answer_of("evidence_check.js", job)


def _job_from(cli_package: Path, recipient: RegisteredRecipient, exclusions: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the page holds for the same report: the server's record (as the CLI's package
    recorded it), each part decrypted with its ciphertext's hash, the recipient's key."""
    evidence = _evidence(cli_package)
    parts = []
    for entry in evidence["parts"]:
        content = None
        meta: dict[str, Any] = {"kind": entry["kind"]}
        if entry["treatment"] == "included":
            content = (cli_package / entry["file"]).read_bytes()
            if entry["kind"] == "attachment":
                meta["filename"] = entry["file"].rsplit("/", 1)[-1]
        parts.append({"part": {k: entry[k] for k in ("kind", "author", "created_on")} | {"id": entry["part"]},
                      "content": base64.b64encode(content).decode() if content is not None else None,
                      "meta": meta, "ciphertext": entry["ciphertext"], "problem": None})
    audit = evidence["audit"]
    return {
        "instance": evidence["instance"], "report": evidence["report"], "exported_at": evidence["exported_at"],
        "record": {"bodies": evidence["routing"]["bodies"], "escalations": evidence["routing"]["escalations"],
                   "clocks": evidence["clocks"], "entries": audit["entries"], "head": audit["head"],
                   "vouched": audit["vouched"], "clock_history": evidence["clock_history"]},
        "exporter": {"id": int(evidence["exporter"]["recipient"].split(":")[1]), "body": evidence["exporter"]["body"]},
        "recipient_private_key": bytes(recipient.key).hex(),
        "parts": parts, "exclusions": exclusions or {},
    }


def _write(files: list[list[str]], folder: Path) -> Path:
    for name, content in files:
        target = folder.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(content))
    return folder


def _zip(files: list[list[str]], path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files:
            archive.writestr(name, base64.b64decode(content))
    return path


def _verify(path: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["evidence", "verify", str(path), *extra])


def test_the_browsers_package_is_the_command_lines_and_verifies(
    package: Path, recipient: RegisteredRecipient, tmp_path: Path,  # noqa: F811
) -> None:
    built = _node(_job_from(package, recipient))
    # The page signs with the key the command line derives from the same recipient key.
    expected_key = encode_verify_key(bytes(evidence_signing_key(recipient.key).verify_key))
    assert built["verify_key"] == expected_key
    folder = _write(built["files"], tmp_path / "from-browser")
    assert _evidence(folder) == _evidence(package)
    for name in ("signer.pem", "bagit.txt"):
        assert (folder / name).read_bytes() == (package / name).read_bytes(), name
    assert sorted((folder / "manifest-sha256.txt").read_text().splitlines()) == sorted(
        (package / "manifest-sha256.txt").read_text().splitlines())

    found = verify(folder, verify_key=expected_key)
    assert found.ok, found.problems
    saved = _zip(built["files"], tmp_path / "evidence.zip")
    checked = _verify(saved, "--key", expected_key)
    assert checked.exit_code == 0, checked.output


def test_what_the_page_leaves_out_or_redacts_is_recorded_as_the_command_line_records_it(
    server: str, recipient: RegisteredRecipient, tmp_path: Path, report_id: str,  # noqa: F811
) -> None:
    redacted = tmp_path / "contract-redacted.pdf"
    redacted.write_bytes(b"%PDF-1.4 contract [REDACTED]")
    cli = tmp_path / "cli"
    result = _export(server, recipient, tmp_path, report_id, cli,
                     "--omit", "ledger.txt", "--reason", "ledger.txt=names third parties",
                     "--redact", f"contract.pdf={redacted}", "--reason", "contract.pdf=an account number")
    assert result.exit_code == 0, result.output
    evidence = _evidence(cli)
    by_treatment = {p["treatment"]: p["part"] for p in evidence["parts"] if p["kind"] == "attachment"}
    job = _job_from(cli, recipient, {
        by_treatment["omitted"]: {"reason": "names third parties", "copy": None},
        by_treatment["redacted"]: {"reason": "an account number",
                                   "copy": {"name": redacted.name, "content": base64.b64encode(redacted.read_bytes()).decode()}},
    })
    # The page has every part decrypted, the ones it leaves out too.
    names = {by_treatment["omitted"]: "ledger.txt", by_treatment["redacted"]: "contract.pdf"}
    for part in job["parts"]:
        if part["part"]["id"] in names:
            part["content"] = base64.b64encode(ORIGINALS[names[part["part"]["id"]]]).decode()
            part["meta"]["filename"] = names[part["part"]["id"]]
    built = _node(job)
    folder = _write(built["files"], tmp_path / "from-browser")
    assert _evidence(folder) == evidence
    assert not any(name.startswith("data/attachments/") for name, _ in built["files"])
    for _, content in built["files"]:
        assert b"-ledger" not in base64.b64decode(content) and b"-contract" not in base64.b64decode(content)
    checked = _verify(_zip(built["files"], tmp_path / "evidence.zip"))
    assert checked.exit_code == 0, checked.output
    assert "omitted: attachment" in checked.output and "names third parties" in checked.output
    assert "redacted: attachment" in checked.output and "an account number" in checked.output

    # Without a reason the page builds nothing.
    job["exclusions"][by_treatment["omitted"]]["reason"] = "  "
    refused = run_check("evidence_check.js", job, ok=False)
    assert refused.returncode != 0 and "reason" in refused.stderr


def _zipped_package(folder: Path, path: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return path


def test_a_zipped_package_verifies_and_any_change_to_it_fails(package: Path, tmp_path: Path) -> None:  # noqa: F811
    saved = _zipped_package(package, tmp_path / "evidence.zip")
    assert _verify(saved).exit_code == 0

    # One byte of a stored file changed: the ZIP's own check refuses it.
    data = bytearray(saved.read_bytes())
    offset = bytes(data).index(b"%PDF-1.4 contract")
    data[offset + 2] ^= 0x01
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    refused = _verify(damaged)
    assert refused.exit_code == 1 and "damaged" in refused.output, refused.output

    # The same change written as a new, valid ZIP: the package's hashes refuse it.
    changed = tmp_path / "changed"
    shutil.copytree(package, changed)
    attachment = next((changed / "data" / "attachments").iterdir())
    content = bytearray(attachment.read_bytes())
    content[-1] ^= 0x01
    attachment.write_bytes(bytes(content))
    rezipped = _verify(_zipped_package(changed, tmp_path / "changed.zip"))
    assert rezipped.exit_code == 1 and attachment.name in rezipped.output, rezipped.output

    # A file added to the ZIP is named.
    added = _verify(_zipped_package(package, tmp_path / "added.zip", extra={"data/attachments/extra.txt": b"x"}))
    assert added.exit_code == 1 and "extra.txt" in added.output, added.output


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/evidence.txt", "data/../../x", "data\\x"])
def test_a_zip_with_a_path_outside_the_package_is_refused_and_nothing_is_written(
    package: Path, tmp_path: Path, name: str,  # noqa: F811
) -> None:
    (tmp_path / "hostile").mkdir()
    saved = _zipped_package(package, tmp_path / "hostile" / "evidence.zip", extra={name: b"planted"})
    refused = _verify(saved)
    assert refused.exit_code == 1 and "outside the package" in refused.output, refused.output
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "x").exists()


def test_a_file_that_is_not_a_zip_is_refused_clearly(tmp_path: Path) -> None:
    bogus = tmp_path / "evidence.zip"
    bogus.write_bytes(b"not a zip at all")
    refused = _verify(bogus)
    assert refused.exit_code == 1 and "not an evidence package" in refused.output, refused.output


def _crafted(path: Path, folder: Path, tweak: str) -> Path:
    """The package zipped, with one entry made as no package's is."""
    saved = _zipped_package(folder, path)
    with zipfile.ZipFile(path, "a") as archive:
        if tweak == "encrypted":
            archive.writestr("data/attachments/locked.txt", b"secret")
        elif tweak == "bzip2":
            archive.writestr("data/attachments/packed.txt", b"x" * 100, compress_type=zipfile.ZIP_BZIP2)
        elif tweak == "bomb":
            archive.writestr("data/attachments/zeros.bin", bytes(50 * 1024 * 1024), compress_type=zipfile.ZIP_DEFLATED)
    if tweak == "encrypted":  # zipfile writes no encrypted entry: set the flag in both headers
        data = bytearray(path.read_bytes())
        name = b"data/attachments/locked.txt"
        for signature, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
            at = data.index(signature)  # the first header of its kind
            while data[at + name_at:at + name_at + len(name)] != name:
                at = data.index(signature, at + 1)
            data[at + flags_at] |= 0x1
        path.write_bytes(bytes(data))
    return saved


@pytest.mark.parametrize(("tweak", "said"), [("encrypted", "encrypted entry"), ("bzip2", "compressed in a way"),
                                             ("bomb", "more than a hundred times its size")])
def test_a_zip_entry_no_package_has_is_refused_clearly_never_with_a_traceback(
    package: Path, tmp_path: Path, tweak: str, said: str,  # noqa: F811
) -> None:
    refused = _verify(_crafted(tmp_path / "crafted.zip", package, tweak))
    assert refused.exit_code == 1 and said in refused.output and "Traceback" not in refused.output, refused.output


def test_a_zip_whose_deflated_data_is_corrupt_is_called_damaged(package: Path, tmp_path: Path) -> None:  # noqa: F811
    saved = tmp_path / "deflated.zip"
    with zipfile.ZipFile(saved, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(package.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(package).as_posix())
    assert _verify(saved).exit_code == 0
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        member = max(archive.infolist(), key=lambda m: m.compress_size)
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    for offset in range(start + 2, start + min(member.compress_size, 40)):
        data[offset] ^= 0xFF
    saved.write_bytes(bytes(data))
    refused = _verify(saved)
    assert refused.exit_code == 1 and "damaged" in refused.output and "Traceback" not in refused.output, refused.output
    assert str(tmp_path / "tmp") not in refused.output


def test_a_browser_package_with_every_part_left_out_verifies(
    package: Path, recipient: RegisteredRecipient, tmp_path: Path,  # noqa: F811
) -> None:
    job = _job_from(package, recipient)
    job["exclusions"] = {p["part"]["id"]: {"reason": "not to be disclosed", "copy": None}
                         for p in job["parts"] if p["content"] is not None}
    built = _node(job)
    assert not any(name.startswith("data/") for name, _ in built["files"])
    checked = _verify(_zip(built["files"], tmp_path / "evidence.zip"))
    assert checked.exit_code == 0, checked.output


def test_attachments_of_one_name_are_named_as_the_command_line_names_them_even_when_one_is_left_out(
    app: Flask, server: str, recipient: RegisteredRecipient, tmp_path: Path,
) -> None:
    first, second = b"%PDF-1.4 first scan", b"%PDF-1.4 second scan"
    response, codename = submit_report(app.test_client(), "two scans of one name",
                                       files=[("scan.pdf", first), ("scan.pdf", second)])
    assert response.status_code == 200 and codename
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        found = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
        assert found is not None
        report = found.id
    cli = tmp_path / "cli"
    result = _export(server, recipient, tmp_path, report, cli, "--omit", "scan.pdf", "--reason", "scan.pdf=a name")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (cli / "data" / "attachments").iterdir()] == ["scan (2).pdf"]
    evidence = _evidence(cli)
    omitted = next(p["part"] for p in evidence["parts"] if p["treatment"] == "omitted")
    job = _job_from(cli, recipient, {omitted: {"reason": "a name", "copy": None}})
    for part in job["parts"]:
        if part["part"]["id"] == omitted:
            part["content"] = base64.b64encode(first).decode()
        if part["part"]["kind"] == "attachment":
            part["meta"]["filename"] = "scan.pdf"  # as the source named both
    built = _node(job)
    assert _evidence(_write(built["files"], tmp_path / "from-browser")) == evidence
