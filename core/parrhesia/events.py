"""Events: content-free facts about a report, and the one place they are dispatched.

Domain operations (a submission, a follow-up, an escalation, a transfer, a recusal, a
protection request) return :class:`Event` values naming the bodies concerned; the
caller hands them to :func:`dispatch`, which queues the content-free notifications
for those bodies' recipients and tells plugins (``parrhesia_event``). So a body that
gains a report is notified the same way whichever path brought it there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from parrhesia.host import PluginHost

__all__ = ["EventName", "Event", "dispatch", "NOTIFICATION_OF"]


class EventName(StrEnum):
    REPORT_RECEIVED = "report.received"
    REPORT_ROUTED = "report.routed"
    SOURCE_FOLLOW_UP = "report.follow_up"
    REPORT_ESCALATED = "report.escalated"
    REPORT_TRANSFERRED = "report.transferred"
    PROTECTION_REQUESTED = "protection.requested"


@dataclass(frozen=True)
class Event:
    """Carries identifiers only: never content, subject or anything a source wrote.

    ``body_ids`` are the bodies the event concerns: those the report was routed,
    escalated or transferred to, or those holding it when the source wrote again.
    """

    name: EventName
    report_id: str
    body_ids: tuple[str, ...] = ()


# The notification each event queues for the recipients of its bodies.
NOTIFICATION_OF = {
    EventName.REPORT_ROUTED: "new-report",
    EventName.REPORT_ESCALATED: "new-report",
    EventName.REPORT_TRANSFERRED: "new-report",
    EventName.SOURCE_FOLLOW_UP: "new-message",
    EventName.PROTECTION_REQUESTED: "new-message",
}


def dispatch(host: PluginHost, db: Session, events: Iterable[Event], *, on: date) -> None:
    """Queue the notifications of committed events, then tell plugins. Commits.

    A plugin that fails is recorded for operators (no content) and never undoes the
    event.
    """
    # Imported here: this module is part of the plugin contract (parrhesia.plugin), which
    # must load no database code (tests/test_plugin_contract.py).
    from parrhesia.notifications import enqueue_for_bodies
    from parrhesia.reports import record_plugin_failures

    events = list(events)
    for event in events:
        kind = NOTIFICATION_OF.get(event.name)
        if kind is not None and event.body_ids:
            enqueue_for_bodies(db, event.body_ids, kind, on=on)
    db.commit()
    for event in events:
        failures = host.emit(event)
        if failures:
            record_plugin_failures(db, failures, event.report_id)
            db.commit()
