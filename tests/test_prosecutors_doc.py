"""docs/prosecutors.md (issue 11 item 4): the commands a prosecutor runs to check an
evidence package without Parrhesia, run as written with nothing but bash, coreutils,
OpenSSL and Python's standard library on PATH, on a real package. They pass on the
package as exported, and each kind of tampering makes the check meant to find it fail."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from nacl.public import PrivateKey
from test_evidence import _flip, _resign, _resign_with, known_keys, package, report_id  # noqa: F401

from parrhesia.crypto import fingerprint
from parrhesia.crypto.audit_chain import entry_hash
from parrhesia.crypto.evidence import decode_verify_key, encode_verify_key, evidence_signing_key, verify_key_pem
from parrhesia.instance import read_receipt_signing_key
from parrhesia.recipient.evidence import SIGNATURE_FILE, TAG_MANIFEST
from parrhesia.testing import RegisteredRecipient, add_test_recipient

DOC = Path(__file__).resolve().parents[1] / "docs" / "prosecutors.md"
# A verification block is a ```sh block whose first line says what it is: "# check: NAME" and the like.
BLOCK = re.compile(r"^```sh\n# (?P<kind>input|setup|show|check|optional)(?:: (?P<name>[^\n]+))?\n(?P<code>.*?)^```$",
                   re.MULTILINE | re.DOTALL)
CHECKS = ("tag manifest", "payload", "nothing added or removed", "exporter signature", "record", "audit")
# What a prosecutor has on a plain machine; `python3` runs without site-packages (-S): its standard library only.
TOOLS = ("bash", "sha256sum", "sort", "comm", "ls", "find", "sed", "tr", "mktemp", "cat", "base64", "od", "openssl")


@dataclass(frozen=True)
class Doc:
    input: str
    setup: str
    shows: dict[str, str]
    checks: dict[str, str]
    optional: dict[str, str]


def _doc() -> Doc:
    text = DOC.read_text(encoding="utf-8")
    blocks = [(m["kind"], m["name"], m["code"]) for m in BLOCK.finditer(text)]
    assert len(blocks) == text.count("```sh\n"), "every sh block of the page is marked, so that it is tested"

    def named(kind: str) -> dict[str, str]:
        return {name: code for k, name, code in blocks if k == kind}

    [given] = [code for kind, _, code in blocks if kind == "input"]
    [setup] = [code for kind, _, code in blocks if kind == "setup"]
    return Doc(given, setup, named("show"), named("check"), named("optional"))


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("standard-tools")
    for tool in TOOLS:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed")
        (folder / tool).symlink_to(found)
    python = folder / "python3"
    python.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S \"$@\"\n")
    python.chmod(0o755)
    return folder


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and "FAILED" not in self.output


@dataclass
class Prosecutor:
    """Runs the page's blocks as a prosecutor would: the input filled in, the setup, then one block."""

    doc: Doc
    tools: Path
    package: Path
    exporter_key: str
    instance_key: str
    home: Path

    def run(self, code: str, extra_path: Path | None = None) -> Run:
        given = self.doc.input
        for placeholder, value in (("/path/to/the/package", shlex.quote(str(self.package))),
                                   ("'prh1vk_…the exporter gave you'", self.exporter_key),
                                   ("'prh1vk_…the instance publishes'", self.instance_key)):
            assert placeholder in given
            given = given.replace(placeholder, value)
        path = f"{extra_path}:{self.tools}" if extra_path else str(self.tools)
        done = subprocess.run(  # noqa: S603 - bash from the tools folder, the page's own commands
            [str(self.tools / "bash"), "--noprofile", "--norc", "-c", f"{given}\n{self.doc.setup}\n{code}"],
            cwd=self.home, env={"PATH": path, "HOME": str(self.home), "LC_ALL": "C.UTF-8"},
            capture_output=True, text=True, timeout=60, check=False,
        )
        return Run(done.returncode, done.stdout + done.stderr)

    def failing_checks(self) -> set[str]:
        return {name for name, code in self.doc.checks.items() if not self.run(code).passed}


def _instance_key(app: Flask) -> str:
    key = read_receipt_signing_key(app.extensions["parrhesia.instance"].config)
    assert key is not None
    return encode_verify_key(bytes(key.verify_key))


@pytest.fixture
def prosecutor(
    app: Flask, package: Path, recipient: RegisteredRecipient, tools: Path, tmp_path: Path,  # noqa: F811 - the fixture
) -> Prosecutor:
    home = tmp_path / "prosecutor"
    home.mkdir()
    exporter_key = encode_verify_key(bytes(evidence_signing_key(recipient.key).verify_key))  # what export printed
    return Prosecutor(_doc(), tools, package, exporter_key, _instance_key(app), home)


def test_the_page_has_the_six_checks() -> None:
    assert tuple(_doc().checks) == CHECKS


def test_every_command_of_the_page_passes_on_the_package_as_exported(prosecutor: Prosecutor) -> None:
    for name, code in prosecutor.doc.checks.items():
        run = prosecutor.run(code)
        assert run.passed, (name, run.output)
        assert "OK:" in run.output, (name, run.output)
    assert not set(os.listdir(prosecutor.package)) - {"bag-info.txt", "bagit.txt", "data", "evidence.json",
                                                      "manifest-sha256.txt", "signer.pem", TAG_MANIFEST,
                                                      SIGNATURE_FILE}, "the checks write nothing into the package"
    for name, code in prosecutor.doc.shows.items():
        run = prosecutor.run(code)
        assert run.passed, (name, run.output)
    prefix = prosecutor.run(prosecutor.doc.shows["the prefix, and the exporter's key as OpenSSL reads it"]).output
    assert "30 2a 30 05 06 03 2b 65 70 03 21 00" in prefix and "ED25519 Public-Key" in prefix
    keys = prosecutor.run(prosecutor.doc.shows["the keys in the package"]).output
    for key in (prosecutor.exporter_key, prosecutor.instance_key):
        assert f"{key}   fingerprint {fingerprint(decode_verify_key(key))}" in keys, keys
    head = json.loads((prosecutor.package / "evidence.json").read_text())["audit"]["head"]
    assert f"head {head['seq']}:{head['hash']}" in prosecutor.run(prosecutor.doc.shows["the audit trail"]).output


def test_bagits_own_tool_validates_the_package(prosecutor: Prosecutor, tmp_path: Path) -> None:
    found = shutil.which("bagit.py") or str(Path(sys.executable).with_name("bagit.py"))
    if not Path(found).is_file():
        pytest.skip("bagit.py is not installed")
    folder = tmp_path / "bagit-tool"
    folder.mkdir()
    (folder / "bagit.py").symlink_to(found)
    code = prosecutor.doc.optional["bagit"]
    assert prosecutor.run(code, extra_path=folder).passed
    _flip(prosecutor.package / "data" / "attachments" / "contract.pdf", 10)
    assert not prosecutor.run(code, extra_path=folder).passed


def test_the_exporter_key_must_be_the_one_given(prosecutor: Prosecutor, app: Flask) -> None:
    prosecutor.exporter_key = prosecutor.instance_key  # a real key, not the exporter's
    assert prosecutor.failing_checks() == {"exporter signature"}


def test_the_instance_key_must_be_the_one_published(prosecutor: Prosecutor) -> None:
    prosecutor.instance_key = prosecutor.exporter_key
    assert prosecutor.failing_checks() == {"audit"}
    assert "not by the instance key you gave" in prosecutor.run(prosecutor.doc.checks["audit"]).output


def _change_an_audit_entry(folder: Path, recipient: RegisteredRecipient, *, recompute: bool) -> None:
    """What an exporter could do: change an entry's time, perhaps its hash too, and sign the package again."""
    evidence = json.loads((folder / "evidence.json").read_text())
    entry = next(e for e in evidence["audit"]["entries"] if e["action"] == "download")
    entry["at"] = "2020-01-01T00:00:00+00:00"
    if recompute:
        entry["hash"] = entry_hash(entry["prev_hash"], entry["seq"], entry["at"], entry["actor"], entry["action"],
                                   entry["report_id"], entry["body_id"], entry["detail"])
    (folder / "evidence.json").write_text(json.dumps(evidence, indent=1, sort_keys=True))
    _resign(folder, recipient)


def _edit_record(folder: Path, recipient: RegisteredRecipient, edit: Callable[[dict[str, Any]], None]) -> None:
    """What an exporter could do: edit evidence.json and sign the package again."""
    evidence = json.loads((folder / "evidence.json").read_text())
    edit(evidence)
    (folder / "evidence.json").write_text(json.dumps(evidence, indent=1, sort_keys=True))
    _resign(folder, recipient)


def _forget_a_part(evidence: dict[str, Any]) -> None:
    evidence["parts"] = [p for p in evidence["parts"] if p["file"] != "data/attachments/ledger.txt"]


def _restate(evidence: dict[str, Any]) -> None:
    vouched = evidence["audit"]["vouched"]
    vouched["statement"] = vouched["statement"].replace(f"report: {evidence['report']['id']}", "report: another")


def _replace_signature(folder: Path, app: Flask, recipient: RegisteredRecipient) -> None:
    colleague = add_test_recipient(app, recipient.body_id, "Colleague")
    signed = (folder / TAG_MANIFEST).read_bytes()
    (folder / SIGNATURE_FILE).write_bytes(evidence_signing_key(colleague.key).sign(signed).signature)


def _replace_the_instances_signature(folder: Path, app: Flask, recipient: RegisteredRecipient) -> None:
    """A statement signed by another key than the instance's, in a package the exporter signs again."""
    evidence = json.loads((folder / "evidence.json").read_text())
    vouched = evidence["audit"]["vouched"]
    forged = evidence_signing_key(PrivateKey.generate()).sign(vouched["statement"].encode()).signature
    vouched["signature"] = base64.b64encode(forged).decode()
    (folder / "evidence.json").write_text(json.dumps(evidence, indent=1, sort_keys=True))
    _resign(folder, recipient)


def _swap_signer_pem(folder: Path, app: Flask, recipient: RegisteredRecipient) -> None:
    """signer.pem replaced by another key, the package signed again with the exporter's own."""
    other = bytes(evidence_signing_key(PrivateKey.generate()).verify_key)
    (folder / "signer.pem").write_bytes(verify_key_pem(other))
    _resign(folder, recipient)


def _sign_again_as_another(folder: Path, app: Flask, recipient: RegisteredRecipient) -> None:
    _resign_with(folder, add_test_recipient(app, recipient.body_id, "Colleague"))


Tampering = Callable[[Path, Flask, RegisteredRecipient], None]
TAMPERINGS: dict[str, tuple[Tampering, set[str]]] = {
    "one byte of a payload file changed": (
        lambda p, a, r: _flip(p / "data" / "attachments" / "contract.pdf", 10), {"payload"}),
    "the record edited, not signed again": (
        lambda p, a, r: (p / "evidence.json").write_text(
            (p / "evidence.json").read_text().replace('"status": "', '"status": "X', 1)), {"tag manifest"}),
    "a file added to data/": (
        lambda p, a, r: (p / "data" / "attachments" / "extra.pdf").write_bytes(b"%PDF new"),
        {"nothing added or removed"}),
    "a file added beside the bag's": (
        lambda p, a, r: (p / "notes.txt").write_text("added"), {"nothing added or removed"}),
    "a payload file removed": (
        lambda p, a, r: (p / "data" / "attachments" / "ledger.txt").unlink(), {"payload", "nothing added or removed"}),
    "an audit entry changed, and the package signed again": (
        lambda p, a, r: _change_an_audit_entry(p, r, recompute=False), {"audit"}),
    "an audit entry changed with its hash, and the package signed again": (
        lambda p, a, r: _change_an_audit_entry(p, r, recompute=True), {"audit"}),
    "a part's record removed from evidence.json, and the package signed again": (
        lambda p, a, r: _edit_record(p, r, _forget_a_part), {"record"}),
    "the instance's statement reworded, and the package signed again": (
        lambda p, a, r: _edit_record(p, r, _restate), {"audit"}),
    "the instance's signature replaced, and the package signed again": (_replace_the_instances_signature, {"audit"}),
    "the recipient's signature replaced by another key's": (_replace_signature, {"exporter signature"}),
    "signer.pem swapped, and the package signed again by the exporter": (
        _swap_signer_pem, {"exporter signature", "record"}),
    "the package signed again by another key, signer.pem too": (
        _sign_again_as_another, {"exporter signature", "record"}),
}


@pytest.mark.parametrize("change", list(TAMPERINGS))
def test_the_check_meant_for_each_tampering_fails(
    prosecutor: Prosecutor, app: Flask, recipient: RegisteredRecipient, change: str,
) -> None:
    tamper, expected = TAMPERINGS[change]
    tamper(prosecutor.package, app, recipient)
    assert prosecutor.failing_checks() == expected
