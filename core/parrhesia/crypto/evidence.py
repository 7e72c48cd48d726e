"""The recipient's evidence key: the Ed25519 key that signs evidence packages.

A recipient holds one X25519 key (docs/format.md §1), which can seal and open but not
sign. Rather than a second key file to keep, the signing key is derived from it:
its 32-byte seed is BLAKE2b-256 of nothing, keyed with the X25519 private key and
personalised ``prh-evidence-sig``. The same recipient key therefore always gives the
same verify key, which can be published once (in the text form of every Parrhesia
verify key, ``prh1vk_…``, :mod:`.receipt`, or its fingerprint) and compared out of band; nobody learns the X25519 key from it, and it
signs nothing but evidence packages. docs/format.md, "Evidence packages".
"""

from __future__ import annotations

import base64

import nacl.exceptions
import nacl.hash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from .receipt import VERIFY_KEY_PREFIX, decode_verify_key, encode_verify_key

__all__ = [
    "VERIFY_KEY_PREFIX",
    "decode_verify_key",
    "encode_verify_key",
    "evidence_signing_key",
    "signature_is_valid",
    "verify_key_from_pem",
    "verify_key_pem",
]

_SIGNING_PERSON = b"prh-evidence-sig"  # exactly 16 bytes, as BLAKE2b requires
_KEY_BYTES = 32
# The DER SubjectPublicKeyInfo of an Ed25519 public key (RFC 8410) is this prefix and the
# 32 key bytes: what `openssl pkeyutl -verify -pubin -inkey signer.pem` reads.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PEM_BEGIN = "-----BEGIN PUBLIC KEY-----"
_PEM_END = "-----END PUBLIC KEY-----"


def evidence_signing_key(private_key: PrivateKey) -> SigningKey:
    """The Ed25519 signing key derived from a recipient's X25519 private key."""
    seed = nacl.hash.blake2b(
        b"", digest_size=_KEY_BYTES, key=bytes(private_key), person=_SIGNING_PERSON, encoder=RawEncoder
    )
    return SigningKey(seed)


def verify_key_pem(verify_key: bytes) -> bytes:
    """The verify key as a PEM public key (RFC 8410), for standard tools such as OpenSSL."""
    _check_length(verify_key)
    body = base64.b64encode(_ED25519_SPKI_PREFIX + bytes(verify_key)).decode("ascii")
    return f"{_PEM_BEGIN}\n{body}\n{_PEM_END}\n".encode("ascii")


def verify_key_from_pem(pem: bytes) -> bytes:
    """The 32 key bytes of a PEM Ed25519 public key exactly as :func:`verify_key_pem` writes it."""
    try:
        text = pem.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError("the PEM key is not ASCII text") from exc
    lines = text.strip().splitlines()
    if len(lines) != 3 or lines[0] != _PEM_BEGIN or lines[2] != _PEM_END:
        raise ValueError("the PEM key is not one Ed25519 public key")
    try:
        der = base64.b64decode(lines[1], validate=True)
    except ValueError as exc:
        raise ValueError("the PEM key is damaged (invalid base64)") from exc
    if len(der) != len(_ED25519_SPKI_PREFIX) + _KEY_BYTES or not der.startswith(_ED25519_SPKI_PREFIX):
        raise ValueError("the PEM key is not an Ed25519 public key")
    return der[len(_ED25519_SPKI_PREFIX):]


def signature_is_valid(verify_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (64 bytes, detached) is ``verify_key``'s Ed25519 signature of ``message``."""
    if len(signature) != 64:
        return False
    try:
        VerifyKey(bytes(verify_key)).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False
    return True


def _check_length(key: bytes) -> None:
    if len(key) != _KEY_BYTES:
        raise ValueError(f"a verify key is {_KEY_BYTES} bytes, not {len(key)}")
