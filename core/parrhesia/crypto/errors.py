"""Exceptions raised by the cryptography layer.

Callers catch these to tell a source or recipient, in plain words, what went
wrong; they never carry key material or plaintext in their messages.
"""

from __future__ import annotations

__all__ = ["CryptoFormatError", "DecryptionError", "KeyFileError"]


class CryptoFormatError(Exception):
    """Encrypted data is malformed or uses a format version this code does not know."""


class DecryptionError(CryptoFormatError):
    """Encrypted data is damaged, tampered with, truncated, or the key is wrong.

    A subclass of :class:`CryptoFormatError` so that "cannot read this" can be
    handled in one place.
    """


class KeyFileError(Exception):
    """A recipient key file cannot be used: wrong passphrase, or the file is damaged."""
