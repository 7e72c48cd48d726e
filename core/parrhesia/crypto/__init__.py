"""Parrhesia's cryptography layer (format version 1, see docs/format.md).

Recipient keys and key files (:mod:`.keys`), codenames and source identities
(:mod:`.codename`), per-report keys (:mod:`.report`) and the streamed, padded
part format for messages, attachments and replies (:mod:`.stream`). Everything
is built from PyNaCl (libsodium) primitives only.
"""

from __future__ import annotations

from .codename import (
    CODENAME_KDF_LATEST,
    CODENAME_KDF_V1,
    CODENAME_KDF_V2,
    CODENAME_KDFS,
    CODENAME_MAX_LENGTH,
    CODENAME_WORDS,
    CodenameKdf,
    SourceIdentity,
    codename_entropy_bits,
    derive_source_identity,
    generate_codename,
    normalise_codename,
    wordlist,
)
from .custody import (
    BODY_KEY_GRANT_SIZE,
    chain_previous_body_key,
    grant_body_key,
    new_body_key,
    open_body_key_grant,
    open_previous_body_key,
)
from .errors import CryptoFormatError, DecryptionError, KeyFileError
from .filenames import sanitise_filename
from .keys import (
    KEY_FILE_FORMAT,
    KEY_FILE_VERSION,
    PUBLIC_KEY_PREFIX,
    decode_public_key,
    encode_public_key,
    fingerprint,
    generate_recipient_key,
    looks_like_private_key_file,
    read_public_key_from_keyfile,
    unwrap_private_key,
    wrap_private_key,
)
from .report import (
    SEALED_REPORT_KEY_SIZE,
    new_report_keypair,
    open_report_key,
    seal_report_key,
    unwrap_for_session,
    wrap_for_session,
)
from .stream import (
    ABYTES,
    CHUNK_CAPACITY,
    CHUNK_SIZE,
    CIPHERTEXT_CHUNK_SIZE,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    MAX_META_SIZE,
    PartReader,
    PartWriter,
    associated_data,
    ciphertext_size,
    decrypt_bytes,
    decrypt_part_to_path,
    encrypt_bytes,
    padded_chunk_count,
    padme,
)

__all__ = [
    "ABYTES",
    "BODY_KEY_GRANT_SIZE",
    "chain_previous_body_key",
    "grant_body_key",
    "new_body_key",
    "open_body_key_grant",
    "open_previous_body_key",
    "CHUNK_CAPACITY",
    "CHUNK_SIZE",
    "CIPHERTEXT_CHUNK_SIZE",
    "CODENAME_KDFS",
    "CODENAME_KDF_LATEST",
    "CODENAME_KDF_V1",
    "CODENAME_KDF_V2",
    "CODENAME_MAX_LENGTH",
    "CODENAME_WORDS",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "KEY_FILE_FORMAT",
    "KEY_FILE_VERSION",
    "MAGIC",
    "MAX_META_SIZE",
    "PUBLIC_KEY_PREFIX",
    "SEALED_REPORT_KEY_SIZE",
    "WORDLIST",
    "CryptoFormatError",
    "DecryptionError",
    "CodenameKdf",
    "KeyFileError",
    "PartReader",
    "PartWriter",
    "SourceIdentity",
    "associated_data",
    "ciphertext_size",
    "codename_entropy_bits",
    "decode_public_key",
    "decrypt_bytes",
    "decrypt_part_to_path",
    "derive_source_identity",
    "encode_public_key",
    "encrypt_bytes",
    "fingerprint",
    "generate_codename",
    "generate_recipient_key",
    "looks_like_private_key_file",
    "new_report_keypair",
    "normalise_codename",
    "open_report_key",
    "padded_chunk_count",
    "padme",
    "read_public_key_from_keyfile",
    "sanitise_filename",
    "seal_report_key",
    "unwrap_for_session",
    "unwrap_private_key",
    "wordlist",
    "wrap_for_session",
    "wrap_private_key",
]


def __getattr__(name: str) -> object:
    # WORDLIST is read from package data on first use, not at import time.
    if name == "WORDLIST":
        return wordlist()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
