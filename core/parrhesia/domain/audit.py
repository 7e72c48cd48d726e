"""The audit log: every access and action, content-free and hash-chained.

Each entry records who (an account id and role, never an IP address), did what, to
which report or body, when, and a small JSON detail that never holds content. Its hash
covers its own fields and the previous entry's hash, so deleting, reordering or
editing an entry breaks the chain at that point; :func:`verify` says where. Removing
the newest entries leaves a shorter intact chain: ``parrhesia audit verify`` prints the
head (sequence number and hash) so that operators can keep it elsewhere and compare.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parrhesia.crypto.audit_chain import GENESIS, entry_hash
from parrhesia.storage.models import AuditEntry, Operator, Recipient

__all__ = [
    "GENESIS", "SOURCE", "Anchor", "ChainBreak", "actor_of", "anchor", "entry_hash", "of_report", "record", "review",
    "verify",
]

SOURCE = "source"
_ATTEMPTS = 20


def actor_of(account: Recipient | Operator) -> str:
    """How an account is named in the audit log: its kind and id, never a name."""
    kind = "recipient" if isinstance(account, Recipient) else "operator"
    return f"{kind}:{account.id}"


def record(
    db: Session,
    action: str,
    *,
    actor: str,
    report_id: str | None = None,
    body_id: str | None = None,
    detail: dict[str, Any] | None = None,
    day_only: bool = False,
) -> AuditEntry:
    """Append an entry (added to the session; committed with the caller's transaction).

    ``actor`` is e.g. "recipient:12", "operator:1", "source" or "system"; ``detail``
    must hold identifiers and states only, never content. What a source did is dated
    to the day only: no exact time of source activity is ever stored; ``day_only``
    dates so an entry that tells of it otherwise (a report taken in person).
    """
    now = datetime.now(UTC)
    at = now.date().isoformat() if actor == SOURCE or day_only else now.replace(microsecond=0).isoformat()
    detail_text = json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    attempt = 0
    while True:
        # Two writers may read the same last entry; the loser retries on top of the
        # winner's entry (the sequence number is the primary key).
        try:
            with db.begin_nested():
                last = db.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
                seq = (last.seq + 1) if last else 1
                previous = last.hash if last else GENESIS
                entry = AuditEntry(
                    seq=seq,
                    at=at,
                    actor=actor,
                    action=action,
                    report_id=report_id,
                    body_id=body_id,
                    detail=detail_text,
                    prev_hash=previous,
                    hash=entry_hash(previous, seq, at, actor, action, report_id, body_id, detail_text),
                )
                db.add(entry)
                db.flush()
            return entry
        except IntegrityError:
            attempt += 1
            if attempt >= _ATTEMPTS:
                raise
            time.sleep(0.01 * attempt)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def verify(entries: Iterable[AuditEntry], *, previous: str = GENESIS, first_seq: int = 1) -> ChainBreak | None:
    """Check the chain in ``seq`` order; return the first break, or None if intact.

    A segment is checked from its first entry, ``first_seq``, whose stored previous
    hash is then taken as given (``previous``).
    """
    expected_seq = first_seq
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainBreak(entry.seq, f"entry {expected_seq} is missing (found {entry.seq} next)")
        if entry.prev_hash != previous:
            return ChainBreak(entry.seq, "it does not follow the previous entry (deleted or reordered)")
        recomputed = entry_hash(
            previous, entry.seq, entry.at, entry.actor, entry.action, entry.report_id, entry.body_id, entry.detail
        )
        if recomputed != entry.hash:
            return ChainBreak(entry.seq, "its content was changed after it was written")
        previous = entry.hash
        expected_seq += 1
    return None


def review(db: Session, operator: Operator | Recipient) -> tuple[int, ChainBreak | None]:
    """An operator's check of the whole chain: how many entries, and its first break;
    the review itself is recorded (committed)."""
    entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    problem = verify(entries)
    record(db, "operator.view", actor=actor_of(operator))
    db.commit()
    return len(entries), problem


def of_report(db: Session, report_id: str) -> tuple[list[AuditEntry], AuditEntry | None]:
    """A report's entries in chain order, and the head of the whole chain (its newest
    entry, None while the log is empty): what an evidence package records."""
    entries = list(db.scalars(select(AuditEntry).where(AuditEntry.report_id == report_id).order_by(AuditEntry.seq)))
    head = db.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    return entries, head


@dataclass(frozen=True)
class Anchor:
    """What a recipient's desk compares with the head it remembers: the chain's head
    now, the hash the entry it remembers has now (None if that entry is gone), and the
    first break between the two (None if the segment is intact)."""

    head_seq: int
    head_hash: str
    since_seq: int | None
    since_hash: str | None
    problem: ChainBreak | None


_SEGMENT_BATCH = 1000


def anchor(db: Session, since_seq: int | None) -> Anchor:
    """The head of the chain, and whether it extends entry ``since_seq``.

    The entries from ``since_seq`` to the head are checked here (hashes recomputed,
    links followed), in batches; entry ``since_seq`` is checked against its own stored
    previous hash. A desk that remembered entry ``since_seq`` with a hash then knows
    that the log was neither cut below it nor rewritten up to it (docs/format.md §13).
    """
    head = db.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if since_seq is None:
        return Anchor(head_seq, head_hash, None, None, None)
    since = db.get(AuditEntry, since_seq)
    if since is None:
        return Anchor(head_seq, head_hash, since_seq, None, None)
    segment = db.scalars(
        select(AuditEntry).where(AuditEntry.seq >= since_seq).order_by(AuditEntry.seq)
        .execution_options(yield_per=_SEGMENT_BATCH)
    )
    problem = verify(segment, previous=since.prev_hash, first_seq=since_seq)
    return Anchor(head_seq, head_hash, since_seq, since.hash, problem)
