"""What ``parrhesia_notify`` receives: one batch of counts for one recipient, no database code.

:mod:`parrhesia.domain.notifications` queues the items and builds the batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["KINDS", "Notification"]

KINDS = ("new-report", "new-message", "clock-due", "urgent")


@dataclass(frozen=True)
class Notification:
    """One batched message for one recipient: counts by kind, never content."""

    recipient_id: int
    name: str
    email: str | None
    instance_name: str
    counts: Mapping[str, int]
    desk_url: str | None = None
