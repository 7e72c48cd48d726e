"""The audit log's hash chain: one definition of an entry's hash, for the server that
writes the log (:mod:`parrhesia.domain.audit`) and the recipient's machine that checks
an evidence package (:mod:`parrhesia.recipient.evidence`); docs/format.md, "Evidence
packages"; and the anchor statement a recipient's desk compares with the head it
remembers, with the one rule of that comparison (docs/format.md §13, "Audit anchors";
the browser desk's anchor.js follows the same rule, checked by the same vectors)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ANCHOR_STATEMENT_MAGIC", "GENESIS", "HEAD_STATEMENT_MAGIC", "AnchorStatement", "AnchorVerdict", "RememberedHead",
    "anchor_statement", "anchor_verdict", "entries_digest", "entry_hash", "head_statement", "read_anchor_statement",
]

GENESIS = "0" * 64  # the "previous hash" of the first entry
HEAD_STATEMENT_MAGIC = "parrhesia-audit-head 1"
ANCHOR_STATEMENT_MAGIC = "parrhesia-audit-anchor 1"


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


@dataclass(frozen=True)
class AnchorStatement:
    """What the instance signs when a desk asks whether the chain extends the entry it
    remembers (``since_seq``, None on a desk's first look)."""

    instance_key: str
    since_seq: int | None
    since_hash: str | None  # None: that entry is no longer in the log
    head_seq: int
    head_hash: str
    broken_at: int | None  # the first entry from since_seq on whose hash or link is wrong
    at: str


def anchor_statement(statement: AnchorStatement) -> bytes:
    """Six LF-terminated lines of ASCII (docs/format.md §13)."""
    if statement.since_seq is None:
        since = "none"
    else:
        since = f"{int(statement.since_seq)} {statement.since_hash or 'missing'}"
    segment = "intact" if statement.broken_at is None else f"broken {int(statement.broken_at)}"
    lines = [
        ANCHOR_STATEMENT_MAGIC,
        f"instance-key: {statement.instance_key}",
        f"since: {since}",
        f"head: {int(statement.head_seq)} {statement.head_hash}",
        f"segment: {segment}",
        f"at: {statement.at}",
    ]
    return "".join(line + "\n" for line in lines).encode("ascii")


_ANCHOR_LINES = re.compile(
    r"\A" + re.escape(ANCHOR_STATEMENT_MAGIC) + r"\n"
    r"instance-key: (?P<key>prh1vk_[A-Za-z0-9_-]{43})\n"
    r"since: (?:none|(?P<since>[1-9][0-9]{0,18}) (?P<since_hash>[0-9a-f]{64}|missing))\n"
    r"head: (?P<head>0|[1-9][0-9]{0,18}) (?P<head_hash>[0-9a-f]{64})\n"
    r"segment: (?:intact|broken (?P<broken>[1-9][0-9]{0,18}))\n"
    r"at: (?P<at>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)\n\Z"
)


def read_anchor_statement(data: bytes) -> AnchorStatement:
    """Parse an anchor statement exactly as :func:`anchor_statement` writes it;
    ValueError if it is anything else."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("an audit anchor statement is ASCII text") from None
    found = _ANCHOR_LINES.match(text)
    if found is None:
        raise ValueError("not an audit anchor statement of this version")
    since = found["since"]
    return AnchorStatement(
        instance_key=found["key"],
        since_seq=int(since) if since else None,
        since_hash=None if not since or found["since_hash"] == "missing" else found["since_hash"],
        head_seq=int(found["head"]),
        head_hash=found["head_hash"],
        broken_at=int(found["broken"]) if found["broken"] else None,
        at=found["at"],
    )


@dataclass(frozen=True)
class RememberedHead:
    """The head a desk saw last, and the instance key that signed it."""

    seq: int
    hash: str
    instance_key: str


class AnchorVerdict(StrEnum):
    """What a desk concludes from a signed anchor statement and the head it remembers."""

    FIRST = "first"  # nothing remembered yet: remember this head
    EXTENDS = "extends"  # the log still holds the remembered entry, unchanged, and grew from it
    OTHER_KEY = "other-key"  # signed by another instance key than the one remembered
    NOT_ASKED = "not-asked"  # the statement answers another question than the one asked
    CUT = "cut"  # the remembered entry is gone: the log was cut below it
    REWRITTEN = "rewritten"  # the remembered entry has another hash: the log was rewritten
    BROKEN = "broken"  # the entries since the remembered one do not chain


def anchor_verdict(remembered: RememberedHead | None, statement: AnchorStatement) -> AnchorVerdict:
    """The one rule of the comparison; its signature must have been checked already.
    Only FIRST and EXTENDS let a desk remember the new head; every other verdict is a
    warning, and the remembered head is kept."""
    if remembered is None:
        return AnchorVerdict.FIRST if statement.since_seq is None else AnchorVerdict.NOT_ASKED
    if statement.instance_key != remembered.instance_key:
        return AnchorVerdict.OTHER_KEY
    if statement.since_seq != remembered.seq:
        return AnchorVerdict.NOT_ASKED
    if statement.since_hash is None or statement.head_seq < remembered.seq:
        return AnchorVerdict.CUT
    if statement.since_hash != remembered.hash:
        return AnchorVerdict.REWRITTEN
    if statement.broken_at is not None:
        return AnchorVerdict.BROKEN
    return AnchorVerdict.EXTENDS
