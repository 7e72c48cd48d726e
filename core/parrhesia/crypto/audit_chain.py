"""The audit log's hash chain: one definition of an entry's hash, for the server that
writes the log (:mod:`parrhesia.domain.audit`) and the recipient's machine that checks
an evidence package (:mod:`parrhesia.recipient.evidence`); docs/format.md, "Evidence
packages"."""

from __future__ import annotations

import hashlib
import json

__all__ = ["GENESIS", "entry_hash"]

GENESIS = "0" * 64  # the "previous hash" of the first entry


def entry_hash(
    previous: str, seq: int, at: str, actor: str, action: str, report_id: str | None, body_id: str | None, detail: str
) -> str:
    """SHA-256 over the previous hash and this entry's fields, unambiguously encoded
    (a compact JSON array, UTF-8, non-ASCII characters as themselves), in hex."""
    payload = json.dumps(
        [previous, seq, at, actor, action, report_id, body_id, detail], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
