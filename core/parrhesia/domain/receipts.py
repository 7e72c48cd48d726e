"""A source's proof of reporting: the receipt of a stored report, signed by the instance.

A receipt states the instance, the report's public reference, the day it was
submitted, the bodies holding it and its legal deadlines, as they stand on the day it
is issued; never its content, subject, routing answers or codename. It is issued to
the report's own logged-in source only, on demand, and nothing of it is stored: the
instance can issue the same facts again, and keeps no record of who asked when.
The byte format and its signature are :mod:`parrhesia.crypto.receipt` (docs/format.md §9).
"""

from __future__ import annotations

from datetime import date

from nacl.signing import SigningKey

from parrhesia.contract.directory import Directory
from parrhesia.crypto.receipt import ReceiptBody, ReceiptDeadline, ReceiptFacts, sign_receipt
from parrhesia.domain import access
from parrhesia.storage.models import Report

__all__ = ["REFERENCE_LENGTH", "facts_of", "issue", "reference_of"]

# The desk lists a report by the first 8 characters of its id and shows all of it on
# the report's page, so a body can find the report a source's receipt names. The id is
# no credential (logging in takes the codename); 16 hex digits leave no ambiguity.
REFERENCE_LENGTH = 16


def reference_of(report: Report) -> str:
    """The report's public reference: the start of its id."""
    return report.id[:REFERENCE_LENGTH]


def facts_of(report: Report, directory: Directory, *, instance_name: str, on: date) -> ReceiptFacts:
    """What a receipt issued on ``on`` says about ``report``: the bodies holding it now
    (by name in the directory) and each of its deadlines with its state."""

    def name(body_id: str) -> str:
        body = directory.get(body_id)
        return body.name if body else body_id

    holders = sorted(access.route_of(report))
    clocks = sorted(report.clocks, key=lambda c: (c.due_on, c.body_id or "", c.clock_id))
    return ReceiptFacts(
        instance=instance_name,
        reference=reference_of(report),
        submitted_on=report.created_on,
        issued_on=on,
        bodies=tuple(ReceiptBody(id=body_id, name=name(body_id)) for body_id in holders),
        deadlines=tuple(
            ReceiptDeadline(due_on=c.due_on, state=c.state, body_id=c.body_id, label=c.label) for c in clocks
        ),
    )


def issue(report: Report, directory: Directory, signing_key: SigningKey, *, instance_name: str, on: date) -> bytes:
    """The signed receipt file of ``report``, issued on ``on``."""
    return sign_receipt(facts_of(report, directory, instance_name=instance_name, on=on), signing_key)
