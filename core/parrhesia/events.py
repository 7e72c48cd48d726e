"""Events: content-free facts about a report, for notifications."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EventName", "Event"]


class EventName(StrEnum):
    REPORT_RECEIVED = "report.received"
    REPORT_ROUTED = "report.routed"
    SOURCE_FOLLOW_UP = "report.follow_up"


@dataclass(frozen=True)
class Event:
    """Carries identifiers only: never content, subject or anything a source wrote."""

    name: EventName
    report_id: str
    body_ids: tuple[str, ...] = ()
