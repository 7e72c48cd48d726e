"""Recipient keys, key files, fingerprints and public key text."""

from __future__ import annotations

import json
import re

import nacl.pwhash.argon2id as argon2id
import pytest

from parrhesia.crypto import (
    KeyFileError,
    decode_public_key,
    encode_public_key,
    fingerprint,
    generate_recipient_key,
    looks_like_private_key_file,
    read_public_key_from_keyfile,
    unwrap_private_key,
    wrap_private_key,
)

FAST = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}


def wrapped(sk=None, passphrase: bytes = b"hunter2 hunter2") -> bytes:
    return wrap_private_key(sk or generate_recipient_key(), passphrase, **FAST)


def test_key_file_round_trips_with_its_passphrase():
    sk = generate_recipient_key()
    assert bytes(unwrap_private_key(wrapped(sk), b"hunter2 hunter2")) == bytes(sk)


def test_key_file_records_public_key_fingerprint_and_kdf_parameters():
    sk = generate_recipient_key()
    document = json.loads(wrapped(sk))
    assert document["format"] == "parrhesia-recipient-key"
    assert document["version"] == 1
    assert document["fingerprint"] == fingerprint(bytes(sk.public_key))
    assert document["kdf"]["alg"] == "argon2id13"
    assert document["kdf"]["opslimit"] == argon2id.OPSLIMIT_MIN
    assert document["kdf"]["memlimit"] == argon2id.MEMLIMIT_MIN


def test_key_file_never_contains_the_raw_private_key():
    sk = generate_recipient_key()
    data = wrapped(sk)
    assert bytes(sk).hex().encode() not in data
    assert encode_public_key(bytes(sk)).split("_", 1)[1].encode() not in data


def test_wrong_passphrase_is_refused_with_a_clear_message():
    with pytest.raises(KeyFileError, match="wrong passphrase or damaged key file"):
        unwrap_private_key(wrapped(), b"not the passphrase")


def test_two_wraps_of_the_same_key_use_different_salts():
    sk = generate_recipient_key()
    assert json.loads(wrapped(sk))["kdf"]["salt"] != json.loads(wrapped(sk))["kdf"]["salt"]


def test_empty_passphrase_is_refused():
    with pytest.raises(ValueError):
        wrap_private_key(generate_recipient_key(), b"", **FAST)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: b"not json at all",
        lambda d: b"\xff\xfe",
        lambda d: json.dumps([1, 2]).encode(),
        lambda d: json.dumps({**d, "format": "something-else"}).encode(),
        lambda d: json.dumps({**d, "version": 2}).encode(),
        lambda d: json.dumps({**d, "wrapped": d["wrapped"][:-4]}).encode(),
        lambda d: json.dumps({**d, "wrapped": "!!!"}).encode(),
        lambda d: json.dumps({**d, "kdf": {**d["kdf"], "alg": "scrypt"}}).encode(),
        lambda d: json.dumps({**d, "kdf": {**d["kdf"], "memlimit": 2**40}}).encode(),
        lambda d: json.dumps({**d, "kdf": {**d["kdf"], "opslimit": "3"}}).encode(),
        lambda d: json.dumps({**d, "kdf": {**d["kdf"], "salt": "AAAA"}}).encode(),
        lambda d: json.dumps({**d, "fingerprint": "0000"}).encode(),
    ],
)
def test_malformed_key_files_raise_key_file_error(damage):
    document = json.loads(wrapped())
    with pytest.raises(KeyFileError):
        unwrap_private_key(damage(document), b"hunter2 hunter2")


def test_key_file_with_a_spliced_public_key_is_refused():
    document = json.loads(wrapped())
    other = json.loads(wrapped())
    document["public_key"] = other["public_key"]
    document["fingerprint"] = other["fingerprint"]
    with pytest.raises(KeyFileError, match="do not match"):
        unwrap_private_key(json.dumps(document).encode(), b"hunter2 hunter2")


def test_public_key_is_readable_from_key_file_without_passphrase():
    sk = generate_recipient_key()
    assert read_public_key_from_keyfile(wrapped(sk)) == bytes(sk.public_key)


def test_fingerprint_is_ten_groups_of_four_uppercase_hex():
    fpr = fingerprint(bytes(generate_recipient_key().public_key))
    assert re.fullmatch(r"[0-9A-F]{4}( [0-9A-F]{4}){9}", fpr)


def test_fingerprints_of_different_keys_differ():
    a, b = (bytes(generate_recipient_key().public_key) for _ in range(2))
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_refuses_a_key_of_wrong_length():
    with pytest.raises(ValueError):
        fingerprint(b"\x00" * 31)


def test_public_key_text_round_trips():
    pk = bytes(generate_recipient_key().public_key)
    text = encode_public_key(pk)
    assert text.startswith("prh1pk_") and "=" not in text
    assert decode_public_key(text) == pk
    assert decode_public_key(f"  {text}\n") == pk


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("W7bF1s0XDxOW5eDFJzj-_pyeVZlcuDcBuKGalYJdrWo", "starts with"),
        ("prh1pk_W7bF1s0XDxOW5eDFJzj-_pyeVZlcuDcBuKGalYJd", "wrong length"),
        ("prh1pk_W7bF1s0XDxOW5eDFJzj-_pyeVZlcuDcBuKGalYJdrWoAAAA", "wrong length"),
        ("prh1pk_W7bF1s0XDxOW5eDFJzj+/pyeVZlcuDcBuKGalYJdrWo", "damaged"),
        ("prh1pk_", "wrong length"),
    ],
)
def test_bad_public_key_text_raises_value_error_saying_why(text, message):
    with pytest.raises(ValueError, match=message):
        decode_public_key(text)


def test_private_key_material_is_recognised_in_any_usual_form():
    sk = generate_recipient_key()
    assert looks_like_private_key_file(wrapped(sk))
    assert looks_like_private_key_file(bytes(sk))
    assert looks_like_private_key_file(bytes(sk).hex().encode() + b"\n")
    assert looks_like_private_key_file(b"-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY-----\n")
    assert looks_like_private_key_file(json.dumps({"private_key": "x"}).encode())


def test_public_key_files_are_not_mistaken_for_private_keys():
    pk = bytes(generate_recipient_key().public_key)
    assert not looks_like_private_key_file(encode_public_key(pk).encode() + b"\n")
    assert not looks_like_private_key_file(b"# Ministry of Finance\n")
    assert not looks_like_private_key_file(json.dumps({"name": "Audit office"}).encode())
