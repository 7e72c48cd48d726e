"""Codenames: the only secret a source holds, and what is derived from it.

A codename is seven words drawn uniformly from the EFF long wordlist (about
90.5 bits). From it and the instance pepper we derive the source's X25519 key
(to open their reports) and a separate lookup identifier (to find their
reports in the database without storing the codename or anything that opens
them).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import nacl.hash
import nacl.pwhash.argon2id as argon2id
import nacl.utils
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey

__all__ = [
    "CODENAME_KDFS",
    "CODENAME_KDF_LATEST",
    "CODENAME_KDF_V1",
    "CODENAME_KDF_V2",
    "CODENAME_MAX_LENGTH",
    "CODENAME_WORDS",
    "WORDLIST",  # noqa: F822 (read from package data on first use, by the module __getattr__)
    "CodenameKdf",
    "SourceIdentity",
    "codename_entropy_bits",
    "derive_source_identity",
    "generate_codename",
    "normalise_codename",
    "wordlist",
]

CODENAME_WORDS = 7
CODENAME_MAX_LENGTH = 512


@dataclass(frozen=True)
class CodenameKdf:
    """One version of the codename derivation (docs/format.md, section 4).

    An instance uses one version for all its sources, chosen when its pepper is
    created: changing it would change every source's key and lookup id. The
    BLAKE2b personalisation strings are exactly 16 bytes (libsodium's size).
    """

    version: int
    opslimit: int
    memlimit: int
    person_source_key: bytes
    person_lookup_id: bytes


# A 7-word codename already has ~90 bits of entropy, so Argon2id is defence in depth
# against a leaked pepper, not the main protection. Version 2 uses the parameters
# OWASP recommends for Argon2id (19 MiB, 2 passes): a submission or login then costs
# the server 19 MiB instead of 32 at its peak. Version 1 stays for instances created
# with it.
CODENAME_KDF_V1 = CodenameKdf(1, 3, 32 * 1024 * 1024, b"prh-source-key-1", b"prh-lookup-id-v1")
CODENAME_KDF_V2 = CodenameKdf(2, 2, 19 * 1024 * 1024, b"prh-source-key-2", b"prh-lookup-id-v2")
CODENAME_KDFS = {kdf.version: kdf for kdf in (CODENAME_KDF_V1, CODENAME_KDF_V2)}
CODENAME_KDF_LATEST = CODENAME_KDF_V2

_PERSON_SALT = b"prh-codename-slt"
_WORDLIST_SIZE = 7776
_PEPPER_MIN, _PEPPER_MAX = 16, 64


@cache
def wordlist() -> tuple[str, ...]:
    """Return the EFF long wordlist (7776 words), read once from package data."""
    text = resources.files(__package__).joinpath("wordlist_en.txt").read_text("utf-8")
    words = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(words) != _WORDLIST_SIZE or len(set(words)) != _WORDLIST_SIZE:
        raise RuntimeError("wordlist_en.txt is damaged: expected 7776 distinct words")
    if any(word != normalise_codename(word) or " " in word for word in words):
        raise RuntimeError("wordlist_en.txt is damaged: words must be normalised single words")
    return words


def __getattr__(name: str) -> object:
    # WORDLIST is loaded on first use so importing the package stays cheap.
    if name == "WORDLIST":
        return wordlist()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def codename_entropy_bits() -> float:
    """Return the entropy of a generated codename in bits (about 90.5)."""
    return CODENAME_WORDS * math.log2(len(wordlist()))


def generate_codename() -> str:
    """Return a fresh codename: seven uniformly chosen words, lowercase, single spaces."""
    words = wordlist()
    return " ".join(words[_uniform_index(len(words))] for _ in range(CODENAME_WORDS))


def normalise_codename(text: str) -> str:
    """Return the canonical form of a typed codename.

    NFKC, case-folded, runs of whitespace collapsed to one space, stripped, so
    that what a source types on a phone matches what they were shown.
    """
    if not isinstance(text, str):
        raise ValueError("a codename must be text")
    if len(text) > CODENAME_MAX_LENGTH:
        raise ValueError("this is too long to be a codename")
    normalised = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    if not normalised:
        raise ValueError("the codename is empty")
    if len(normalised) > CODENAME_MAX_LENGTH:
        raise ValueError("this is too long to be a codename")
    return normalised


@dataclass(frozen=True)
class SourceIdentity:
    """What a codename opens: the source's private key and their lookup id."""

    private_key: PrivateKey = field(repr=False)
    lookup_id: bytes = field(repr=False)

    @property
    def public_key(self) -> bytes:
        """The source's 32-byte X25519 public key (report keys are sealed to it)."""
        return bytes(self.private_key.public_key)


def derive_source_identity(
    codename: str, pepper: bytes, kdf: CodenameKdf = CODENAME_KDF_LATEST
) -> SourceIdentity:
    """Derive the source key and lookup id from a codename and the instance pepper.

    Deterministic: the same codename (after normalisation), pepper and ``kdf``
    version always give the same identity. The pepper (16-64 bytes) never leaves
    the server, so a database dump alone cannot be used to test codename guesses.
    Pass the instance's version (``Instance.codename_kdf``).
    """
    if not isinstance(pepper, bytes) or not _PEPPER_MIN <= len(pepper) <= _PEPPER_MAX:
        raise ValueError(f"the pepper must be {_PEPPER_MIN} to {_PEPPER_MAX} bytes")
    password = normalise_codename(codename).encode("utf-8")
    salt = nacl.hash.blake2b(
        b"", digest_size=argon2id.SALTBYTES, key=pepper, person=_PERSON_SALT, encoder=RawEncoder
    )
    master = argon2id.kdf(32, password, salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit)
    seed = nacl.hash.blake2b(master, digest_size=32, person=kdf.person_source_key, encoder=RawEncoder)
    lookup_id = nacl.hash.blake2b(
        master, digest_size=32, key=pepper, person=kdf.person_lookup_id, encoder=RawEncoder
    )
    return SourceIdentity(private_key=PrivateKey(seed), lookup_id=lookup_id)


def _uniform_index(n: int) -> int:
    """Return a uniform integer in [0, n) from libsodium's CSPRNG (rejection sampling)."""
    bits = (n - 1).bit_length()
    nbytes = (bits + 7) // 8
    mask = (1 << bits) - 1
    while True:
        candidate = int.from_bytes(nacl.utils.random(nbytes), "big") & mask
        if candidate < n:
            return candidate
