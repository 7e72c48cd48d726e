"""The desk's browser crypto (partformat.js) against the Python reference, under node.

What the browser decrypts was made by ``parrhesia.crypto``; what the browser seals,
``parrhesia.crypto.decrypt_bytes`` opens. The script runs with the libsodium pinned in
themes/default/js/package-lock.json (installed by ``make`` with ``npm ci``).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import nacl.pwhash.argon2id as argon2id
import pytest
from nacl.public import PrivateKey
from node_support import answer_of

from parrhesia.crypto import (
    CHUNK_CAPACITY,
    chain_previous_body_key,
    decrypt_bytes,
    encrypt_bytes,
    fingerprint,
    generate_recipient_key,
    grant_body_key,
    new_body_key,
    new_report_keypair,
    padded_chunk_count,
    padme,
    seal_report_key,
    wrap_private_key,
)
from parrhesia.crypto._encoding import b64url_encode

REPORT_ID = "3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7"
PASSPHRASE = "correct horse battery staple, in the desk"


def _run_node(job: dict[str, Any]) -> dict[str, Any]:
    return answer_of("partformat_check.js", job)


@pytest.fixture(scope="module")
def exchange() -> dict[str, Any]:
    recipient_key = generate_recipient_key()
    report_key = new_report_keypair()
    note_key = PrivateKey.generate()
    public = bytes(report_key.public_key)
    contents = {
        "message": ("a" * 10 + " — Grüße, 汚職").encode(),
        "attachment": bytes(range(256)) * 3,
        "large": hashlib.sha256(b"seed").digest() * (150_000 // 32),
    }
    parts = [
        ("a1" * 16, encrypt_bytes(contents["message"], public, REPORT_ID, "a1" * 16, {"kind": "message"}), None),
        ("b2" * 16, encrypt_bytes(contents["attachment"], public, REPORT_ID, "b2" * 16,
                                  {"kind": "attachment", "filename": "facture n°42.pdf", "content_type": "application/pdf"}), None),
        ("c3" * 16, encrypt_bytes(contents["large"], public, REPORT_ID, "c3" * 16, {"kind": "attachment", "filename": "big.bin"}), None),
        ("d4" * 16, encrypt_bytes(b"internal: check the tender file", bytes(note_key.public_key), REPORT_ID, "d4" * 16,
                                  {"kind": "note"}), seal_report_key(note_key, bytes(recipient_key.public_key))),
    ]
    good = parts[0][1]
    tampered = [
        ("flipped", "a1" * 16, good[:200] + bytes([good[200] ^ 1]) + good[201:]),
        ("truncated", "c3" * 16, parts[2][1][:-65553]),
        ("extra byte", "a1" * 16, good + b"\x00"),
        ("other part id", "ee" * 16, good),
        ("not a part", "a1" * 16, b"XXXX" + good[4:]),
        ("version 2", "a1" * 16, good[:4] + b"\x02" + good[5:]),
    ]
    encrypt = [
        {"meta": {"kind": "reply"}, "content_hex": "Thank you. We opened a case — merci.".encode().hex()},
        {"meta": {"kind": "reply", "note": "ünïcode"}, "content_hex": b"".hex()},
        # exactly one full chunk of payload, and one byte more
        {"meta": {"kind": "reply"}, "content_hex": (b"x" * (CHUNK_CAPACITY - 4 - 16)).hex()},
        {"meta": {"kind": "reply"}, "content_hex": (b"y" * (CHUNK_CAPACITY - 4 - 16 + 1)).hex()},
        {"meta": {"kind": "attachment", "filename": "r.bin"}, "content_hex": os.urandom(200_000).hex()},
    ]
    # A body key founded by a colleague, who vouched for this recipient and then rotated
    # it: the browser opens generation 2 from its grant and generation 1 through the chain.
    colleague = generate_recipient_key()
    first, second = new_body_key(), new_body_key()
    keyring = [
        {"generation": 2, "public_key": b64url_encode(bytes(second.public_key)),
         "previous_sealed": b64url_encode(chain_previous_body_key(first, bytes(second.public_key))),
         "grant": {"boxed": b64url_encode(grant_body_key(second, bytes(recipient_key.public_key), colleague)),
                   "vouched_by": {"id": 1, "name": "Colleague", "public_key": b64url_encode(bytes(colleague.public_key))}}},
        {"generation": 1, "public_key": b64url_encode(bytes(first.public_key)), "previous_sealed": None, "grant": None},
    ]
    body_keys = {1: first, 2: second}
    lengths = [0, 1, 2, 3, 9, 100, 1000, 63488, 63489, 65532, 65533, 150_000, 10**6, 2**31 + 12345, 2**40 + 7]
    job = {
        "key_file": wrap_private_key(recipient_key, PASSPHRASE.encode(), opslimit=argon2id.OPSLIMIT_MIN,
                                     memlimit=argon2id.MEMLIMIT_MIN).decode(),
        "passphrase": PASSPHRASE,
        "report_id": REPORT_ID,
        "sealed_report_key": b64url_encode(seal_report_key(report_key, bytes(recipient_key.public_key))),
        "parts": [
            {"id": pid, "blob_hex": blob.hex(), "sealed_note_key": b64url_encode(sealed) if sealed else None}
            for pid, blob, sealed in parts
        ],
        "tampered": [{"name": name, "id": pid, "blob_hex": blob.hex()} for name, pid, blob in tampered],
        "encrypt": encrypt,
        "padme": lengths,
        "keyring": keyring,
    }
    return {"answer": _run_node(job), "body_keys": body_keys, "recipient": recipient_key, "report": report_key, "contents": contents,
            "encrypt": encrypt, "lengths": lengths}


def test_browser_unwraps_a_key_file_written_by_python(exchange: dict[str, Any]) -> None:
    answer = exchange["answer"]
    public = bytes(exchange["recipient"].public_key)
    assert answer["public_key_hex"] == public.hex()
    assert answer["fingerprint"] == fingerprint(public)
    assert answer["wrong_passphrase"] == "passphrase"
    assert answer["report_public_key_hex"] == bytes(exchange["report"].public_key).hex()


def test_browser_decrypts_parts_sealed_by_python(exchange: dict[str, Any]) -> None:
    decrypted = {d["id"]: d for d in exchange["answer"]["decrypted"]}
    contents = exchange["contents"]
    assert bytes.fromhex(decrypted["a1" * 16]["content_hex"]) == contents["message"]
    assert decrypted["b2" * 16]["meta"] == {"kind": "attachment", "filename": "facture n°42.pdf", "content_type": "application/pdf"}
    assert bytes.fromhex(decrypted["b2" * 16]["content_hex"]) == contents["attachment"]
    assert bytes.fromhex(decrypted["c3" * 16]["content_hex"]) == contents["large"]
    assert bytes.fromhex(decrypted["d4" * 16]["content_hex"]) == b"internal: check the tender file"


def test_browser_refuses_damaged_and_misplaced_parts(exchange: dict[str, Any]) -> None:
    codes = {e["name"]: e["code"] for e in exchange["answer"]["errors"]}
    assert codes == {
        "flipped": "damaged",
        "truncated": "truncated",
        "extra byte": "damaged",
        "other part id": "damaged",
        "not a part": "format",
        "version 2": "format",
    }


def test_python_decrypts_parts_sealed_in_the_browser(exchange: dict[str, Any]) -> None:
    report_key = exchange["report"]
    for wanted, made in zip(exchange["encrypt"], exchange["answer"]["encrypted"], strict=True):
        blob = bytes.fromhex(made["blob_hex"])
        meta, content = decrypt_bytes(blob, report_key, REPORT_ID, made["id"])
        assert meta == wanted["meta"]
        assert content == bytes.fromhex(wanted["content_hex"])
        payload = 4 + len(json.dumps(meta, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()) + len(content)
        assert len(blob) == 113 + padded_chunk_count(payload) * 65553


def test_browser_opens_the_body_keyring_through_its_grant_and_chain(exchange: dict[str, Any]) -> None:
    opened = exchange["answer"]["keyring"]
    assert opened == {str(g): bytes(k.public_key).hex() for g, k in exchange["body_keys"].items()}
    assert exchange["answer"]["keyring_forged"] == "notyours"


def test_padding_matches_the_reference(exchange: dict[str, Any]) -> None:
    for n in exchange["lengths"]:
        assert exchange["answer"]["padme"][str(n)] == [padme(n), padded_chunk_count(n)], n
