"""Unpadded base64url, the text encoding used everywhere in format v1.

Strict on input (canonical encoding only) so that one key has exactly one
textual form.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["b64url_decode", "b64url_encode"]

_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without ``=`` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise ValueError on anything else."""
    if not isinstance(text, str) or not set(text) <= _ALPHABET or len(text) % 4 == 1:
        raise ValueError("not valid unpadded base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid unpadded base64url text") from exc
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url text")
    return data


def decode_prefixed_key(text: object, prefix: str, size: int, what: str) -> bytes:
    """The bytes of a key written as ``prefix`` + base64url; ValueError saying what is wrong.

    ``what`` names the key in the messages ("a Parrhesia public key", ...).
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} must be given as text")
    text = text.strip()
    if not text.startswith(prefix):
        raise ValueError(f"{what} starts with {prefix!r}")
    try:
        raw = b64url_decode(text[len(prefix):])
    except ValueError as exc:
        raise ValueError(f"the text of {what} is damaged (invalid base64url)") from exc
    if len(raw) != size:
        raise ValueError(f"{what} has the wrong length: {len(raw)} bytes instead of {size}")
    return raw
