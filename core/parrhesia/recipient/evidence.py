"""Evidence packages: a report, decrypted on the recipient's machine, that a prosecutor
or a court can check without trusting that machine or the server.

A package is a BagIt bag (RFC 8493). ``data/`` holds the decrypted messages,
attachments, answers and replies (or a redacted copy); ``evidence.json`` records the
report (routing fields, route, exclusions and every other body's role with its reason,
escalations, clocks and the audit entries that changed them), the report's audit
entries with their hashes and the chain's head, every part with the SHA-256 of the file
written and of the ciphertext it was decrypted from, what was left out or redacted and
why, who exported it and when. The bag's tag manifest, which covers every other file,
is signed with the exporter's evidence key (:mod:`parrhesia.crypto.evidence`). The
layout and the exact bytes signed are in docs/format.md, "Evidence packages".

Parts are downloaded and decrypted exactly as ``desk pull`` does it (the same keyring,
the same :func:`parrhesia.crypto.decrypt_part_to_path`); only their ciphertext is also
hashed on the way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bagit
from nacl.public import PrivateKey

from parrhesia.crypto import (
    CryptoFormatError,
    decode_public_key,
    decrypt_part_to_path,
    encode_public_key,
    fingerprint,
    sanitise_filename,
)
from parrhesia.crypto.audit_chain import entry_hash, head_statement
from parrhesia.crypto.evidence import (
    decode_verify_key,
    encode_verify_key,
    evidence_signing_key,
    signature_is_valid,
    verify_key_from_pem,
    verify_key_pem,
)
from parrhesia.crypto.receipt import names_key
from parrhesia.private_files import open_private, write_private_file
from parrhesia.recipient.client import (
    _SUFFIX,
    DeskClient,
    DeskError,
    KnownKeys,
    _Download,
    _private_folder,
    open_keyring,
)

__all__ = [
    "PACKAGE_FORMAT", "PACKAGE_VERSION", "EVIDENCE_FILE", "SIGNER_FILE", "SIGNATURE_FILE", "TAG_MANIFEST",
    "Exclusion", "ExportResult", "Verification", "export", "verify", "excluded_line",
]

PACKAGE_FORMAT = "parrhesia-evidence"
PACKAGE_VERSION = 1
EVIDENCE_FILE = "evidence.json"
SIGNER_FILE = "signer.pem"
TAG_MANIFEST = "tagmanifest-sha256.txt"
SIGNATURE_FILE = TAG_MANIFEST + ".sig"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
# Every tag file the tag manifest lists; with it, its signature and data/, the whole bag.
TAG_FILES = frozenset({"bagit.txt", "bag-info.txt", PAYLOAD_MANIFEST, EVIDENCE_FILE, SIGNER_FILE})
TOP_LEVEL = TAG_FILES | {TAG_MANIFEST, SIGNATURE_FILE, "data"}

_FOLDERS = {"message": "messages", "attachment": "attachments", "answers": "answers", "reply": "replies"}
_REDACTED = "redacted"
_CHUNK = 64 * 1024
INCLUDED, OMITTED, REDACTED, LEFT_OUT, UNREADABLE = "included", "omitted", "redacted", "left-out", "unreadable"
_TREATMENTS = frozenset({INCLUDED, OMITTED, REDACTED, LEFT_OUT, UNREADABLE})
_NOTE_REASON = "an internal note of a body, never part of an evidence package"
# What the instance's signature proves, and what it does not; said by every verification.
VOUCHED_MEANS = (
    "The instance signed that its audit log held these entries, and this head, at that time; that its log's "
    "chain is intact up to the head is checked on the instance with `parrhesia audit verify`."
)


ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class Exclusion:
    """An attachment (or other part) the exporter leaves out, or replaces with a redacted copy.

    ``name`` is the file name the part gets in the package (as ``desk pull`` names it,
    e.g. ``contract.pdf`` or ``001-message.txt``) or its part id; ``replacement`` is the
    redacted copy, or None to leave the part out; ``reason`` is recorded with it.
    """

    name: str
    reason: str
    replacement: Path | None = None


@dataclass
class ExportResult:
    path: Path
    verify_key: bytes
    files: list[str] = field(default_factory=list)  # paths inside the bag, "data/…"
    excluded: list[dict[str, Any]] = field(default_factory=list)  # the parts entries omitted, redacted or left out
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (part id, why)
    vouched: bool = False  # whether the instance signed the audit entries and the chain head


def export(
    client: DeskClient, key: PrivateKey, report_id: str, out: Path, *,
    exclusions: tuple[Exclusion, ...] = (), known: KnownKeys | None = None, exporter_name: str | None = None,
    progress: ProgressFactory | None = None, now: datetime | None = None,
) -> ExportResult:
    """Write the evidence package of one report into ``out`` (which must not exist yet).

    A part that cannot be downloaded or decrypted is recorded as unreadable, with its
    reason and (when it was downloaded whole) its ciphertext's hash, and listed in the
    result; the package is complete otherwise. A requested exclusion that names no
    part, or several, stops the export. On any error nothing is left in ``out``.
    """
    if out.exists():
        raise DeskError(f"{out} already exists: an evidence package is written into a new folder.")
    for exclusion in exclusions:
        if not exclusion.reason.strip():
            raise DeskError(f"Give the reason for leaving out or redacting {exclusion.name!r}.")
        if exclusion.replacement is not None and not exclusion.replacement.is_file():
            raise DeskError(f"The redacted copy {exclusion.replacement} is not a file.")
    if len({e.name for e in exclusions}) != len(exclusions):
        raise DeskError("A part is named twice in the exclusions.")
    ring = open_keyring(client, key, known)
    me = client.me()
    if decode_public_key(me["public_key"]) != bytes(key.public_key):
        raise DeskError("This API token belongs to another recipient than this key.")
    report = client.report(report_id)
    if not report.get("sealed_key"):
        raise DeskError(f"Report {report_id} is not sealed to your body's key: you cannot export it.")
    report_key = ring.open(report["sealed_key"], report.get("generation"), key)
    if bytes(report_key.public_key) != decode_public_key(report["public_key"]):
        raise DeskError("The key sealed to your body does not match this report's public key.")
    signing_key = evidence_signing_key(key)
    verify_key = bytes(signing_key.verify_key)
    result = ExportResult(path=out, verify_key=verify_key)
    _private_folder(out)
    try:
        parts = [_export_part(client, report, number, part, report_key, out, result, progress)
                 for number, part in enumerate(report["parts"], start=1)]
        _apply_exclusions(parts, exclusions, out)
        _remove_empty_folders(out)
        record = client.report_audit(report["id"])
        result.vouched = isinstance(record.get("vouched"), dict)
        exported_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        evidence = {
            "format": PACKAGE_FORMAT,
            "version": PACKAGE_VERSION,
            "instance": client.server,
            "report": {name: report.get(name) for name in
                       ("id", "status", "created_on", "updated_on", "public_key", "route", "escalation",
                        "fallback_route", "fields")},
            "routing": {"bodies": record["bodies"], "escalations": record["escalations"]},
            "clocks": record["clocks"],
            "clock_history": record["clock_history"],  # chosen by the server (web/evidence_record.py)
            "audit": {"entries": record["entries"], "head": record["head"], "vouched": record.get("vouched")},
            "parts": parts,
            "exporter": {
                "recipient": f"recipient:{me['id']}",
                "body": me["body"],
                "public_key": encode_public_key(bytes(key.public_key)),
                "fingerprint": fingerprint(bytes(key.public_key)),
                **({"name": exporter_name} if exporter_name else {}),
            },
            "exported_at": exported_at.isoformat().replace("+00:00", "Z"),
            "signature": {
                "algorithm": "Ed25519",
                "verify_key": encode_verify_key(verify_key),
                "fingerprint": fingerprint(verify_key),
                "signed_file": TAG_MANIFEST,
                "signature_file": SIGNATURE_FILE,
            },
        }
        with _bagit():
            bagit.make_bag(str(out), {
                "External-Identifier": report["id"],
                "External-Description": f"Parrhesia evidence package of report {report['id']}",
            }, checksums=["sha256"])
            write_private_file(out / EVIDENCE_FILE, _canonical(evidence))
            write_private_file(out / SIGNER_FILE, verify_key_pem(verify_key))
            bagit.Bag(str(out)).save()  # the tag manifest, now listing evidence.json and signer.pem
        write_private_file(out / SIGNATURE_FILE, signing_key.sign((out / TAG_MANIFEST).read_bytes()).signature)
        for name in TAG_FILES | {TAG_MANIFEST}:
            os.chmod(out / name, 0o600)  # bagit writes its files with the umask's mode
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    result.files = sorted(p["file"] for p in parts if p.get("file"))
    result.excluded = [p for p in parts if p["treatment"] in (OMITTED, REDACTED, LEFT_OUT)]
    return result


def _export_part(
    client: DeskClient, report: dict[str, Any], number: int, part: dict[str, Any], report_key: PrivateKey,
    out: Path, result: ExportResult, progress: ProgressFactory | None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "part": part["id"], "kind": part["kind"], "author": part.get("author"), "created_on": part.get("created_on"),
        "treatment": INCLUDED, "file": None, "sha256": None, "size": None, "ciphertext": None, "reason": None,
    }
    folder_name = _FOLDERS.get(part["kind"])
    if folder_name is None:
        reason = _NOTE_REASON if part["kind"] == "note" else f"a part of kind {part['kind']!r} this version does not export"
        return {**entry, "treatment": LEFT_OUT, "reason": reason}
    folder = out / folder_name
    _private_folder(folder)
    name = None if part["kind"] == "attachment" else f"{number:03d}-{part['kind']}{_SUFFIX.get(part['kind'], '.txt')}"
    on_bytes = progress(f"{report['id'][:8]} {part['kind']}", int(part["size"])) if progress else None
    hashing: _Hashing | None = None
    try:
        with client.open_part(report["id"], part["id"]) as stream:
            hashing = _Hashing(_Download(stream, on_bytes))
            try:
                written = decrypt_part_to_path(hashing, folder, report_key, report["id"], part["id"], filename=name)
            except CryptoFormatError:
                hashing.drain()  # the hash of the whole ciphertext as the server holds it
                raise
    except (DeskError, CryptoFormatError) as problem:
        why = f"cannot decrypt: {problem}" if isinstance(problem, CryptoFormatError) else str(problem)
        result.unreadable.append((part["id"], why))
        complete = isinstance(problem, CryptoFormatError) and hashing is not None
        return {**entry, "treatment": UNREADABLE, "reason": why, "ciphertext": hashing.summary() if complete and hashing else None}
    return {**entry, "file": f"data/{folder_name}/{written.name}", "sha256": _sha256_file(written),
            "size": written.stat().st_size, "ciphertext": hashing.summary()}


def _apply_exclusions(parts: list[dict[str, Any]], exclusions: tuple[Exclusion, ...], out: Path) -> None:
    for exclusion in exclusions:
        matches = [p for p in parts if p["treatment"] == INCLUDED
                   and exclusion.name in (p["part"], p["file"].rsplit("/", 1)[-1])]
        if not matches:
            raise DeskError(f"No part of this report is named {exclusion.name!r}; nothing was exported.")
        if len(matches) > 1:
            raise DeskError(f"Several parts are named {exclusion.name!r}: name the part by its id instead.")
        part = matches[0]
        original = out / part["file"].removeprefix("data/")
        original.unlink()
        part.update(treatment=OMITTED, file=None, sha256=None, size=None, reason=exclusion.reason.strip())
        if exclusion.replacement is not None:
            folder = out / _REDACTED
            _private_folder(folder)
            # Named as the exporter named the redacted copy: the original's name may be what is redacted.
            target = folder / sanitise_filename(exclusion.replacement.name, fallback=part["part"])
            if target.exists():
                target = folder / f"{part['part']}-{target.name}"
            with exclusion.replacement.open("rb") as source, open_private(target) as copy:
                shutil.copyfileobj(source, copy, _CHUNK)
            part.update(treatment=REDACTED, file=f"data/{_REDACTED}/{target.name}", sha256=_sha256_file(target),
                        size=target.stat().st_size)


def _remove_empty_folders(out: Path) -> None:
    for folder in [*_FOLDERS.values(), _REDACTED]:
        path = out / folder
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _canonical(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Hashing:
    """A part's ciphertext as it is read: its SHA-256 and size, taken on the way."""

    def __init__(self, source: _Download) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    def summary(self) -> dict[str, Any]:
        return {"sha256": self.digest.hexdigest(), "size": self.size}


@contextmanager
def _bagit() -> Iterator[None]:
    """bagit, quiet (it logs every file it hashes) and in the working directory it found:
    it changes directory while it works, and not always back on an error."""
    cwd, logger = os.getcwd(), logging.getLogger("bagit")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
        os.chdir(cwd)


# ---------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------


@dataclass
class Verification:
    """What :func:`verify` found: ``problems`` is empty when the package is intact."""

    problems: list[str] = field(default_factory=list)
    report_id: str | None = None
    verify_key: bytes | None = None
    exporter: dict[str, Any] = field(default_factory=dict)
    exported_at: str | None = None
    files: int = 0
    audit_entries: int = 0
    head: dict[str, Any] | None = None
    instance_key: bytes | None = None  # the key that vouched for the entries and the head
    vouched_at: str | None = None
    excluded: list[dict[str, Any]] = field(default_factory=list)  # omitted, redacted, left out or unreadable
    notes: list[str] = field(default_factory=list)  # what was not checked, and why

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: Path, *, verify_key: str | None = None, instance_key: str | None = None) -> Verification:
    """Check an evidence package: the bag (every file against its manifest, nothing
    added or missing), the signature of its tag manifest (by ``verify_key`` if given,
    else by the key the package names), that ``evidence.json`` accounts for every
    payload file, that the audit entries chain, and that the instance vouched for them
    and for the chain's head (with ``instance_key``, a ``prh1vk_`` key or its
    fingerprint, if given)."""
    if path.is_file():
        with _unzipped(path) as (folder, problems):
            if folder is None:
                return Verification(problems=problems)
            found = verify(folder, verify_key=verify_key, instance_key=instance_key)
            # Say where in the ZIP, not in a temporary folder that is gone by then.
            found.problems = [problem.replace(str(folder), str(path)) for problem in found.problems]
            return found
    found = Verification()
    if not path.is_dir():
        found.problems.append(f"{path} is not a folder or a ZIP file.")
        return found
    present = set(os.listdir(path))
    found.problems += [f"added: {name} (not part of an evidence package)" for name in sorted(present - TOP_LEVEL)]
    found.problems += [f"missing: {name}" for name in sorted(TOP_LEVEL - present)]
    payload = _check_bag(path, found)
    _check_tag_manifest(path, found)
    signer = _check_signature(path, found, verify_key)
    evidence = _read_evidence(path, found)
    if evidence is None:
        return found
    found.report_id = str((evidence.get("report") or {}).get("id"))
    found.exporter = dict(evidence.get("exporter") or {})
    found.exported_at = evidence.get("exported_at")
    if signer is not None and (evidence.get("signature") or {}).get("verify_key") != encode_verify_key(signer):
        found.problems.append(f"{EVIDENCE_FILE} names another signing key than {SIGNER_FILE}.")
    _check_parts(evidence, payload, found)
    _check_audit(evidence, found)
    _check_vouched(evidence, found, instance_key)
    return found


# A ZIP holds the package as saved, stored or deflated (ratios beyond this are a bomb,
# not evidence), in at most this many entries.
_ZIP_RATIO = 100
_ZIP_ENTRIES = 100_000
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


def _zip_problems(archive: zipfile.ZipFile, size: int) -> list[str]:
    """Why the entries of ``archive`` (``size`` bytes) could not be a package, if they cannot."""
    members = archive.infolist()
    if len(members) > _ZIP_ENTRIES:
        return [f"the ZIP holds {len(members)} entries, more than any package ({_ZIP_ENTRIES})"]
    if sum(m.file_size for m in members) > _ZIP_RATIO * size + _CHUNK:
        return ["the ZIP unpacks to more than a hundred times its size: refused unread (a ZIP bomb?)"]
    problems: list[str] = []
    seen: set[str] = set()
    for member in members:
        name = member.filename
        parts = name.rstrip("/").split("/")
        if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
            problems.append(f"the ZIP holds an entry outside the package: {name!r}")
        elif (member.external_attr >> 16) & 0o170000 == 0o120000:
            problems.append(f"the ZIP holds a link, which no package has: {name!r}")
        elif member.flag_bits & 0x1:
            problems.append(f"the ZIP holds an encrypted entry, which no package has: {name!r}")
        elif member.compress_type not in _ZIP_METHODS:
            problems.append(f"the ZIP holds {name!r} compressed in a way packages are not (method {member.compress_type})")
        elif name in seen:
            problems.append(f"the ZIP holds {name!r} twice")
        seen.add(name)
    return problems


@contextmanager
def _unzipped(path: Path) -> Iterator[tuple[Path | None, list[str]]]:
    """A package saved as a ZIP (as the web desk saves it), unpacked into a private
    temporary folder that is removed afterwards; (None, the problems) when the file is
    not a ZIP, holds an entry that could not be part of a package (an absolute or
    climbing path, a link, an encrypted or oddly compressed entry, a name twice), would
    unpack to far more than its size, or is damaged."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as problem:
        yield None, [f"{path} is not an evidence package (a folder or a ZIP file): {problem}"]
        return
    with archive, tempfile.TemporaryDirectory(prefix="parrhesia-evidence-") as scratch:
        problems = _zip_problems(archive, path.stat().st_size)
        if problems:
            yield None, problems
            return
        root = Path(scratch) / "package"
        os.mkdir(root, 0o700)
        # A ZIP lists files, not folders: data/ of a package whose parts were all left out
        # has no entry of its own.
        os.mkdir(root / "data", 0o700)
        try:
            for member in archive.infolist():
                target = root.joinpath(*member.filename.rstrip("/").split("/"))
                if member.is_dir():
                    target.mkdir(mode=0o700, parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with archive.open(member) as source, open_private(target) as copy:
                    written = 0
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > member.file_size:  # more than its header says: not what was listed
                            raise zipfile.BadZipFile(f"{member.filename!r} is longer than its entry says")
                        copy.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError, NotImplementedError) as problem:
            yield None, [f"the ZIP is damaged: {problem}"]  # zipfile checks each entry's CRC-32 as it reads
            return
        yield root, []


def _check_bag(path: Path, found: Verification) -> dict[str, str] | None:
    """Validate the bag with bagit; return its payload manifest (path → SHA-256), if readable."""
    with _bagit():
        try:
            bag = bagit.Bag(str(path))
        except bagit.BagError as problem:
            found.problems.append(f"not a valid bag: {problem}")
            return None
        try:
            bag.validate(processes=1, fast=False, completeness_only=False)
        except bagit.BagValidationError as problem:
            details = list(getattr(problem, "details", None) or [])
            found.problems += [f"bag: {detail}" for detail in details] or [f"bag: {problem.message}"]
        except bagit.BagError as problem:
            found.problems.append(f"bag: {problem}")
    if set(bag.algorithms) != {"sha256"}:
        found.problems.append(f"the bag uses checksums {sorted(bag.algorithms)}, not sha256 alone")
    listed = {name.replace(os.sep, "/"): str(hashes.get("sha256")) for name, hashes in bag.payload_entries().items()}
    # bagit stops at the first sign of a missing or added file (Payload-Oxum): name them.
    on_disk = {p.relative_to(path).as_posix() for p in (path / "data").rglob("*") if not p.is_dir()}
    found.problems += [f"added: {name} (in no manifest)" for name in sorted(on_disk - set(listed))]
    found.problems += [f"removed: {name}" for name in sorted(set(listed) - on_disk)]
    return listed


def _check_tag_manifest(path: Path, found: Verification) -> None:
    try:
        lines = (path / TAG_MANIFEST).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return  # reported as missing, or by bagit
    listed = {line.split(None, 1)[1].strip() for line in lines if len(line.split(None, 1)) == 2}
    found.problems += [f"the tag manifest lists {name}, which is not part of an evidence package"
                       for name in sorted(listed - TAG_FILES)]
    found.problems += [f"the tag manifest does not cover {name}" for name in sorted(TAG_FILES - listed)]


def _check_signature(path: Path, found: Verification, expected: str | None) -> bytes | None:
    try:
        signer = verify_key_from_pem((path / SIGNER_FILE).read_bytes())
    except OSError:
        return None
    except ValueError as problem:
        found.problems.append(f"{SIGNER_FILE}: {problem}")
        return None
    found.verify_key = signer
    if expected is not None:
        try:
            wanted = decode_verify_key(expected)
        except ValueError as problem:
            found.problems.append(f"the key you gave: {problem}")
            return signer
        if wanted != signer:
            found.problems.append(f"signed by {encode_verify_key(signer)}, not by the key you gave ({expected.strip()})")
    try:
        signed, signature = (path / TAG_MANIFEST).read_bytes(), (path / SIGNATURE_FILE).read_bytes()
    except OSError:
        return signer
    if not signature_is_valid(signer, signed, signature):
        found.problems.append(f"the signature ({SIGNATURE_FILE}) of {TAG_MANIFEST} is not valid for {SIGNER_FILE}")
    return signer


def _read_evidence(path: Path, found: Verification) -> dict[str, Any] | None:
    try:
        evidence = json.loads((path / EVIDENCE_FILE).read_bytes())
    except OSError:
        return None
    except ValueError:
        found.problems.append(f"{EVIDENCE_FILE} is not valid JSON")
        return None
    if not isinstance(evidence, dict) or evidence.get("format") != PACKAGE_FORMAT:
        found.problems.append(f"{EVIDENCE_FILE} is not a Parrhesia evidence record")
        return None
    if evidence.get("version") != PACKAGE_VERSION:
        found.problems.append(f"{EVIDENCE_FILE} is of version {evidence.get('version')!r}; this one reads {PACKAGE_VERSION}")
        return None
    return evidence


def _check_parts(evidence: dict[str, Any], payload: dict[str, str] | None, found: Verification) -> None:
    parts = evidence.get("parts")
    if not isinstance(parts, list):
        found.problems.append(f"{EVIDENCE_FILE} lists no parts")
        return
    claimed: dict[str, str] = {}
    for part in parts:
        treatment = part.get("treatment")
        label = f"part {part.get('part')}"
        if treatment not in _TREATMENTS:
            found.problems.append(f"{label}: unknown treatment {treatment!r}")
            continue
        if treatment != INCLUDED:
            found.excluded.append(part)
            if not str(part.get("reason") or "").strip():
                found.problems.append(f"{label} is {treatment} without a reason")
        if treatment in (INCLUDED, REDACTED):
            name = part.get("file")
            if not isinstance(name, str) or name in claimed:
                found.problems.append(f"{label}: no file, or a file another part claims too")
                continue
            claimed[name] = str(part.get("sha256"))
        elif part.get("file"):
            found.problems.append(f"{label} is {treatment} but names a file ({part['file']})")
        if treatment in (INCLUDED, REDACTED) and not (part.get("ciphertext") or {}).get("sha256"):
            found.problems.append(f"{label}: the hash of its ciphertext is missing")
    found.files = len(claimed)
    if payload is None:
        return
    for name in sorted(set(payload) - set(claimed)):
        found.problems.append(f"{name} is in the bag but no part of {EVIDENCE_FILE} accounts for it")
    for name in sorted(set(claimed) - set(payload)):
        found.problems.append(f"{name} is recorded in {EVIDENCE_FILE} but not in the bag")
    for name in sorted(set(claimed) & set(payload)):
        if claimed[name] != payload[name]:
            found.problems.append(f"{name}: its hash in {EVIDENCE_FILE} is not the bag's")


def _check_audit(evidence: dict[str, Any], found: Verification) -> None:
    """Each entry's hash recomputes from its own fields and previous hash; consecutive
    entries link; all are about this report; none is newer than the head."""
    audit = evidence.get("audit") or {}
    entries, head = audit.get("entries"), audit.get("head")
    if not isinstance(entries, list):
        found.problems.append(f"{EVIDENCE_FILE} has no audit entries")
        return
    found.audit_entries, found.head = len(entries), head
    previous: dict[str, Any] | None = None
    for entry in entries:
        try:
            seq = int(entry["seq"])
            recomputed = entry_hash(entry["prev_hash"], seq, entry["at"], entry["actor"], entry["action"],
                                    entry["report_id"], entry["body_id"], entry["detail"])
        except (KeyError, TypeError, ValueError):
            found.problems.append(f"audit entry {entry.get('seq') if isinstance(entry, dict) else entry!r} is malformed")
            return
        if recomputed != entry["hash"]:
            found.problems.append(f"audit entry {seq}: its hash does not match its content (changed after it was written)")
        if entry["report_id"] != found.report_id:
            found.problems.append(f"audit entry {seq} is about another report")
        if previous is not None:
            if seq <= previous["seq"]:
                found.problems.append(f"audit entry {seq} is out of order (after {previous['seq']})")
            elif seq == previous["seq"] + 1 and entry["prev_hash"] != previous["hash"]:
                found.problems.append(f"audit entry {seq} does not follow entry {previous['seq']}")
        previous = {"seq": seq, "hash": entry["hash"]}
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str):
        if entries:
            found.problems.append("the audit chain head is missing")
        return
    if previous is not None:
        if head["seq"] < previous["seq"]:
            found.problems.append(f"audit entry {previous['seq']} is newer than the chain head ({head['seq']})")
        elif head["seq"] == previous["seq"] and head["hash"] != previous["hash"]:
            found.problems.append("the chain head is the last entry, but with another hash")


def _check_vouched(evidence: dict[str, Any], found: Verification, pinned: str | None) -> None:
    """The instance's signature over the report's entries and the head, by its receipt key."""
    audit = evidence.get("audit") or {}
    vouched, entries = audit.get("vouched"), audit.get("entries") or []
    head: dict[str, Any] = audit.get("head") or {}
    if not isinstance(vouched, dict):
        if head or pinned:
            found.problems.append("the instance did not vouch for the audit entries and the chain head")
        return
    try:
        key = decode_verify_key(str(vouched["instance_key"]))
        signature = base64.b64decode(str(vouched["signature"]), validate=True)
        statement = str(vouched["statement"]).encode("ascii")
        at = statement.decode("ascii").splitlines()[-1].removeprefix("at: ")
        expected = head_statement(str(vouched["instance_key"]), str(found.report_id),
                                  [(int(e["seq"]), str(e["hash"])) for e in entries],
                                  int(head["seq"]), str(head["hash"]), at)
    except (KeyError, TypeError, ValueError, IndexError, UnicodeError):
        found.problems.append("the instance's statement about the audit entries is malformed")
        return
    found.instance_key, found.vouched_at = key, at
    if statement != expected:
        found.problems.append("the instance vouched for other audit entries or another chain head than these")
    if not signature_is_valid(key, statement, signature):
        found.problems.append("the instance's signature over the audit entries and the chain head is not valid")
    if pinned is not None and not names_key(pinned, key):
        found.problems.append(f"the instance key {encode_verify_key(key)} is not the one you gave ({pinned.strip()})")
    found.notes.append(VOUCHED_MEANS)
    if pinned is None:
        found.notes.append(f"Compare the instance key {encode_verify_key(key)} (fingerprint {fingerprint(key)}) with "
                           "the one the instance publishes, or give it with --instance-key.")


def excluded_line(part: Mapping[str, Any]) -> str:
    """One line saying what happened to a part that is not in the package as it was."""
    where = f" (now {part['file']})" if part.get("file") else ""
    return f"{part.get('treatment')}: {part.get('kind')} {part.get('part')}{where}: {part.get('reason')}"
