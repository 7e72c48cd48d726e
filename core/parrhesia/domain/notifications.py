"""Notifications: telling recipients that something needs them, and nothing more.

When a report arrives or a source writes again, the core queues a content-free item
for every recipient of the bodies on the route (in the same transaction as the
report). ``parrhesia notify`` (run on a schedule, e.g. the systemd timer in deploy/)
also queues "clock-due" items for deadlines about to expire, then sends one message
per recipient per run through the ``parrhesia_notify`` hook (built-in: e-mail and
webhook). Messages carry counts by kind only — no report id, subject, or anything a
source wrote — and their timing reveals only the schedule, not the moment of a
submission.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from parrhesia.contract.manager import PluginFailure, call_each
from parrhesia.contract.notification_batch import KINDS, Notification
from parrhesia.domain.host import PluginHost
from parrhesia.storage.models import QueuedNotification, Recipient, ReportBody, ReportClock

__all__ = [
    "KINDS",
    "WARN_DAYS",
    "Notification",
    "FlushResult",
    "enqueue_for_bodies",
    "queue_due_clocks",
    "flush",
]

WARN_DAYS = 2


@dataclass
class FlushResult:
    sent: int = 0
    undelivered: int = 0
    failures: list[PluginFailure] = field(default_factory=list)


def enqueue_for_bodies(db: Session, body_ids: Iterable[str], kind: str, *, on: date) -> int:
    """Queue an item for each active recipient of the bodies (added, not committed)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    ids = sorted(set(body_ids))
    recipients = db.scalars(select(Recipient.id).where(Recipient.body_id.in_(ids), Recipient.active.is_(True)))
    count = 0
    for recipient_id in recipients:
        db.add(QueuedNotification(recipient_id=recipient_id, kind=kind, created_on=on))
        count += 1
    return count


def queue_due_clocks(db: Session, *, on: date, within_days: int = WARN_DAYS) -> int:
    """Queue "clock-due" once for each running clock due within ``within_days``."""
    horizon = on + timedelta(days=within_days)
    clocks = db.scalars(
        select(ReportClock).where(
            ReportClock.state == "running", ReportClock.due_on <= horizon, ReportClock.warned_on.is_(None)
        )
    )
    count = 0
    for clock in clocks:
        route = db.scalars(
            select(ReportBody.body_id).where(ReportBody.report_id == clock.report_id, ReportBody.role == "route")
        )
        bodies = [b for b in route if clock.body_id in (None, b)]
        count += enqueue_for_bodies(db, bodies, "clock-due", on=on)
        clock.warned_on = on
    db.commit()
    return count


def flush(host: PluginHost, db: Session, *, only: Iterable[int] | None = None) -> FlushResult:
    """Send one message per recipient with queued items; keep the items on failure.

    ``only`` limits the batch to some recipients: the urgent path notifies the duty
    body's recipients at once instead of waiting for the hourly batch. No transaction
    is open while messages go out (e-mail and webhooks may take their 30 s): on SQLite
    it would hold the write lock, for every other process too. Commits.
    """
    result = FlushResult()
    query = select(QueuedNotification).order_by(QueuedNotification.id)
    if only is not None:
        query = query.where(QueuedNotification.recipient_id.in_(list(only)))
    by_recipient: dict[int, list[QueuedNotification]] = defaultdict(list)
    for item in db.scalars(query):
        by_recipient[item.recipient_id].append(item)
    public_url = host.config.raw.get("instance", {}).get("public_url")
    batches: list[tuple[Notification, list[int]]] = []
    for recipient_id, items in by_recipient.items():
        recipient = db.get(Recipient, recipient_id)
        if recipient is None or not recipient.active:
            _forget(db, [i.id for i in items])
            continue
        batches.append((Notification(
            recipient_id=recipient.id,
            name=recipient.name,
            email=recipient.email,
            instance_name=host.config.name,
            counts=dict(Counter(item.kind for item in items)),
            desk_url=f"{public_url.rstrip('/')}/desk/" if isinstance(public_url, str) else None,
        ), [i.id for i in items]))
    db.commit()
    delivered: list[int] = []
    for notification, ids in batches:
        answers, failures = call_each(host.manager, "parrhesia_notify", notification=notification, config=host.config)
        result.failures += failures
        if any(answer is True for _, answer in answers):
            result.sent += 1
            delivered += ids
        else:
            result.undelivered += 1
    _forget(db, delivered)
    db.commit()
    return result


def _forget(db: Session, ids: list[int]) -> None:
    if ids:
        db.execute(delete(QueuedNotification).where(QueuedNotification.id.in_(ids)))


