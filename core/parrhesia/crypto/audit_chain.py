"""The audit log's hash chain: one definition of an entry's hash, for the server that
writes the log (:mod:`parrhesia.domain.audit`) and the recipient's machine that checks
an evidence package (:mod:`parrhesia.recipient.evidence`); docs/format.md, "Evidence
packages"."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

__all__ = ["GENESIS", "HEAD_STATEMENT_MAGIC", "entry_hash", "entries_digest", "head_statement"]

GENESIS = "0" * 64  # the "previous hash" of the first entry
HEAD_STATEMENT_MAGIC = "parrhesia-audit-head 1"


def entry_hash(
    previous: str, seq: int, at: str, actor: str, action: str, report_id: str | None, body_id: str | None, detail: str
) -> str:
    """SHA-256 over the previous hash and this entry's fields, unambiguously encoded
    (a compact JSON array, UTF-8, non-ASCII characters as themselves), in hex."""
    payload = json.dumps(
        [previous, seq, at, actor, action, report_id, body_id, detail], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def entries_digest(entries: Iterable[tuple[int, str]]) -> str:
    """SHA-256 (hex) of the lines ``"<seq> <hash>\n"`` of some entries, in chain order."""
    digest = hashlib.sha256()
    for seq, hashed in entries:
        digest.update(f"{int(seq)} {hashed}\n".encode("ascii"))
    return digest.hexdigest()


def head_statement(
    instance_key: str, report_id: str, entries: list[tuple[int, str]], head_seq: int, head_hash: str, at: str
) -> bytes:
    """What the instance signs to vouch for a report's audit entries and its chain's head
    at ``at``: six LF-terminated lines of ASCII (docs/format.md, "Evidence packages")."""
    lines = [
        HEAD_STATEMENT_MAGIC,
        f"instance-key: {instance_key}",
        f"report: {report_id}",
        f"entries: {len(entries)} {entries_digest(entries)}",
        f"head: {int(head_seq)} {head_hash}",
        f"at: {at}",
    ]
    return "".join(line + "\n" for line in lines).encode("ascii")
