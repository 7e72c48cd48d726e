"""The recipient's side of the API: pulling, decrypting and acting on their machine.

Nothing here runs on the server. A report key arrives sealed to the recipient's
*body key*; the body key arrives in a grant boxed to the recipient's own key by the
member who vouched for them (docs/format.md §1), and is opened here with the private
key, which never leaves this machine. Replies, internal notes, the report key handed
on in a transfer and the grants made when vouching for a colleague are sealed here
too, so the server only ever stores ciphertext and sealed keys.

Keys the server lists are checked against what this machine trusts
(:class:`parrhesia.recipient.known_keys.KnownKeys`): a colleague's key is vouched for, and a body's key sealed to in
a transfer, only once its fingerprint has been compared out of band and trusted; a
key that differs from the one trusted before is refused. The recipient's own body key
is pinned at first use and must afterwards descend from the pinned one (each new
generation carries the previous one, so a key the server swapped in is refused).
"""

from __future__ import annotations

import base64
import http.client
import json
import mimetypes
import os
import secrets
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from nacl.public import PrivateKey

from parrhesia.crypto import (
    CryptoFormatError,
    chain_previous_body_key,
    decode_public_key,
    decrypt_part_to_path,
    encode_public_key,
    encrypt_bytes,
    fingerprint,
    generate_codename,
    grant_body_key,
    new_body_key,
    new_report_keypair,
    open_body_key_grant,
    open_previous_body_key,
    open_report_key,
    seal_report_key,
)
from parrhesia.recipient.known_keys import (
    DeskError,
    KeyState,
    KnownKeys,
    ListedKey,
    default_known_keys_path,
    require_listed,
)

__all__ = [
    "DeskError", "DeskClient", "KeyState", "KnownKeys", "ListedKey", "PullResult", "Keyring", "default_known_keys_path",
    "pull", "reply", "note", "transfer", "Intake", "intake", "open_keyring", "keyring_from", "create_body_key", "vouch", "rotate_body_key",
]

MANIFEST = ".parrhesia-pulled.json"
_SUFFIX = {"answers": ".json"}  # answers to content questions are a JSON object
_TIMEOUT = 60


class DeskClient:
    """A thin JSON/ciphertext client for ``/api/v1`` with a bearer token."""

    def __init__(self, server: str, token: str) -> None:
        parsed = urllib.parse.urlsplit(server)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise DeskError(f"The server address must start with http:// or https://, not {server!r}.")
        self.server = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc.lower(), parsed.path.rstrip("/"), "", ""))
        self.base = server.rstrip("/") + "/api/v1"
        self.token = token.strip()

    def _open(
        self, path: str, *, method: str = "GET", data: bytes | None = None, content_type: str = "application/octet-stream"
    ) -> Any:
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            # B310 is a false positive: the scheme was checked to be http(s) in __init__.
            return urllib.request.urlopen(request, timeout=_TIMEOUT)  # nosec B310
        except urllib.error.HTTPError as exc:
            raise DeskError(_explain(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeskError(f"Cannot reach {self.base}: {getattr(exc, 'reason', exc)}") from None

    def _json(self, path: str) -> Any:
        with self._open(path) as response:
            return json.load(response)

    def _post(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps(payload or {}).encode("utf-8")
        with self._open(path, method="POST", data=body, content_type="application/json") as response:
            data: dict[str, Any] = json.load(response)
            return data

    def me(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json("/me")
        return data

    def body(self, body_id: str) -> dict[str, Any]:
        """A body's active recipients with their public keys, and its current body key."""
        data: dict[str, Any] = self._json(f"/bodies/{urllib.parse.quote(body_id, safe='')}/recipients")
        return data

    def body_recipients(self, body_id: str) -> list[dict[str, Any]]:
        """The active recipients of a body, with their public keys."""
        data: list[dict[str, Any]] = self.body(body_id)["recipients"]
        return data

    def keyring(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json("/keyring")
        return data

    def found_body_key(self, public_key: bytes, grant: bytes) -> dict[str, Any]:
        return self._post("/body-key", {"public_key": encode_public_key(public_key), "grant": _b64(grant)})

    def vouch(self, recipient_id: int, generation: int, grant: bytes) -> dict[str, Any]:
        return self._post("/body-key/grants", {"recipient": recipient_id, "generation": generation, "grant": _b64(grant)})

    def rotate_body_key(
        self, replaces: int, public_key: bytes, previous_sealed: bytes, grants: dict[int, bytes]
    ) -> dict[str, Any]:
        return self._post("/body-key/rotation", {
            "generation": replaces, "public_key": encode_public_key(public_key), "previous_sealed": _b64(previous_sealed),
            "grants": {str(k): _b64(v) for k, v in grants.items()},
        })

    def protection_requests(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("/protection-requests")["protection_requests"]
        return data

    def open_protection_part(self, request_id: str, part_id: str) -> BinaryIO:
        path = f"/protection-requests/{urllib.parse.quote(request_id, safe='')}/parts/{urllib.parse.quote(part_id, safe='')}"
        stream: BinaryIO = self._open(path)
        return stream

    def protection_status(self, request_id: str, status: str) -> dict[str, Any]:
        return self._post(f"/protection-requests/{urllib.parse.quote(request_id, safe='')}/status", {"status": status})

    def reports(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("/reports")["reports"]
        return data

    def report(self, report_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json(_report_path(report_id))
        return data

    def audit_anchor(self, since: int | None) -> dict[str, Any]:
        """The instance's signed statement of the audit head, and of entry ``since``."""
        data: dict[str, Any] = self._json("/audit/anchor" + ("" if since is None else f"?since={int(since)}"))
        return data

    def report_audit(self, report_id: str) -> dict[str, Any]:
        """A report's audit entries, the chain's head, its bodies' roles, escalations and clocks."""
        data: dict[str, Any] = self._json(f"{_report_path(report_id)}/audit")
        return data

    def open_part(self, report_id: str, part_id: str) -> BinaryIO:
        stream: BinaryIO = self._open(f"{_report_path(report_id)}/parts/{urllib.parse.quote(part_id, safe='')}")
        return stream

    def put_reply(self, report_id: str, part_id: str, blob: bytes, *, feedback: bool = False) -> dict[str, Any]:
        query = "?feedback=1" if feedback else ""
        path = f"{_report_path(report_id)}/replies/{part_id}{query}"
        with self._open(path, method="PUT", data=blob) as response:
            data: dict[str, Any] = json.load(response)
            return data

    def acknowledge(self, report_id: str) -> dict[str, Any]:
        return self._post(f"{_report_path(report_id)}/acknowledge")

    def set_status(self, report_id: str, status: str) -> dict[str, Any]:
        return self._post(f"{_report_path(report_id)}/status", {"status": status})

    def post_note(self, report_id: str, part_id: str, blob: bytes, generation: int, sealed: bytes) -> dict[str, Any]:
        return self._post(
            f"{_report_path(report_id)}/notes",
            {"id": part_id, "ciphertext": _b64(blob), "generation": generation, "sealed_key": _b64(sealed)},
        )

    def recuse(self, report_id: str, reason: str, *, outside_competence: bool = False) -> dict[str, Any]:
        return self._post(f"{_report_path(report_id)}/recusal", {"reason": reason, "outside_competence": outside_competence})

    def extend_clock(self, report_id: str, clock_id: str, months: int, reason: str) -> dict[str, Any]:
        return self._post(f"{_clock_path(report_id, clock_id)}/extension", {"months": months, "reason": reason})

    def pause_clock(self, report_id: str, clock_id: str, reason: str) -> dict[str, Any]:
        return self._post(f"{_clock_path(report_id, clock_id)}/pause", {"reason": reason})

    def resume_clock(self, report_id: str, clock_id: str) -> dict[str, Any]:
        return self._post(f"{_clock_path(report_id, clock_id)}/resume")

    def intake_route(self, fields: dict[str, list[str]]) -> dict[str, Any]:
        """The route a report with these routing answers takes, with the body keys to seal to."""
        return self._post("/intake/route", {"fields": fields})

    def intake_source(self, codename: str) -> dict[str, Any]:
        """The source's public key and lookup id for a codename (derived with the instance pepper)."""
        return self._post("/intake/source", {"codename": codename})

    def intake(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._post("/intake", payload)

    def key_manifest(self) -> bytes | None:
        """The instance's signed key manifest (``/keys/manifest.txt``), or None if it serves none."""
        request = urllib.request.Request(self.server + "/keys/manifest.txt")  # noqa: S310
        try:
            # B310 is a false positive: the scheme was checked to be http(s) in __init__.
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # nosec B310
                data: bytes = response.read(1024 * 1024)
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise DeskError(_explain(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeskError(f"Cannot reach {self.server}: {getattr(exc, 'reason', exc)}") from None

    def transfer(self, report_id: str, body_id: str, reason: str, sealed: tuple[int, bytes] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"body": body_id, "reason": reason}
        if sealed is not None:
            payload.update(generation=sealed[0], sealed_key=_b64(sealed[1]))
        return self._post(f"{_report_path(report_id)}/transfer", payload)


def _report_path(report_id: str) -> str:
    return f"/reports/{urllib.parse.quote(report_id, safe='')}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _explain(error: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(error.read()).get("message", "")
    except (ValueError, OSError):
        message = ""
    return f"The server answered {error.code}: {message or error.reason}"


@dataclass(frozen=True)
class Keyring:
    """The generations of this recipient's body key that it can open."""

    body_id: str
    keys: dict[int, PrivateKey]
    fingerprints: dict[int, str]
    vouched_by: str  # who vouched for this recipient's newest grant

    @property
    def current(self) -> int:
        return max(self.keys)

    def open(self, sealed_b64: str, generation: int | None, own: PrivateKey) -> PrivateKey:
        """Open a key sealed to the body key of ``generation`` (None: to our own key, format v1)."""
        if generation is None:
            return open_report_key(_unb64(sealed_b64), own)
        if generation not in self.keys:
            raise DeskError(f"This is sealed to generation {generation} of your body's key, which you do not hold.")
        return open_report_key(_unb64(sealed_b64), self.keys[generation])


def open_keyring(client: DeskClient, key: PrivateKey, known: KnownKeys | None = None) -> Keyring:
    """Open this recipient's grant of their body key, and every older generation from it.

    The grant is checked to come from the member it names; with ``known``, the body's
    founding key is pinned at first use, and a keyring that does not descend from the
    pinned key (a key swapped in by the server) is refused.
    """
    ring = keyring_from(client.keyring(), key)
    if known is not None:
        founding = ring.fingerprints[min(ring.keys)]
        pinned = known.pinned_body_key(client.server, ring.body_id)
        if pinned is None:
            known.pin_body_key(client.server, ring.body_id, founding)
        elif pinned not in {ring.fingerprints[g] for g in ring.keys}:
            raise DeskError(
                f"Your body's key ({founding}) does not descend from the one this machine trusted before ({pinned}). "
                "Nothing was decrypted. Check with your colleagues before going on."
            )
    return ring


def keyring_from(data: dict[str, Any], key: PrivateKey) -> Keyring:
    """Open a keyring as ``GET /keyring`` sends it: this recipient's newest grant (checked
    to come from the member it names), then each older generation through the chain."""
    body_id, ring = str(data["body"]), list(data["keyring"])
    held = next((entry for entry in ring if entry.get("grant")), None)
    if held is None:
        raise DeskError(
            "You hold no grant of your body's key yet. A colleague who holds it must vouch for you "
            "(`parrhesia desk vouch`); if your body has no key yet, create it (`parrhesia desk body-key create`)."
        )
    grant = held["grant"]
    try:
        body_sk = open_body_key_grant(_unb64(grant["boxed"]), _unb64(grant["vouched_by"]["public_key"]),
                                      key, _unb64(held["public_key"]))
    except CryptoFormatError as problem:
        raise DeskError(f"Your grant of the body key cannot be trusted: {problem}.") from None
    keys = {int(held["generation"]): body_sk}
    older = [entry for entry in ring if int(entry["generation"]) < int(held["generation"])]
    newer_sk, newer = body_sk, held
    for entry in older:  # newest first
        if not newer.get("previous_sealed"):
            raise DeskError(f"Generation {newer['generation']} of your body's key does not carry the previous one.")
        try:
            newer_sk = open_previous_body_key(_unb64(newer["previous_sealed"]), newer_sk, _unb64(entry["public_key"]))
        except CryptoFormatError as problem:
            raise DeskError(f"Your body's key chain is broken: {problem}.") from None
        keys[int(entry["generation"])], newer = newer_sk, entry
    fingerprints = {int(e["generation"]): fingerprint(_unb64(e["public_key"])) for e in ring}
    return Keyring(body_id, keys, fingerprints, str(grant["vouched_by"]["name"]))


def _unb64(text: str) -> bytes:
    """Standard base64 (the API) or unpadded base64url (the web desk)."""
    if "-" in text or "_" in text or len(text) % 4:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return base64.b64decode(text)


@dataclass
class PullResult:
    reports: int = 0
    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # report ids whose key this body does not hold
    unreadable_notes: list[str] = field(default_factory=list)  # note ids sealed to a key generation not held
    protection: list[Path] = field(default_factory=list)  # protection requests' details and identities
    # (report id, part id, why) of each part that could not be downloaded or decrypted;
    # nothing of it was written, and a later pull tries it again.
    damaged: list[tuple[str, str, str]] = field(default_factory=list)


ProgressFactory = Callable[[str, int], Callable[[int], None]]

# What one part's download or decryption can fail with without the others failing too:
# the server's refusal or error for that part (DeskError), a download that broke off,
# ciphertext that is damaged, truncated or not a part (CryptoFormatError).
_PART_FAILURES = (DeskError, CryptoFormatError)


def _why(problem: Exception) -> str:
    if isinstance(problem, CryptoFormatError):
        return f"cannot decrypt: {problem}"
    return str(problem)


def pull(
    client: DeskClient, key: PrivateKey, out: Path, *, progress: ProgressFactory | None = None,
    known: KnownKeys | None = None,
) -> PullResult:
    """Download and decrypt every new part of every report into ``out/<report id>/``.

    Messages, replies and notes become ``NNN-<kind>.txt`` (answers ``.json``);
    attachments keep their (sanitised) names. A note is opened with its own key,
    sealed to the body key. Protection requests the body handles land in the folder of
    their report as ``protection-<id>.txt`` (and ``identity-<id>.txt`` once readable).

    A part that cannot be downloaded or decrypted stops nothing: it is listed in
    ``damaged`` with its report and the reason, left out of the manifest (so the next
    pull tries it again), and every other part is pulled. Folders are created 0700,
    files 0600: what is pulled is readable by this user only.
    """
    ring = open_keyring(client, key, known)
    result = PullResult()
    _private_folder(out)
    for listed in client.reports():
        result.reports += 1
        folder = out / _safe_id(listed["id"])
        _private_folder(folder)
        if not listed.get("sealed_key"):
            result.unreadable.append(listed["id"])
            continue
        manifest = _read_manifest(folder)
        if all(part["id"] in manifest for part in listed["parts"]):
            continue
        try:
            # Opening the report itself is what the server records as an access (and
            # marks it read in the desk); it also gives the freshest list of parts.
            report = client.report(listed["id"])
            report_key = ring.open(report["sealed_key"], report.get("generation"), key)
        except _PART_FAILURES as problem:
            why = f"the report cannot be opened: {_why(problem)}"
            result.damaged.extend((listed["id"], part["id"], why) for part in listed["parts"] if part["id"] not in manifest)
            continue
        for number, part in enumerate(report["parts"], start=1):
            if part["id"] in manifest:
                continue
            part_key = report_key
            if part["kind"] == "note":
                try:
                    part_key = ring.open(part.get("sealed_key") or "", part.get("generation"), key)
                except (DeskError, CryptoFormatError):
                    # Sealed to a key this recipient will never hold: reported once, remembered.
                    result.unreadable_notes.append(part["id"])
                    manifest[part["id"]] = ""
                    _write_manifest(folder, manifest)
                    continue
            name = None if part["kind"] == "attachment" else f"{number:03d}-{part['kind']}{_SUFFIX.get(part['kind'], '.txt')}"
            on_bytes = progress(f"{report['id'][:8]} {part['kind']}", int(part["size"])) if progress else None
            try:
                with client.open_part(report["id"], part["id"]) as stream:
                    source = _Download(stream, on_bytes)
                    written = decrypt_part_to_path(source, folder, part_key, report["id"], part["id"], filename=name)
            except _PART_FAILURES as problem:
                result.damaged.append((report["id"], part["id"], _why(problem)))
                continue
            manifest[part["id"]] = written.name
            _write_manifest(folder, manifest)
            result.files.append(written)
    result.protection = pull_protection(client, key, ring, out, damaged=result.damaged)
    return result


def pull_protection(
    client: DeskClient, key: PrivateKey, ring: Keyring, out: Path,
    damaged: list[tuple[str, str, str]] | None = None,
) -> list[Path]:
    """Decrypt the details (and readable identities) of the body's protection requests.

    A part that cannot be downloaded or decrypted is added to ``damaged`` (report id,
    part id, reason) and the others are still pulled; without ``damaged``, the first
    such failure is raised.
    """
    written: list[Path] = []
    reports: dict[str, PrivateKey] = {}
    for request in client.protection_requests():
        folder = out / _safe_id(request["report_id"])
        _private_folder(folder)
        for what, entry in (("protection", request.get("details")), ("identity", request.get("identity"))):
            if not entry or not entry.get("part_id"):
                continue
            target = folder / f"{what}-{_safe_id(request['id'])}.txt"
            if target.exists():
                continue
            try:
                if entry.get("sealed_key"):
                    part_key = ring.open(entry["sealed_key"], entry.get("generation"), key)
                elif entry.get("report_sealed_key"):
                    if request["report_id"] not in reports:
                        report = client.report(request["report_id"])
                        reports[request["report_id"]] = ring.open(report["sealed_key"], report.get("generation"), key)
                    part_key = open_report_key(base64.b64decode(entry["report_sealed_key"]), reports[request["report_id"]])
                else:
                    continue
                with client.open_protection_part(request["id"], entry["part_id"]) as stream:
                    path = decrypt_part_to_path(_Download(stream, None), folder, part_key, request["report_id"],
                                                entry["part_id"], filename=target.name)
            except _PART_FAILURES as problem:
                if damaged is None:
                    raise
                damaged.append((request["report_id"], entry["part_id"], f"{what} of protection request {request['id']}: "
                                + _why(problem)))
                continue
            written.append(path)
    return written


def reply(client: DeskClient, report_id: str, message: str, *, feedback: bool = False) -> dict[str, Any]:
    """Seal a reply on this machine and send it; the source reads it after logging in.

    With ``feedback`` the reply counts as the feedback the law requires (it meets the
    report's feedback clocks).
    """
    report = client.report(report_id)
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(
        message.encode("utf-8"), decode_public_key(report["public_key"]), report["id"], part_id, {"kind": "reply"}
    )
    return client.put_reply(report["id"], part_id, blob, feedback=feedback)


def note(client: DeskClient, key: PrivateKey, report_id: str, text: str, *, known: KnownKeys | None = None) -> dict[str, Any]:
    """Seal an internal note on this machine, to your body's key only.

    The note gets its own keypair: the text is encrypted to its public key, and its
    private key is sealed to the current generation of your body's key (never to the
    report key, which the source holds), so every present and future colleague reads it.
    """
    ring = open_keyring(client, key, known)
    note_key = new_report_keypair()
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(text.encode("utf-8"), bytes(note_key.public_key), report_id, part_id, {"kind": "note"})
    sealed = seal_report_key(note_key, bytes(ring.keys[ring.current].public_key))
    return client.post_note(report_id, part_id, blob, ring.current, sealed)


def transfer(
    client: DeskClient, key: PrivateKey, report_id: str, body_id: str, reason: str, *,
    known: KnownKeys, trust: Iterable[str] = (),
) -> dict[str, Any]:
    """Transfer a report to another body, handing it the report key.

    The report key is opened here and sealed to the target body's current key, once
    that key's fingerprint is trusted on this machine (``trust`` holds fingerprints
    confirmed out of band); the server cannot do this, as it never holds the key.
    """
    ring = open_keyring(client, key, known)
    report = client.report(report_id)
    if not report.get("sealed_key"):
        raise DeskError("Your body does not hold this report's key, so you cannot hand it on.")
    report_key = ring.open(report["sealed_key"], report.get("generation"), key)
    if bytes(report_key.public_key) != decode_public_key(report["public_key"]):
        raise DeskError("The key sealed to your body does not match this report's public key.")
    target = client.body(body_id)
    body_key = target.get("body_key")
    if not body_key:
        raise DeskError(f"Body {body_id} has no key on this instance yet: nobody there could read the report.")
    public_key = decode_public_key(body_key["public_key"])
    require_listed(known.check_manifest(client.server, client.key_manifest(), trust), body_id, public_key)
    known.check_body_key(client.server, body_id, fingerprint(public_key), trust)
    sealed = (int(body_key["generation"]), seal_report_key(report_key, public_key))
    return client.transfer(report["id"], body_id, reason, sealed)


@dataclass(frozen=True)
class Intake:
    """A report filed for a person: where it went, and the codename for their slip.

    The codename is the only copy this machine has: it is for the slip, then forgotten.
    """

    report_id: str
    route: list[str]
    excluded: list[str]
    your_body_receives: bool
    codename: str = field(repr=False)


def intake(
    client: DeskClient, key: PrivateKey, route: dict[str, Any], *, channel: str, message: str,
    files: Iterable[tuple[str, bytes]] = (), known: KnownKeys, trust: Iterable[str] = (), name_officer: bool = False,
) -> Intake:
    """File a report for a person present or on the telephone, sealed on this machine.

    ``route`` is the answer of ``POST /intake/route`` the person was shown. A fresh
    codename is made here, and the source's key derived from it by the server (which
    alone holds the pepper); a fresh report key seals the message and files, and is
    itself sealed to the source's key and to the key of every body of the route and the
    escalation chain: the officer's own body's key only if it is on them, and checked
    against this machine's keyring; any other body's key only once its fingerprint is
    trusted here (``trust``). The report key is then dropped: this machine keeps
    nothing, and reads the report later only as a member of a body that received it.
    """
    me = client.me()
    own_body = str(me["body"]["id"])
    body_keys = list(route["body_keys"])
    sealed_keys: list[tuple[str, int, bytes]] = []
    untrusted: list[str] = []
    manifest = known.check_manifest(client.server, client.key_manifest(), trust)
    for entry in body_keys:
        public_key = decode_public_key(entry["public_key"])
        require_listed(manifest, str(entry["body"]), public_key)
        if entry["body"] == own_body:
            ring = open_keyring(client, key, known)
            if bytes(ring.keys[ring.current].public_key) != public_key:
                raise DeskError("The server lists a key for your own body that is not the one your keyring holds. "
                                "Nothing was sealed or sent.")
        else:
            try:
                known.check_body_key(client.server, entry["body"], fingerprint(public_key), trust)
            except DeskError as problem:
                untrusted.append(str(problem))  # every body's at once: one round of confirmations
        sealed_keys.append((str(entry["body"]), int(entry["generation"]), public_key))
    if untrusted:
        raise DeskError("\n".join(untrusted))
    codename = generate_codename()
    source = client.intake_source(codename)
    report_key = new_report_keypair()
    report_id = secrets.token_hex(16)
    parts = []
    if message.strip():
        parts.append(_sealed_part(report_key, report_id, message.encode("utf-8"), {"kind": "message"}))
    for name, content in files:
        meta: dict[str, object] = {"kind": "attachment", "filename": name,
                "content_type": mimetypes.guess_type(name)[0] or "application/octet-stream"}
        parts.append(_sealed_part(report_key, report_id, content, meta))
    payload = {
        "id": report_id,
        "channel": channel,
        "fields": route["fields"],
        "public_key": encode_public_key(bytes(report_key.public_key)),
        "lookup_id": source["lookup_id"],
        "source_sealed_key": _b64(seal_report_key(report_key, decode_public_key(source["public_key"]))),
        "bodies": [{"body": body, "generation": generation, "sealed_key": _b64(seal_report_key(report_key, pk))}
                        for body, generation, pk in sealed_keys],
        "parts": parts,
        "name_officer": name_officer,
    }
    del report_key  # nothing of it stays here: the bodies and the source hold it, sealed
    stored = client.intake(payload)
    return Intake(str(stored["id"]), list(stored["route"]), list(stored["excluded"]),
                  bool(stored["your_body_receives"]), codename)


def _sealed_part(report_key: PrivateKey, report_id: str, content: bytes, meta: dict[str, object]) -> dict[str, str]:
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(content, bytes(report_key.public_key), report_id, part_id, meta)
    return {"id": part_id, "kind": str(meta["kind"]), "ciphertext": _b64(blob)}


def create_body_key(client: DeskClient, key: PrivateKey, known: KnownKeys | None = None) -> str:
    """Make your body's first key on this machine, granted to yourself; returns its
    fingerprint, to be confirmed out of band (keys/README.md)."""
    body_sk = new_body_key()
    result = client.found_body_key(bytes(body_sk.public_key), grant_body_key(body_sk, bytes(key.public_key), key))
    if known is not None:
        known.pin_body_key(client.server, client.me()["body"]["id"], result["fingerprint"])
    return str(result["fingerprint"])


def vouch(
    client: DeskClient, key: PrivateKey, recipient_id: int, *, known: KnownKeys, trust: Iterable[str] = ()
) -> dict[str, Any]:
    """Hand your body's key to a colleague whose key fingerprint you confirmed out of band."""
    ring = open_keyring(client, key, known)
    listed = known.listed(client.server, client.body_recipients(ring.body_id))
    colleague = next((k for k in listed if k.recipient_id == recipient_id), None)
    if colleague is None:
        raise DeskError(f"Recipient {recipient_id} is not an active recipient of your body.")
    known.check(client.server, [r for r in client.body_recipients(ring.body_id) if r.get("id") == recipient_id], trust)
    grant = grant_body_key(ring.keys[ring.current], colleague.public_key, key)
    return client.vouch(recipient_id, ring.current, grant)


def rotate_body_key(
    client: DeskClient, key: PrivateKey, *, known: KnownKeys, trust: Iterable[str] = (), drop: Iterable[int] = ()
) -> str:
    """A new generation of your body's key, for the colleagues who hold the current one
    (less ``drop``): after a member leaves, nothing sealed from now on reaches them."""
    ring = open_keyring(client, key, known)
    me = client.me()["id"]
    dropped = set(drop)
    members = [r for r in client.body_recipients(ring.body_id)
               if r.get("holds_body_key") and r.get("id") not in dropped and r.get("id") != me]
    kept = known.check(client.server, members, trust)
    new_sk = new_body_key()
    grants = {me: grant_body_key(new_sk, bytes(key.public_key), key)}
    grants.update({k.recipient_id: grant_body_key(new_sk, k.public_key, key) for k in kept})
    previous = chain_previous_body_key(ring.keys[ring.current], bytes(new_sk.public_key))
    result = client.rotate_body_key(ring.current, bytes(new_sk.public_key), previous, grants)
    return str(result["fingerprint"])


class _Download:
    """A part's ciphertext as the server streams it: reports how many bytes were read,
    and turns a download that breaks off into a DeskError (that part alone fails)."""

    def __init__(self, stream: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        self.stream = stream
        self.on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.stream.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise DeskError(f"The download broke off: {exc or type(exc).__name__}") from None
        if self.on_bytes is not None:
            self.on_bytes(len(data))
        return data


def _safe_id(report_id: str) -> str:
    if not report_id.isalnum():
        raise DeskError(f"The server sent an unexpected report id {report_id!r}.")
    return report_id


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(folder: Path, manifest: dict[str, str]) -> None:
    """Write the manifest whole through a fresh temporary file (mode 0600), then rename it."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=MANIFEST, suffix=".tmp")  # 0600, whatever the umask
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1)
        os.replace(temp, folder / MANIFEST)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _private_folder(folder: Path) -> None:
    """Create ``folder`` and any missing parent with mode 0700 (the umask can only narrow it)."""
    if folder.is_dir():
        return
    if not folder.parent.is_dir():
        _private_folder(folder.parent)
    folder.mkdir(mode=0o700, exist_ok=True)


def _clock_path(report_id: str, clock_id: str) -> str:
    return f"{_report_path(report_id)}/clocks/{urllib.parse.quote(clock_id, safe='')}"
