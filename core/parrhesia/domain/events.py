"""Dispatching events: the one place a domain operation's events become notifications.

Domain operations (a submission, a follow-up, an escalation, a transfer, a recusal, a
protection request) return :class:`Event` values naming the bodies concerned; the
caller hands them to :func:`dispatch`, which queues the content-free notifications
for those bodies' recipients and tells plugins (``parrhesia_event``). So a body that
gains a report is notified the same way whichever path brought it there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from parrhesia.contract.events import Event, EventName
from parrhesia.domain.notifications import enqueue_for_bodies

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from parrhesia.domain.host import PluginHost

__all__ = ["dispatch", "NOTIFICATION_OF"]


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
    from parrhesia.domain.reports import record_plugin_failures  # reports imports this module

    events = list(events)
    for event in events:
        kind = NOTIFICATION_OF.get(event.name)
        if kind is not None and event.body_ids:
            enqueue_for_bodies(db, event.body_ids, kind, on=on)
    db.commit()
    for event in events:
        failures = host.emit(event)
        if failures:
            record_plugin_failures(db, failures, event.report_id, on=on)
            db.commit()
