"""Generate tests/vectors/v1.json, the test vectors of Parrhesia format version 1.

Run from the repository root:  PYTHONPATH=core python tests/vectors/generate.py

Keys, pepper, codename and token are fixed, so every derived value is
deterministic. Sealed boxes and parts contain fresh randomness (ephemeral keys,
nonces, content keys), so for those the produced bytes are stored and the test
checks they still decrypt. Regenerating must never change a deterministic
value; if it does, the format has changed and needs a new version number.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import nacl.hash
import nacl.pwhash.argon2id as argon2id
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey

from parrhesia import crypto

OUTPUT = Path(__file__).with_name("v1.json")


def fixed_key(label: str) -> PrivateKey:
    """A fixed X25519 private key: SHA-256 of a label (test vectors only)."""
    return PrivateKey(hashlib.sha256(label.encode("ascii")).digest())


def codename_vector(codename_typed: str, pepper: bytes, kdf: crypto.CodenameKdf) -> dict[str, str]:
    """Every intermediate value of docs/format.md section 4 for one derivation version."""
    normalised = crypto.normalise_codename(codename_typed)
    salt = nacl.hash.blake2b(
        b"", digest_size=16, key=pepper, person=b"prh-codename-slt", encoder=RawEncoder
    )
    master = argon2id.kdf(32, normalised.encode(), salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit)
    identity = crypto.derive_source_identity(codename_typed, pepper, kdf)
    return {
        "codename_typed": codename_typed,
        "codename_normalised": normalised,
        "pepper_hex": pepper.hex(),
        "argon2id_salt_hex": salt.hex(),
        "master_hex": master.hex(),
        "source_private_key_hex": bytes(identity.private_key).hex(),
        "source_public_key_hex": identity.public_key.hex(),
        "lookup_id_hex": identity.lookup_id.hex(),
    }


def body_key_vector(report: PrivateKey, report_pk: bytes, member: PrivateKey) -> dict[str, object]:
    """Custody v2 (docs/format.md §1): a body key of two generations, the member's grant
    of the newest (vouched for by a colleague), the chain back, the report key sealed to
    generation 1. Keys are fixed; boxes are randomised and must open."""
    voucher = fixed_key("body key voucher")
    first, second = fixed_key("body key generation 1"), fixed_key("body key generation 2")
    return {
        "member_private_key_hex": bytes(member).hex(),
        "voucher_public_key_hex": bytes(voucher.public_key).hex(),
        "generations": {
            "1": {"public_key_hex": bytes(first.public_key).hex(), "fingerprint": crypto.fingerprint(bytes(first.public_key))},
            "2": {"public_key_hex": bytes(second.public_key).hex(), "fingerprint": crypto.fingerprint(bytes(second.public_key)),
                  "previous_sealed_hex": crypto.chain_previous_body_key(first, bytes(second.public_key)).hex()},
        },
        "grant_of_generation_2_hex": crypto.grant_body_key(second, bytes(member.public_key), voucher).hex(),
        "report_key_sealed_to_generation_1_hex": crypto.seal_report_key(report, bytes(first.public_key)).hex(),
        "report_public_key_hex": report_pk.hex(),
    }


def main() -> None:
    recipient = fixed_key("parrhesia test vector: recipient")
    report = fixed_key("parrhesia test vector: report")
    recipient_pk = bytes(recipient.public_key)
    report_pk = bytes(report.public_key)

    pepper = bytes(range(32))
    codename_typed = "  Abacus   ABDOMEN\tabdominal abide  abiding ability Ablaze \n"
    identity = crypto.derive_source_identity(codename_typed, pepper, crypto.CODENAME_KDF_V1)

    passphrase = "correct horse battery staple"
    key_file = crypto.wrap_private_key(
        recipient,
        passphrase.encode(),
        opslimit=argon2id.OPSLIMIT_MIN,
        memlimit=argon2id.MEMLIMIT_MIN,
    )
    token = bytes(range(100, 132))

    small_meta = {"kind": "message"}
    small_content = "Die Rechnung wurde zweimal bezahlt. — ¿Por qué?\n".encode()
    attachment_meta = {
        "kind": "attachment",
        "filename": "Überweisung 2024.pdf",
        "content_type": "application/pdf",
    }
    large_content = b"".join(
        hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(150_000 // 32 + 1)
    )[:150_000]

    def part(part_id: str, meta: dict[str, object], content: bytes, *, store_content: bool):
        out = io.BytesIO()
        writer = crypto.PartWriter(out, report_pk, "rpt-0001", part_id, meta)
        writer.write(content)
        writer.close()
        blob = out.getvalue()
        entry: dict[str, object] = {
            "report_private_key_hex": bytes(report).hex(),
            "report_id": "rpt-0001",
            "part_id": part_id,
            "expected_meta": meta,
            "expected_meta_json_hex": json.dumps(
                meta, ensure_ascii=False, sort_keys=True, separators=(",", ":")
            ).encode().hex(),
            "content_length": len(content),
            "content_sha256": hashlib.sha256(content).hexdigest(),
            "chunk_count": (len(blob) - crypto.HEADER_SIZE) // crypto.CIPHERTEXT_CHUNK_SIZE,
            "blob_hex": blob.hex(),
        }
        if store_content:
            entry["expected_content_hex"] = content.hex()
        return entry

    vectors = {
        "format": "parrhesia",
        "version": 1,
        "note": "Generated by tests/vectors/generate.py; see docs/format.md.",
        "public_key": {
            "private_key_hex": bytes(recipient).hex(),
            "public_key_hex": recipient_pk.hex(),
            "encoded": crypto.encode_public_key(recipient_pk),
            "fingerprint": crypto.fingerprint(recipient_pk),
        },
        "codename": codename_vector(codename_typed, pepper, crypto.CODENAME_KDF_V1),
        "codename_v2": codename_vector(codename_typed, pepper, crypto.CODENAME_KDF_V2),
        "sealed_report_key": {
            "report_public_key_hex": report_pk.hex(),
            "to_recipient": {
                "holder_private_key_hex": bytes(recipient).hex(),
                "sealed_hex": crypto.seal_report_key(report, recipient_pk).hex(),
            },
            "to_source": {
                "holder_private_key_hex": bytes(identity.private_key).hex(),
                "sealed_hex": crypto.seal_report_key(report, identity.public_key).hex(),
            },
        },
        "body_key": body_key_vector(report, report_pk, recipient),
        "key_file": {
            "passphrase": passphrase,
            "content": key_file.decode(),
            "expected_private_key_hex": bytes(recipient).hex(),
        },
        "session_wrap": {
            "token_hex": token.hex(),
            "blob_hex": crypto.wrap_for_session(report, token).hex(),
            "expected_report_private_key_hex": bytes(report).hex(),
        },
        "parts": [
            part("msg-0001", small_meta, small_content, store_content=True),
            part("att-0001", attachment_meta, b"%PDF-1.7\n%tiny\n", store_content=True),
            part("att-0002", {"kind": "attachment"}, large_content, store_content=False),
        ],
        "padme": {str(n): crypto.padme(n) for n in _PADME_INPUTS},
        "padded_chunk_count": {str(n): crypto.padded_chunk_count(n) for n in _PAYLOAD_SIZES},
    }
    OUTPUT.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {OUTPUT}")


_PADME_INPUTS = (
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 100, 1000, 4097, 65532, 65533]
    + [100_000, 1_000_000, 2**20 + 1, 10**7, 256 * 2**20, 256 * 2**20 + 1]
)
_PAYLOAD_SIZES = [0, 1, 65532, 65533, 131064, 131065, 150_050, 1_000_000, 256 * 2**20]

if __name__ == "__main__":
    main()
