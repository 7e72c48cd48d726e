"""Format v1 test vectors: the current code must reproduce and decrypt every one.

A failure here means the byte format changed. That needs a new format version
and docs/format.md updated, never a regenerated v1.json.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import nacl.hash
import nacl.pwhash.argon2id as argon2id
import pytest
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey

from parrhesia import crypto

VECTORS = json.loads((Path(__file__).parent / "vectors" / "v1.json").read_text("utf-8"))


def key(hex_text: str) -> PrivateKey:
    return PrivateKey(bytes.fromhex(hex_text))


def test_vectors_are_for_format_version_1():
    assert VECTORS["version"] == crypto.FORMAT_VERSION == 1


def test_public_key_text_and_fingerprint_are_reproduced():
    v = VECTORS["public_key"]
    pk = bytes(key(v["private_key_hex"]).public_key)
    assert pk.hex() == v["public_key_hex"]
    assert crypto.encode_public_key(pk) == v["encoded"]
    assert crypto.decode_public_key(v["encoded"]) == pk
    assert crypto.fingerprint(pk) == v["fingerprint"]


# Each derivation version (docs/format.md, section 4) with its Argon2id parameters
# and personalisation strings, as the spec's table gives them.
SPEC_KDFS = {
    "codename": (1, 3, 33554432, b"prh-source-key-1", b"prh-lookup-id-v1"),
    "codename_v2": (2, 2, 19922944, b"prh-source-key-2", b"prh-lookup-id-v2"),
}


@pytest.mark.parametrize("section", sorted(SPEC_KDFS))
def test_codename_derivation_is_reproduced(section):
    v = VECTORS[section]
    kdf = crypto.CODENAME_KDFS[SPEC_KDFS[section][0]]
    pepper = bytes.fromhex(v["pepper_hex"])
    assert crypto.normalise_codename(v["codename_typed"]) == v["codename_normalised"]
    identity = crypto.derive_source_identity(v["codename_typed"], pepper, kdf)
    assert bytes(identity.private_key).hex() == v["source_private_key_hex"]
    assert identity.public_key.hex() == v["source_public_key_hex"]
    assert identity.lookup_id.hex() == v["lookup_id_hex"]


@pytest.mark.parametrize("section", sorted(SPEC_KDFS))
def test_codename_derivation_follows_the_spec_step_by_step(section):
    # Re-derives with bare libsodium calls exactly as docs/format.md describes.
    v = VECTORS[section]
    _, opslimit, memlimit, person_key, person_lookup = SPEC_KDFS[section]
    pepper = bytes.fromhex(v["pepper_hex"])
    salt = nacl.hash.blake2b(
        b"", digest_size=16, key=pepper, person=b"prh-codename-slt", encoder=RawEncoder
    )
    master = argon2id.kdf(
        32, v["codename_normalised"].encode(), salt, opslimit=opslimit, memlimit=memlimit
    )
    seed = nacl.hash.blake2b(master, digest_size=32, person=person_key, encoder=RawEncoder)
    lookup = nacl.hash.blake2b(
        master, digest_size=32, key=pepper, person=person_lookup, encoder=RawEncoder
    )
    assert salt.hex() == v["argon2id_salt_hex"]
    assert master.hex() == v["master_hex"]
    assert seed.hex() == v["source_private_key_hex"]
    assert lookup.hex() == v["lookup_id_hex"]


def test_the_two_derivation_versions_give_different_identities():
    assert VECTORS["codename"]["codename_typed"] == VECTORS["codename_v2"]["codename_typed"]
    for field in ("master_hex", "source_private_key_hex", "lookup_id_hex"):
        assert VECTORS["codename"][field] != VECTORS["codename_v2"][field]


@pytest.mark.parametrize("holder", ["to_recipient", "to_source"])
def test_sealed_report_keys_open(holder):
    v = VECTORS["sealed_report_key"]
    opened = crypto.open_report_key(
        bytes.fromhex(v[holder]["sealed_hex"]), key(v[holder]["holder_private_key_hex"])
    )
    assert bytes(opened.public_key).hex() == v["report_public_key_hex"]


def test_source_vector_key_is_the_codename_key():
    assert (
        VECTORS["sealed_report_key"]["to_source"]["holder_private_key_hex"]
        == VECTORS["codename"]["source_private_key_hex"]
    )


def test_key_file_unwraps():
    v = VECTORS["key_file"]
    sk = crypto.unwrap_private_key(v["content"].encode(), v["passphrase"].encode())
    assert bytes(sk).hex() == v["expected_private_key_hex"]
    assert crypto.read_public_key_from_keyfile(v["content"].encode()) == bytes(sk.public_key)


def test_session_wrap_unwraps():
    v = VECTORS["session_wrap"]
    sk = crypto.unwrap_for_session(bytes.fromhex(v["blob_hex"]), bytes.fromhex(v["token_hex"]))
    assert bytes(sk).hex() == v["expected_report_private_key_hex"]


@pytest.mark.parametrize("vector", VECTORS["parts"], ids=lambda v: v["part_id"])
def test_stored_parts_decrypt(vector):
    blob = bytes.fromhex(vector["blob_hex"])
    sk = key(vector["report_private_key_hex"])
    meta, content = crypto.decrypt_bytes(blob, sk, vector["report_id"], vector["part_id"])
    assert meta == vector["expected_meta"]
    assert len(content) == vector["content_length"]
    assert hashlib.sha256(content).hexdigest() == vector["content_sha256"]
    if "expected_content_hex" in vector:
        assert content.hex() == vector["expected_content_hex"]
    assert len(blob) == crypto.HEADER_SIZE + vector["chunk_count"] * crypto.CIPHERTEXT_CHUNK_SIZE
    assert blob[:9] == b"PRHP\x01\x00\x01\x00\x00"


@pytest.mark.parametrize("vector", VECTORS["parts"], ids=lambda v: v["part_id"])
def test_stored_parts_are_padded_as_the_current_writer_pads(vector):
    meta_json = bytes.fromhex(vector["expected_meta_json_hex"])
    payload = 4 + len(meta_json) + vector["content_length"]
    assert crypto.padded_chunk_count(payload) == vector["chunk_count"]
    rewritten = crypto.encrypt_bytes(
        b"\x00" * vector["content_length"],
        bytes(key(vector["report_private_key_hex"]).public_key),
        vector["report_id"],
        vector["part_id"],
        vector["expected_meta"],
    )
    assert len(rewritten) == len(bytes.fromhex(vector["blob_hex"]))


def test_large_part_vector_spans_three_chunks():
    assert max(v["chunk_count"] for v in VECTORS["parts"]) == 3


@pytest.mark.parametrize("vector", VECTORS["parts"][:1], ids=lambda v: v["part_id"])
def test_stored_part_refuses_another_part_id(vector):
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_part_to_path(
            io.BytesIO(bytes.fromhex(vector["blob_hex"])),
            Path("/nonexistent-never-created"),
            key(vector["report_private_key_hex"]),
            vector["report_id"],
            vector["part_id"] + "x",
        )


def test_padme_table_is_reproduced():
    for n, expected in VECTORS["padme"].items():
        assert crypto.padme(int(n)) == expected, n


def test_chunk_count_table_is_reproduced():
    for n, expected in VECTORS["padded_chunk_count"].items():
        assert crypto.padded_chunk_count(int(n)) == expected, n


def test_body_key_vector_opens_grant_chain_and_report_key():
    v = VECTORS["body_key"]
    member = key(v["member_private_key_hex"])
    generations = v["generations"]
    second = crypto.open_body_key_grant(bytes.fromhex(v["grant_of_generation_2_hex"]),
                                        bytes.fromhex(v["voucher_public_key_hex"]), member,
                                        bytes.fromhex(generations["2"]["public_key_hex"]))
    first = crypto.open_previous_body_key(bytes.fromhex(generations["2"]["previous_sealed_hex"]), second,
                                          bytes.fromhex(generations["1"]["public_key_hex"]))
    report = crypto.open_report_key(bytes.fromhex(v["report_key_sealed_to_generation_1_hex"]), first)
    assert bytes(report.public_key).hex() == v["report_public_key_hex"]
    for generation in generations.values():
        assert crypto.fingerprint(bytes.fromhex(generation["public_key_hex"])) == generation["fingerprint"]
    # The grant names its voucher: attributed to anyone else, it does not open.
    with pytest.raises(crypto.DecryptionError):
        crypto.open_body_key_grant(bytes.fromhex(v["grant_of_generation_2_hex"]), bytes(member.public_key), member,
                                   bytes.fromhex(generations["2"]["public_key_hex"]))
