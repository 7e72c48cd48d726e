"""Body keys: how a report sealed to a *body* reaches its present and future recipients.

A body has a keypair of its own (a **body key**), made on a recipient's machine. Report
keys are sealed to the body's public key. The body's private key reaches each member
in a **grant**: the body private key in an authenticated box (``crypto_box``) from the
member who vouched for the new one, to the new member's key. Only someone holding the
body private key can make a grant, so the server (which never holds it) cannot add a
reader; the new member checks who vouched when opening the grant.

A body key can be **rotated** (when a member leaves): the new generation carries the
previous generation's private key sealed to the new public key, so holding the newest
body key opens every older report too, and a member without a grant to the new
generation opens nothing that arrives after. See docs/format.md §1.
"""

from __future__ import annotations

import nacl.exceptions
from nacl.public import Box, PrivateKey, PublicKey

from .errors import DecryptionError

__all__ = [
    "BODY_KEY_GRANT_SIZE",
    "new_body_key",
    "grant_body_key",
    "open_body_key_grant",
    "chain_previous_body_key",
    "open_previous_body_key",
]

_KEY_BYTES = 32
# crypto_box_easy: 24-byte nonce + 32-byte key + 16-byte MAC.
BODY_KEY_GRANT_SIZE = 24 + _KEY_BYTES + 16


def new_body_key() -> PrivateKey:
    """A fresh X25519 keypair for a body (made on a recipient's machine, never the server)."""
    return PrivateKey.generate()


def grant_body_key(body_sk: PrivateKey, member_public_key: bytes, voucher_sk: PrivateKey) -> bytes:
    """The body private key boxed from the voucher to a (new) member: 72 bytes.

    The box is authenticated: opening it with the voucher's public key proves that the
    holder of that key made it. A body's first member vouches for themselves.
    """
    box = Box(voucher_sk, PublicKey(bytes(member_public_key)))
    return bytes(box.encrypt(bytes(body_sk)))


def open_body_key_grant(
    grant: bytes, voucher_public_key: bytes, member_sk: PrivateKey, body_public_key: bytes
) -> PrivateKey:
    """Open a grant with the member's key; DecryptionError unless the voucher made it for
    this member and it holds the private half of ``body_public_key``."""
    try:
        raw = Box(member_sk, PublicKey(bytes(voucher_public_key))).decrypt(bytes(grant))
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise DecryptionError(
            "this body key grant was not made for your key by the member it names, or it is damaged"
        ) from exc
    if len(raw) != _KEY_BYTES:
        raise DecryptionError("the body key grant is damaged")
    body_sk = PrivateKey(raw)
    if bytes(body_sk.public_key) != bytes(body_public_key):
        raise DecryptionError("the body key grant does not hold the body key the server lists")
    return body_sk


def chain_previous_body_key(previous_sk: PrivateKey, new_public_key: bytes) -> bytes:
    """The previous generation's private key sealed to the new generation (80 bytes)."""
    from .report import seal_report_key

    return seal_report_key(previous_sk, new_public_key)


def open_previous_body_key(sealed: bytes, new_sk: PrivateKey, previous_public_key: bytes) -> PrivateKey:
    """Walk one generation back; DecryptionError if it does not lead to ``previous_public_key``."""
    from .report import open_report_key

    previous = open_report_key(sealed, new_sk)
    if bytes(previous.public_key) != bytes(previous_public_key):
        raise DecryptionError("the chained body key does not match the previous generation's public key")
    return previous
