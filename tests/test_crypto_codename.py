"""Codenames: generation, normalisation and the identity they derive."""

from __future__ import annotations

import pytest

from parrhesia import crypto
from parrhesia.crypto import (
    CODENAME_WORDS,
    codename_entropy_bits,
    derive_source_identity,
    generate_codename,
    normalise_codename,
)

PEPPER = b"p" * 32


def test_wordlist_is_the_eff_long_list_from_package_data():
    assert len(crypto.WORDLIST) == 7776
    assert len(set(crypto.WORDLIST)) == 7776
    assert crypto.WORDLIST[0] == "abacus"


def test_codename_has_at_least_88_bits_of_entropy():
    assert CODENAME_WORDS == 7
    assert codename_entropy_bits() >= 88


def test_codename_is_seven_lowercase_words_from_the_list():
    words = set(crypto.WORDLIST)
    for _ in range(20):
        codename = generate_codename()
        parts = codename.split(" ")
        assert len(parts) == 7
        assert all(part in words for part in parts)
        assert codename == normalise_codename(codename)


def test_codenames_do_not_repeat():
    assert len({generate_codename() for _ in range(200)}) == 200


def test_codename_words_cover_the_whole_list():
    # 700 draws from 7776 words: a sampler stuck in part of the list would show.
    seen = [crypto.WORDLIST.index(w) for _ in range(100) for w in generate_codename().split()]
    assert min(seen) < 7776 // 4 and max(seen) > 3 * 7776 // 4


@pytest.mark.parametrize(
    "typed",
    [
        "Abacus ABDOMEN abdominal",
        "  abacus   abdomen\tabdominal\n",
        "\u00a0abacus\u3000abdomen  abdominal",
        "ａｂａｃｕｓ abdomen abdominal",
    ],
)
def test_normalise_handles_case_spaces_and_width(typed):
    assert normalise_codename(typed) == "abacus abdomen abdominal"


@pytest.mark.parametrize("typed", ["", "   ", "\t\n"])
def test_normalise_refuses_an_empty_codename(typed):
    with pytest.raises(ValueError, match="empty"):
        normalise_codename(typed)


def test_normalise_refuses_absurdly_long_input():
    with pytest.raises(ValueError, match="too long"):
        normalise_codename("abacus " * 100)


def test_identity_is_the_same_however_the_codename_is_typed():
    a = derive_source_identity("abacus abdomen abdominal abide", PEPPER)
    b = derive_source_identity("  ABACUS abdomen   Abdominal abide ", PEPPER)
    assert a.public_key == b.public_key
    assert a.lookup_id == b.lookup_id
    assert len(a.lookup_id) == 32


def test_different_codenames_give_different_identities():
    a = derive_source_identity("abacus abdomen abdominal abide", PEPPER)
    b = derive_source_identity("abacus abdomen abdominal abiding", PEPPER)
    assert a.public_key != b.public_key
    assert a.lookup_id != b.lookup_id


def test_lookup_ids_and_keys_differ_by_pepper():
    a = derive_source_identity("abacus abdomen abdominal abide", PEPPER)
    b = derive_source_identity("abacus abdomen abdominal abide", b"q" * 32)
    assert a.lookup_id != b.lookup_id
    assert a.public_key != b.public_key


def test_lookup_id_is_not_derived_from_the_source_key():
    identity = derive_source_identity("abacus abdomen abdominal abide", PEPPER)
    assert identity.lookup_id not in (identity.public_key, bytes(identity.private_key))


@pytest.mark.parametrize("pepper", [b"", b"short", b"x" * 65, "text" * 8])
def test_pepper_of_unusable_size_or_type_is_refused(pepper):
    with pytest.raises(ValueError, match="pepper"):
        derive_source_identity("abacus abdomen", pepper)


def test_source_identity_repr_does_not_reveal_secrets():
    identity = derive_source_identity("abacus abdomen abdominal abide", PEPPER)
    text = repr(identity)
    assert bytes(identity.private_key).hex() not in text
    assert identity.lookup_id.hex() not in text and repr(identity.lookup_id) not in text
