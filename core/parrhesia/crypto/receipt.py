"""Receipts: the facts of a report the instance signs for its source, checked offline.

A receipt says that this instance received a report on a given day, which bodies hold
it and which deadlines run; never its content, subject or codename. It is a short
UTF-8 text, one ``name: value`` line per fact, signed with the instance's Ed25519
receipt signing key; the signature covers every byte before its own line, so a
changed byte anywhere is found (docs/format.md §9). Anyone can check one with the
instance's published public key, without Parrhesia (the steps are in docs/format.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import nacl.exceptions
from nacl.signing import SigningKey, VerifyKey

from ._encoding import b64url_decode, b64url_encode, decode_prefixed_key
from .keys import fingerprint

__all__ = [
    "RECEIPT_MAGIC",
    "RECEIPT_VERSION",
    "VERIFY_KEY_PREFIX",
    "ReceiptBody",
    "ReceiptDeadline",
    "ReceiptError",
    "ReceiptFacts",
    "VerifiedReceipt",
    "clean_text",
    "decode_verify_key",
    "encode_verify_key",
    "key_matches",
    "names_key",
    "sign_receipt",
    "signing_key_from_seed",
    "verify_receipt",
]

RECEIPT_MAGIC = "parrhesia-receipt"
RECEIPT_VERSION = 1
VERIFY_KEY_PREFIX = "prh1vk_"  # not prh1pk_: a signing key is not a key to seal to

_SEED_BYTES = 32
_SIGNATURE_BYTES = 64
_BODY_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_STATE = re.compile(r"[a-z][a-z-]{0,31}")
_REFERENCE = re.compile(r"[0-9a-f]{16}")
_NO_BODY = "-"
# The first lines of a receipt, in this order; received-by and deadline lines follow.
_HEAD = ("instance", "instance-key", "instance-key-fingerprint", "reference", "submitted-on", "issued-on")


class ReceiptError(Exception):
    """The file is not a receipt this software reads, or it was changed after signing."""


@dataclass(frozen=True)
class ReceiptBody:
    """A body holding the report when the receipt was issued."""

    id: str
    name: str


@dataclass(frozen=True)
class ReceiptDeadline:
    """A legal deadline of the report: its due day, its state (``running``, ``met``,
    ``missed``, ``paused``), the body it binds (None: the report's) and its label."""

    due_on: date
    state: str
    body_id: str | None
    label: str


@dataclass(frozen=True)
class ReceiptFacts:
    """What a receipt states: everything except the key and the signature."""

    instance: str
    reference: str
    submitted_on: date
    issued_on: date
    bodies: tuple[ReceiptBody, ...]
    deadlines: tuple[ReceiptDeadline, ...]


@dataclass(frozen=True)
class VerifiedReceipt:
    """A receipt whose signature is good, and the key that made it."""

    facts: ReceiptFacts
    public_key: bytes
    fingerprint: str

    @property
    def key_text(self) -> str:
        return encode_verify_key(self.public_key)


def signing_key_from_seed(seed: bytes) -> SigningKey:
    """The Ed25519 signing key of a 32-byte seed (the instance's secret file)."""
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != _SEED_BYTES:
        raise ValueError(f"a receipt signing key seed must be exactly {_SEED_BYTES} bytes")
    return SigningKey(bytes(seed))


def encode_verify_key(public_key: bytes) -> str:
    """The text form of a receipt verify key: ``prh1vk_`` + unpadded base64url."""
    if len(public_key) != _SEED_BYTES:
        raise ValueError(f"a verify key must be exactly {_SEED_BYTES} bytes")
    return VERIFY_KEY_PREFIX + b64url_encode(bytes(public_key))


def decode_verify_key(text: str) -> bytes:
    """Parse the text form of a verify key; ValueError saying what is wrong."""
    return decode_prefixed_key(text, VERIFY_KEY_PREFIX, _SEED_BYTES, "an instance's receipt key")


def names_key(given: str, public_key: bytes) -> bool:
    """Whether ``given`` (a ``prh1vk_`` key, or its fingerprint with spaces and case
    aside) names ``public_key``; a damaged key text names nothing."""
    given = given.strip()
    if given.startswith(VERIFY_KEY_PREFIX):
        try:
            return decode_verify_key(given) == bytes(public_key)
        except ValueError:
            return False
    return "".join(given.split()).upper() == "".join(fingerprint(bytes(public_key)).split())


def key_matches(receipt: VerifiedReceipt, given: str) -> bool:
    """Whether ``given`` (a ``prh1vk_`` key or its fingerprint, spaces and case aside)
    names the key that signed ``receipt``."""
    return names_key(given, receipt.public_key)


def clean_text(text: str) -> str:
    """One line of printable text: control and format characters, line breaks and
    runs of white space each made one space, none at either end. Every text value of a receipt
    is clean, so a receipt has exactly one form."""
    kept = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in str(text))
    return " ".join(kept.split())


def sign_receipt(facts: ReceiptFacts, signing_key: SigningKey) -> bytes:
    """The bytes of a signed receipt file."""
    public_key = bytes(signing_key.verify_key)
    signed = _signed_part(facts, public_key).encode("utf-8")
    signature = signing_key.sign(signed).signature
    return signed + f"signature: {b64url_encode(signature)}\n".encode("ascii")


def verify_receipt(data: bytes) -> VerifiedReceipt:
    """Check a receipt file: its form, its fingerprint and its signature.

    Returns the facts and the key that signed them; raises :class:`ReceiptError` if
    the file is not exactly a receipt as :func:`sign_receipt` writes it, or if any
    byte changed since. Whose key it is must be checked too: compare the fingerprint
    with the one the instance publishes (:func:`key_matches`).
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise ReceiptError("this is not a receipt (not UTF-8 text)") from None
    if not text.endswith("\n") or "\r" in text:
        raise ReceiptError("this is not a receipt as the instance wrote it (line endings were changed)")
    lines = text[:-1].split("\n")
    magic, *rest = lines
    if not magic.startswith(RECEIPT_MAGIC + " "):
        raise ReceiptError("this is not a Parrhesia receipt")
    if magic != f"{RECEIPT_MAGIC} {RECEIPT_VERSION}":
        raise ReceiptError(f"unsupported receipt version {magic[len(RECEIPT_MAGIC) + 1:]!r}; "
                           f"this software reads version {RECEIPT_VERSION}")
    fields = [_split(line) for line in rest]
    if not fields or fields[-1][0] != "signature":
        raise ReceiptError("the receipt has no signature as its last line")
    signature_text = fields.pop()[1]
    facts, public_key = _parse_facts(fields)
    signed = "".join(line + "\n" for line in lines[:-1]).encode("utf-8")
    try:
        canonical = _signed_part(facts, public_key).encode("utf-8")
    except ValueError as exc:
        raise ReceiptError(f"the receipt has a damaged value: {exc}") from None
    if canonical != signed:
        raise ReceiptError("the receipt is not in its canonical form: it was changed after signing")
    try:
        signature = b64url_decode(signature_text)
    except ValueError:
        raise ReceiptError("the signature line is damaged") from None
    if len(signature) != _SIGNATURE_BYTES:
        raise ReceiptError("the signature line is damaged")
    try:
        VerifyKey(public_key).verify(signed, signature)
    except nacl.exceptions.BadSignatureError:
        raise ReceiptError("the signature does not match: the receipt was changed after signing, "
                           "or was not signed by the key it names") from None
    return VerifiedReceipt(facts=facts, public_key=public_key, fingerprint=fingerprint(public_key))


def _signed_part(facts: ReceiptFacts, public_key: bytes) -> str:
    if not _REFERENCE.fullmatch(facts.reference):
        raise ValueError("a report reference is 16 lowercase hex digits")
    lines = [
        f"{RECEIPT_MAGIC} {RECEIPT_VERSION}",
        f"instance: {_text(facts.instance)}",
        f"instance-key: {encode_verify_key(public_key)}",
        f"instance-key-fingerprint: {fingerprint(public_key)}",
        f"reference: {facts.reference}",
        f"submitted-on: {facts.submitted_on.isoformat()}",
        f"issued-on: {facts.issued_on.isoformat()}",
    ]
    for body in facts.bodies:
        lines.append(f"received-by: {_body_id(body.id)} {_text(body.name)}")
    for deadline in facts.deadlines:
        if not _STATE.fullmatch(deadline.state):
            raise ValueError(f"not a deadline state: {deadline.state!r}")
        bound = _NO_BODY if deadline.body_id is None else _body_id(deadline.body_id)
        lines.append(f"deadline: {deadline.due_on.isoformat()} {deadline.state} {bound} {_text(deadline.label)}")
    return "".join(line + "\n" for line in lines)


def _text(value: str) -> str:
    cleaned = clean_text(value)
    if not cleaned:
        raise ValueError("a receipt's text values cannot be empty")
    return cleaned


def _body_id(value: str) -> str:
    if not _BODY_ID.fullmatch(value):
        raise ValueError(f"not a body id: {value!r}")
    return value


def _split(line: str) -> tuple[str, str]:
    name, separator, value = line.partition(": ")
    if not separator or not name:
        raise ReceiptError(f"the receipt has a damaged line: {line[:60]!r}")
    return name, value


def _parse_facts(fields: list[tuple[str, str]]) -> tuple[ReceiptFacts, bytes]:
    names = [name for name, _ in fields]
    head = dict(fields[: len(_HEAD)])
    if tuple(names[: len(_HEAD)]) != _HEAD:
        raise ReceiptError(f"the receipt's first lines must be {', '.join(_HEAD)}")
    tail = fields[len(_HEAD):]
    bodies = [value for name, value in tail if name == "received-by"]
    deadlines = [value for name, value in tail if name == "deadline"]
    if [name for name, _ in tail] != ["received-by"] * len(bodies) + ["deadline"] * len(deadlines):
        raise ReceiptError("after its first lines a receipt has its received-by lines, "
                           "then its deadline lines, then its signature")
    try:
        public_key = decode_verify_key(head["instance-key"])
    except ValueError as exc:
        raise ReceiptError(f"the instance-key line is damaged: {exc}") from None
    if head["instance-key-fingerprint"] != fingerprint(public_key):
        raise ReceiptError("the fingerprint does not match the key named in the receipt")
    try:
        facts = ReceiptFacts(
            instance=head["instance"],
            reference=head["reference"],
            submitted_on=_day(head["submitted-on"]),
            issued_on=_day(head["issued-on"]),
            bodies=tuple(ReceiptBody(*_two(value)) for value in bodies),
            deadlines=tuple(_deadline(value) for value in deadlines),
        )
    except ValueError as exc:
        raise ReceiptError(f"the receipt has a damaged value: {exc}") from None
    return facts, public_key


def _day(value: str) -> date:
    day = date.fromisoformat(value)
    if day.isoformat() != value:
        raise ValueError(f"not a day (YYYY-MM-DD): {value!r}")
    return day


def _two(value: str) -> tuple[str, str]:
    first, _, rest = value.partition(" ")
    return first, rest


def _deadline(value: str) -> ReceiptDeadline:
    parts = value.split(" ", 3)
    if len(parts) != 4:
        raise ValueError(f"not a deadline: {value[:60]!r}")
    due, state, body, label = parts
    return ReceiptDeadline(due_on=_day(due), state=state, body_id=None if body == _NO_BODY else body, label=label)
