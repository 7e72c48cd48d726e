"""Report keys sealed to their holders, and wrapped for a source's session."""

from __future__ import annotations

import os

import pytest

from parrhesia.crypto import (
    SEALED_REPORT_KEY_SIZE,
    DecryptionError,
    generate_recipient_key,
    new_report_keypair,
    open_report_key,
    seal_report_key,
    unwrap_for_session,
    wrap_for_session,
)


def test_sealed_report_key_opens_with_the_holders_key():
    report, holder = new_report_keypair(), generate_recipient_key()
    sealed = seal_report_key(report, bytes(holder.public_key))
    assert len(sealed) == SEALED_REPORT_KEY_SIZE == 80
    assert bytes(open_report_key(sealed, holder)) == bytes(report)


def test_sealed_report_key_does_not_open_for_someone_else():
    report, holder = new_report_keypair(), generate_recipient_key()
    sealed = seal_report_key(report, bytes(holder.public_key))
    with pytest.raises(DecryptionError, match="sealed to someone else"):
        open_report_key(sealed, generate_recipient_key())


def test_tampered_sealed_report_key_is_refused():
    holder = generate_recipient_key()
    sealed = bytearray(seal_report_key(new_report_keypair(), bytes(holder.public_key)))
    sealed[40] ^= 1
    with pytest.raises(DecryptionError):
        open_report_key(bytes(sealed), holder)


def test_session_wrapped_report_key_needs_the_cookie_token():
    report, token = new_report_keypair(), os.urandom(32)
    blob = wrap_for_session(report, token)
    assert bytes(unwrap_for_session(blob, token)) == bytes(report)
    with pytest.raises(DecryptionError):
        unwrap_for_session(blob, os.urandom(32))


def test_session_blob_does_not_contain_the_report_key():
    report = new_report_keypair()
    assert bytes(report) not in wrap_for_session(report, os.urandom(32))


def test_short_session_token_is_refused():
    with pytest.raises(ValueError):
        wrap_for_session(new_report_keypair(), b"short")
