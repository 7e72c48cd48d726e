"""Recipient keys: X25519 keypairs, passphrase-wrapped key files, fingerprints.

A recipient generates a keypair on their own machine; only the public key
reaches the server. The private key lives in a key file wrapped with a
passphrase (Argon2id + SecretBox), so a stolen laptop file alone is useless.
Fingerprints are compared out of band to detect a swapped public key.
"""

from __future__ import annotations

import json
import re
from typing import TypeGuard

import nacl.exceptions
import nacl.hash
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.utils
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey

from ._encoding import b64url_decode, b64url_encode, decode_prefixed_key
from .errors import KeyFileError

__all__ = [
    "KEY_FILE_FORMAT",
    "KEY_FILE_VERSION",
    "PUBLIC_KEY_PREFIX",
    "decode_public_key",
    "encode_public_key",
    "fingerprint",
    "generate_recipient_key",
    "looks_like_private_key_file",
    "read_public_key_from_keyfile",
    "unwrap_private_key",
    "wrap_private_key",
]

KEY_FILE_FORMAT = "parrhesia-recipient-key"
KEY_FILE_VERSION = 1
PUBLIC_KEY_PREFIX = "prh1pk_"

_KEY_BYTES = 32
_FINGERPRINT_PERSON = b"parrhesia-fpr-v1"  # exactly 16 bytes, as BLAKE2b requires
_KDF_ALG = "argon2id13"
# Upper bound on the Argon2id memory a key file may demand, so a crafted file
# cannot make the desk tool allocate without limit (4 GiB, 4x SENSITIVE).
_MEMLIMIT_CEILING = 4 * 1024**3
_UNWRAP_FAILED_MESSAGE = "wrong passphrase or damaged key file"


def generate_recipient_key() -> PrivateKey:
    """Return a fresh X25519 private key for a recipient."""
    return PrivateKey.generate()


def fingerprint(public_key: bytes) -> str:
    """Return the human-comparable fingerprint of a 32-byte public key.

    BLAKE2b-256 personalised with ``parrhesia-fpr-v1``; the first 20 bytes as
    uppercase hex in ten groups of four, e.g. ``"1A2B 3C4D ..."``.
    """
    _check_key_length(public_key, "public key")
    digest = nacl.hash.blake2b(
        bytes(public_key), digest_size=32, person=_FINGERPRINT_PERSON, encoder=RawEncoder
    )
    hexed = digest[:20].hex().upper()
    return " ".join(hexed[i : i + 4] for i in range(0, 40, 4))


def encode_public_key(pk: bytes) -> str:
    """Return the text form of a public key: ``prh1pk_`` + unpadded base64url."""
    _check_key_length(pk, "public key")
    return PUBLIC_KEY_PREFIX + b64url_encode(bytes(pk))


def decode_public_key(text: str) -> bytes:
    """Parse the text form of a public key; raise ValueError saying what is wrong."""
    return decode_prefixed_key(text, PUBLIC_KEY_PREFIX, _KEY_BYTES, "a Parrhesia public key")


def wrap_private_key(
    sk: PrivateKey,
    passphrase: bytes,
    *,
    opslimit: int = argon2id.OPSLIMIT_MODERATE,
    memlimit: int = argon2id.MEMLIMIT_MODERATE,
) -> bytes:
    """Return the content of a key file holding ``sk`` wrapped with ``passphrase``.

    The Argon2id parameters are stored in the file, so they can be raised later
    without a format change (and lowered in tests for speed).
    """
    if not isinstance(passphrase, bytes) or not passphrase:
        raise ValueError("a non-empty passphrase (bytes) is required")
    salt = nacl.utils.random(argon2id.SALTBYTES)
    box_key = argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )
    wrapped = bytes(nacl.secret.SecretBox(box_key).encrypt(bytes(sk)))
    public = bytes(sk.public_key)
    document = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "public_key": b64url_encode(public),
        "fingerprint": fingerprint(public),
        "kdf": {
            "alg": _KDF_ALG,
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": b64url_encode(salt),
        },
        "wrapped": b64url_encode(wrapped),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def unwrap_private_key(data: bytes, passphrase: bytes) -> PrivateKey:
    """Open a key file with its passphrase; raise KeyFileError if that fails.

    Also checks that the unwrapped private key matches the public key recorded
    in the file, so a spliced file is refused.
    """
    document, public = _parse_key_file(data)
    kdf = document.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("alg") != _KDF_ALG:
        raise KeyFileError("the key file names an unknown key derivation")
    opslimit, memlimit = kdf.get("opslimit"), kdf.get("memlimit")
    if not (
        _is_int(opslimit)
        and _is_int(memlimit)
        and argon2id.OPSLIMIT_MIN <= opslimit <= argon2id.OPSLIMIT_MAX
        and argon2id.MEMLIMIT_MIN <= memlimit <= _MEMLIMIT_CEILING
    ):
        raise KeyFileError("the key file has invalid key derivation parameters")
    salt = _field_bytes(kdf, "salt")
    wrapped = _field_bytes(document, "wrapped")
    if len(salt) != argon2id.SALTBYTES:
        raise KeyFileError("the key file has an invalid salt")
    box_key = argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )
    try:
        raw = nacl.secret.SecretBox(box_key).decrypt(wrapped)
    except nacl.exceptions.CryptoError as exc:
        raise KeyFileError(_UNWRAP_FAILED_MESSAGE) from exc
    if len(raw) != _KEY_BYTES:
        raise KeyFileError(_UNWRAP_FAILED_MESSAGE)
    sk = PrivateKey(raw)
    if bytes(sk.public_key) != public:
        raise KeyFileError("the key file is damaged: its private and public keys do not match")
    return sk


def read_public_key_from_keyfile(data: bytes) -> bytes:
    """Return the 32-byte public key recorded in a key file (no passphrase needed)."""
    return _parse_key_file(data)[1]


# A text file holding nothing but 32 bytes in hex or base64(url) could be a raw
# private key; we cannot tell it from a public key, so we say "yes".
_ENCODED_32_BYTES = re.compile(rb"\A(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)\Z")


def looks_like_private_key_file(data: bytes) -> bool:
    """Return True if ``data`` is, or might be, private key material.

    Used to check that a directory of public keys never holds a private one.
    Deliberately conservative: a Parrhesia key file, 32 raw bytes, 32 bytes in
    hex or base64, or any PEM/OpenSSH private key all count. A public key in
    its ``prh1pk_`` text form never does.
    """
    if not isinstance(data, (bytes, bytearray)):
        return False
    data = bytes(data)
    if len(data) == _KEY_BYTES:
        return True
    stripped = data.strip()
    if stripped.startswith(PUBLIC_KEY_PREFIX.encode("ascii")):
        return False
    if b"PRIVATE KEY" in stripped or KEY_FILE_FORMAT.encode("ascii") in stripped:
        return True
    if _ENCODED_32_BYTES.match(stripped):
        return True
    try:
        document = json.loads(stripped)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(document, dict) and (
        "wrapped" in document or "private_key" in document or "secret_key" in document
    )


def _parse_key_file(data: bytes) -> tuple[dict[str, object], bytes]:
    try:
        document = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise KeyFileError("this is not a Parrhesia key file (not UTF-8 JSON)") from exc
    if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
        raise KeyFileError("this is not a Parrhesia key file")
    if document.get("version") != KEY_FILE_VERSION:
        raise KeyFileError(
            f"unsupported key file version {document.get('version')!r}; "
            f"this software reads version {KEY_FILE_VERSION}"
        )
    public = _field_bytes(document, "public_key")
    if len(public) != _KEY_BYTES:
        raise KeyFileError("the key file is damaged: the public key has the wrong length")
    if document.get("fingerprint") != fingerprint(public):
        raise KeyFileError("the key file is damaged: its fingerprint does not match its key")
    return document, public


def _field_bytes(document: dict[str, object], name: str) -> bytes:
    value = document.get(name)
    try:
        return b64url_decode(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise KeyFileError(f"the key file is damaged: field {name!r} is not valid") from exc


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_key_length(key: bytes, what: str) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != _KEY_BYTES:
        raise ValueError(f"a {what} must be exactly {_KEY_BYTES} bytes")
