"""What the instance signs for its recipients, with its receipt key: a report's audit
entries and the chain's head (for an evidence package, docs/format.md §10), and the
anchor statement a recipient's desk compares with the head it remembers (§13).

The API and the web desk answer with the same dictionaries, made here once.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from nacl.signing import SigningKey
from sqlalchemy.orm import Session

from parrhesia.config import ConfigError
from parrhesia.crypto.audit_chain import AnchorStatement, anchor_statement, head_statement
from parrhesia.crypto.receipt import encode_verify_key
from parrhesia.domain import audit
from parrhesia.instance import current_instance, receipt_signing_key
from parrhesia.storage.models import AuditEntry

__all__ = ["SigningUnavailable", "anchor", "since_argument", "vouch_report"]

log = logging.getLogger(__name__)


class SigningUnavailable(Exception):
    """The instance's signing key cannot be read or made (``parrhesia doctor`` says why)."""


def _signing_key() -> SigningKey:
    try:
        return receipt_signing_key(current_instance().config)
    except (ConfigError, OSError) as problem:
        log.error("the instance signing key cannot be read or made (%s): run `parrhesia doctor`", type(problem).__name__)
        raise SigningUnavailable from None


def _signed(make: Callable[[str, str], bytes]) -> dict[str, str]:
    """``make(instance_key, at)`` signed: the statement, its signature (base64), the key."""
    key = _signing_key()
    instance_key = encode_verify_key(bytes(key.verify_key))
    at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    statement = make(instance_key, at)
    return {"statement": statement.decode("ascii"), "signature": base64.b64encode(key.sign(statement).signature).decode(),
            "instance_key": instance_key}


def vouch_report(report_id: str, entries: list[AuditEntry], head: AuditEntry | None) -> dict[str, str] | None:
    """The instance's signature over a report's entries and the chain's head; None if the
    log is empty or the instance cannot sign (the package then says it was not vouched for)."""
    if head is None:
        return None
    try:
        return _signed(lambda key, at: head_statement(
            key, report_id, [(e.seq, e.hash) for e in entries], head.seq, head.hash, at))
    except SigningUnavailable:
        return None


_MAX_SEQ = 2**63 - 1


def since_argument(text: str | None) -> int | None:
    """The ``since`` query argument of the anchor routes: the number of the entry the
    desk remembers, or nothing; ValueError saying what is wrong."""
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= _MAX_SEQ:
        raise ValueError("since must be the number of an audit entry (a whole number from 1).")
    return int(text)


def anchor(db: Session, since_seq: int | None) -> dict[str, str]:
    """The signed answer to a desk that remembers entry ``since_seq`` (None: nothing yet);
    SigningUnavailable if the instance cannot sign."""
    found = audit.anchor(db, since_seq)
    return _signed(lambda key, at: anchor_statement(AnchorStatement(
        instance_key=key, since_seq=found.since_seq, since_hash=found.since_hash, head_seq=found.head_seq,
        head_hash=found.head_hash, broken_at=found.problem.seq if found.problem else None, at=at)))
