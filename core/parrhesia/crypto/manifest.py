"""The signed key manifest: which keys reports on an instance are sealed to, vouched for
by a key the server never holds (docs/format.md §14, "Key manifests").

A manifest lists every body's current key (with its generation), every active
recipient's key, and the instance's receipt signing key, and is signed with the
*manifest key*: an Ed25519 key derived from a recipient-format key file made with
``parrhesia keys generate`` and kept on an operator's own machine (offline), exactly as
the evidence key is derived from a recipient's key (:mod:`.evidence`), with its own
personalisation. The server only serves the signed file; a server that listed a key of
its own would have to sign a manifest with a key whose fingerprint the instance's
operators published elsewhere (keys/, their website).

The file is ASCII lines ending in LF:

    parrhesia-key-manifest 1
    instance: <name, as printable ASCII>
    issued: YYYY-MM-DD
    manifest-key: prh1vk_…
    instance-signing-key: prh1vk_…
    body: <body id> <generation> prh1pk_…          (one per body with a key, sorted)
    recipient: <recipient id> <body id> prh1pk_…   (one per active recipient, sorted)
    signature: <base64 of the Ed25519 signature of every byte before this line>
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import date

import nacl.hash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from .evidence import signature_is_valid
from .keys import decode_public_key, encode_public_key, fingerprint
from .receipt import decode_verify_key, encode_verify_key

__all__ = [
    "MANIFEST_MAGIC", "ManifestBody", "ManifestError", "ManifestFacts", "ManifestRecipient", "VerifiedManifest",
    "manifest_signing_key", "read_manifest", "sign_manifest", "unsigned_manifest",
]

MANIFEST_MAGIC = "parrhesia-key-manifest 1"
_SIGNING_PERSON = b"prh-manifest-sig"  # exactly 16 bytes, as BLAKE2b requires
_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_LINE = {
    "instance": re.compile(r"[\x20-\x7e]{1,200}"),
    "issued": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "manifest-key": re.compile(r"prh1vk_[A-Za-z0-9_-]{43}"),
    "instance-signing-key": re.compile(r"prh1vk_[A-Za-z0-9_-]{43}"),
    "body": re.compile(rf"({_ID}) ([1-9][0-9]{{0,8}}) (prh1pk_[A-Za-z0-9_-]{{43}})"),
    "recipient": re.compile(rf"([1-9][0-9]{{0,9}}) ({_ID}) (prh1pk_[A-Za-z0-9_-]{{43}})"),
    "signature": re.compile(r"[A-Za-z0-9+/]{86}=="),
}
_HEADER = ("instance", "issued", "manifest-key", "instance-signing-key")


class ManifestError(ValueError):
    """Not a key manifest, or not signed by the key it names; the message says which."""


class _Listed:
    """A listed key, with its fingerprint (§2)."""

    public_key: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


@dataclass(frozen=True, order=True)
class ManifestBody(_Listed):
    body_id: str
    generation: int
    public_key: bytes = field(compare=False)


@dataclass(frozen=True, order=True)
class ManifestRecipient(_Listed):
    recipient_id: int
    body_id: str
    public_key: bytes = field(compare=False)


@dataclass(frozen=True)
class ManifestFacts:
    """What a manifest vouches for (and, once signed, by which key)."""

    instance: str
    issued: date
    instance_signing_key: bytes
    bodies: tuple[ManifestBody, ...]
    recipients: tuple[ManifestRecipient, ...]

    def body_key(self, body_id: str) -> ManifestBody | None:
        return next((b for b in self.bodies if b.body_id == body_id), None)

    def vouches_for(self, body_id: str, public_key: bytes) -> bool:
        """Whether ``public_key`` is the key the manifest lists for body ``body_id``."""
        listed = self.body_key(body_id)
        return listed is not None and listed.public_key == bytes(public_key)


@dataclass(frozen=True)
class VerifiedManifest:
    facts: ManifestFacts
    manifest_key: bytes
    text: bytes

    @property
    def manifest_fingerprint(self) -> str:
        return fingerprint(self.manifest_key)


def manifest_signing_key(private_key: PrivateKey) -> SigningKey:
    """The Ed25519 manifest key derived from an operator's X25519 key file's key."""
    seed = nacl.hash.blake2b(b"", digest_size=32, key=bytes(private_key), person=_SIGNING_PERSON,
                             encoder=RawEncoder)
    return SigningKey(seed)


def unsigned_manifest(facts: ManifestFacts, manifest_key: bytes) -> bytes:
    """The manifest's lines up to (not including) its signature."""
    instance = "".join(c if " " <= c <= "~" else "?" for c in facts.instance)[:200] or "?"
    lines = [
        MANIFEST_MAGIC,
        f"instance: {instance}",
        f"issued: {facts.issued.isoformat()}",
        f"manifest-key: {encode_verify_key(manifest_key)}",
        f"instance-signing-key: {encode_verify_key(facts.instance_signing_key)}",
        *(f"body: {b.body_id} {b.generation} {encode_public_key(b.public_key)}" for b in sorted(facts.bodies)),
        *(f"recipient: {r.recipient_id} {r.body_id} {encode_public_key(r.public_key)}"
          for r in sorted(facts.recipients)),
    ]
    return "".join(line + "\n" for line in lines).encode("ascii")


def sign_manifest(unsigned: bytes, signing_key: SigningKey) -> bytes:
    """A draft (:func:`unsigned_manifest`) signed: ManifestError if the draft names
    another manifest key than ``signing_key``'s, or is not a draft."""
    facts, named = _parse(unsigned)
    if named != bytes(signing_key.verify_key):
        raise ManifestError("the draft names another manifest key than the one signing it; make the draft with "
                            f"--manifest-key {encode_verify_key(bytes(signing_key.verify_key))}")
    signature = base64.b64encode(signing_key.sign(unsigned).signature).decode("ascii")
    return unsigned + f"signature: {signature}\n".encode("ascii")


def read_manifest(data: bytes) -> VerifiedManifest:
    """A signed manifest, checked: its lines exactly as written here, its signature the
    named manifest key's; ManifestError otherwise. Whether that key is the right one is
    for the caller to compare (its fingerprint, published out of band)."""
    cut = data.rfind(b"signature: ")
    if cut <= 0 or data[cut - 1:cut] != b"\n":
        raise ManifestError("the manifest has no signature line at its end")
    unsigned, last = data[:cut], data[cut:]
    try:
        text = last.decode("ascii")
    except UnicodeDecodeError:
        raise ManifestError("the manifest is not ASCII text") from None
    if not text.endswith("\n") or text.count("\n") != 1 or not _LINE["signature"].fullmatch(text[11:-1]):
        raise ManifestError("the manifest's signature line is damaged")
    facts, manifest_key = _parse(unsigned)
    try:
        signature = base64.b64decode(text[11:-1], validate=True)
    except binascii.Error:
        raise ManifestError("the manifest's signature line is damaged") from None
    if not signature_is_valid(manifest_key, unsigned, signature):
        raise ManifestError("the manifest is not signed by the manifest key it names (it was changed, or forged)")
    return VerifiedManifest(facts, manifest_key, data)


def _parse(unsigned: bytes) -> tuple[ManifestFacts, bytes]:
    try:
        text = unsigned.decode("ascii")
    except UnicodeDecodeError:
        raise ManifestError("the manifest is not ASCII text") from None
    if not text.endswith("\n") or "\r" in text:
        raise ManifestError("the manifest's lines must each end with LF")
    lines = text[:-1].split("\n")
    if lines[0] != MANIFEST_MAGIC:
        raise ManifestError(f"not a key manifest of this version (it must start with {MANIFEST_MAGIC!r})")
    header: dict[str, str] = {}
    bodies: list[ManifestBody] = []
    recipients: list[ManifestRecipient] = []
    for number, line in enumerate(lines[1:], start=2):
        name, sep, value = line.partition(": ")
        pattern = _LINE.get(name)
        found = pattern.fullmatch(value) if pattern is not None and sep and name != "signature" else None
        if found is None:
            raise ManifestError(f"line {number} of the manifest is not one this version writes")
        if name in _HEADER:
            if bodies or recipients or len(header) >= len(_HEADER) or _HEADER[len(header)] != name:
                raise ManifestError(f"line {number} of the manifest is out of place")
            header[name] = value
        elif len(header) != len(_HEADER):
            raise ManifestError(f"line {number} of the manifest comes before the manifest's header ends")
        elif name == "body":
            if recipients:
                raise ManifestError(f"line {number}: bodies are listed before recipients")
            bodies.append(ManifestBody(found[1], int(found[2]), _public_key(found[3], number)))
        else:
            recipients.append(ManifestRecipient(int(found[1]), found[2], _public_key(found[3], number)))
    if len(header) != len(_HEADER):
        raise ManifestError("the manifest's header is incomplete")
    if bodies != sorted(bodies) or len({b.body_id for b in bodies}) != len(bodies):
        raise ManifestError("the manifest's bodies are not listed once each, in order")
    if recipients != sorted(recipients) or len({r.recipient_id for r in recipients}) != len(recipients):
        raise ManifestError("the manifest's recipients are not listed once each, in order")
    try:
        issued = date.fromisoformat(header["issued"])
        manifest_key = decode_verify_key(header["manifest-key"])
        instance_key = decode_verify_key(header["instance-signing-key"])
    except ValueError as problem:
        raise ManifestError(f"the manifest's header is damaged: {problem}") from None
    return ManifestFacts(header["instance"], issued, instance_key, tuple(bodies), tuple(recipients)), manifest_key


def _public_key(text: str, number: int) -> bytes:
    try:
        return decode_public_key(text)
    except ValueError as problem:
        raise ManifestError(f"line {number} of the manifest holds a damaged key: {problem}") from None
