"""What the recipients' interfaces hand out about one report for an evidence package
(docs/format.md §10), made here once: the API (``GET /api/v1/reports/<id>`` and
``…/audit``, which ``parrhesia desk export`` reads) and the web desk (whose page
builds the same package in the browser) answer with these dictionaries.

Nothing here is content: the server holds none it could read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from parrhesia.crypto import encode_public_key
from parrhesia.domain import casework
from parrhesia.domain.host import current_host
from parrhesia.storage.models import Recipient, Report
from parrhesia.web import vouching

__all__ = ["facts", "record", "recipient_facts"]


def facts(report: Report) -> dict[str, Any]:
    """The report's own facts, as the API describes a report: status, days, public key,
    route, escalation, the fallback route, how it was taken and the routing fields."""
    return {
        "id": report.id,
        "status": report.status,
        "created_on": report.created_on.isoformat(),
        "updated_on": report.updated_on.isoformat(),
        "public_key": encode_public_key(report.public_key),
        "route": [b.body_id for b in report.bodies if b.role == "route"],
        "escalation": [b.body_id for b in report.bodies if b.role == "escalation"],
        "fallback_route": report.fallback_route,
        # Taken in person or by telephone ("in-person", "telephone"; null: online), by which body.
        "intake": report.intake,
        "intake_body": report.intake_body,
        "fields": {name: [f.value for f in report.fields if f.name == name]
                   for name in sorted({f.name for f in report.fields})},
    }


def record(db: Session, report: Report, recipient: Recipient) -> dict[str, Any]:
    """The report's record for an evidence package (read-only, not itself recorded): its
    audit entries with their hashes and the chain's head, vouched for by the instance,
    every body's role with its reason (route, exclusions, recusals, transfers), its
    escalations and the clocks ``recipient`` may see."""
    entries, head = casework.audit_trail(db, report, recipient)
    listed = [
        {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "report_id": e.report_id,
         "body_id": e.body_id, "detail": e.detail, "prev_hash": e.prev_hash, "hash": e.hash}
        for e in entries
    ]
    return {
        "report": report.id,
        "entries": listed,
        # The entries that changed a clock, as the package's clock history lists them.
        "clock_history": [entry for entry in listed if _about_clocks(entry)],
        "head": {"seq": head.seq, "hash": head.hash} if head else None,
        "vouched": vouching.vouch_report(report.id, entries, head),
        "bodies": [{"body": b.body_id, "role": b.role, "reason": b.reason, "rank": b.rank}
                   for b in sorted(report.bodies, key=lambda b: (b.role, b.rank or 0, b.body_id))],
        "escalations": [{"body": e.body_id, "trigger": e.trigger, "reason": e.reason, "on": e.on.isoformat()}
                        for e in sorted(report.escalations, key=lambda e: (e.on, e.id))],
        "clocks": [
            {"id": c.clock_id, "label": c.label, "legal_source": c.legal_source, "body": c.body_id,
             "due_on": c.due_on.isoformat(), "state": c.state, "met_by": c.met_by, "pausable": c.pausable,
             "paused_on": c.paused_on.isoformat() if c.paused_on else None, "pause_reason": c.pause_reason,
             "extendable_to_months": c.extendable_to_months, "extension_reason": c.extension_reason}
            for c in casework.visible_clocks(report, recipient)
        ],
    }


def _about_clocks(entry: dict[str, Any]) -> bool:
    action = str(entry["action"])
    return action.startswith(("clock.", "clocks.")) or action in ("acknowledge", "escalation") or (
        action == "reply" and '"feedback":true' in str(entry["detail"] or ""))


def recipient_facts(recipient: Recipient) -> dict[str, Any]:
    """Who a recipient is, as ``GET /api/v1/me`` says it and as an exporter is recorded."""
    body = current_host().directory.get(recipient.body_id)
    return {
        "id": recipient.id,
        "name": recipient.name,
        "role": recipient.role,
        "body": {"id": recipient.body_id, "name": body.name if body else recipient.body_id},
        "public_key": encode_public_key(recipient.public_key),
    }
