"""Report keys: one X25519 keypair per report, sealed to everyone who may read it.

Every message, attachment and reply of a report is sealed to the report's
public key. The report's private key is then sealed (SealedBox) to each
holder: the source's key and the recipients' keys. A source who is logged in
keeps the report key wrapped under a token that lives only in their cookie.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.hash
import nacl.secret
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey, PublicKey, SealedBox

from .errors import DecryptionError

__all__ = [
    "SEALED_REPORT_KEY_SIZE",
    "new_report_keypair",
    "open_report_key",
    "seal_report_key",
    "unwrap_for_session",
    "wrap_for_session",
]

_KEY_BYTES = 32
# SealedBox overhead: 32-byte ephemeral public key + 16-byte MAC.
SEALED_REPORT_KEY_SIZE = _KEY_BYTES + 32 + 16
_PERSON_SESSION = b"prh-session-wrap"  # exactly 16 bytes, as BLAKE2b requires
_MIN_TOKEN_BYTES = 16


def new_report_keypair() -> PrivateKey:
    """Return a fresh X25519 private key for a new report."""
    return PrivateKey.generate()


def seal_report_key(report_sk: PrivateKey, holder_public_key: bytes) -> bytes:
    """Seal the report's 32-byte private key to a holder's public key (80 bytes out)."""
    return bytes(SealedBox(PublicKey(bytes(holder_public_key))).encrypt(bytes(report_sk)))


def open_report_key(sealed: bytes, holder_sk: PrivateKey) -> PrivateKey:
    """Open a sealed report key with the holder's private key; DecryptionError if not theirs."""
    try:
        raw = SealedBox(holder_sk).decrypt(bytes(sealed))
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionError(
            "the report key cannot be opened with this key: it was sealed to someone else "
            "or it is damaged"
        ) from exc
    if len(raw) != _KEY_BYTES:
        raise DecryptionError("the sealed report key is damaged")
    return PrivateKey(raw)


def wrap_for_session(report_sk: PrivateKey, token: bytes) -> bytes:
    """Wrap a report key under a session token (random, at least 16 bytes, kept in the cookie).

    The session row in the database then holds only this blob, useless
    without the cookie.
    """
    return bytes(nacl.secret.SecretBox(_session_key(token)).encrypt(bytes(report_sk)))


def unwrap_for_session(blob: bytes, token: bytes) -> PrivateKey:
    """Recover a report key wrapped by :func:`wrap_for_session`; DecryptionError on failure."""
    try:
        raw = nacl.secret.SecretBox(_session_key(token)).decrypt(bytes(blob))
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionError("the session key blob does not match this session token") from exc
    if len(raw) != _KEY_BYTES:
        raise DecryptionError("the session key blob is damaged")
    return PrivateKey(raw)


def _session_key(token: bytes) -> bytes:
    if not isinstance(token, bytes) or len(token) < _MIN_TOKEN_BYTES:
        raise ValueError(f"a session token must be at least {_MIN_TOKEN_BYTES} random bytes")
    return nacl.hash.blake2b(token, digest_size=32, person=_PERSON_SESSION, encoder=RawEncoder)
