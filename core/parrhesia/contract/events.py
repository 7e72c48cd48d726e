"""Events: the content-free facts about a report that plugins are told of (``parrhesia_event``).

Domain operations return them; :func:`parrhesia.domain.events.dispatch` turns them into
notifications and plugin calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EventName", "Event"]


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
