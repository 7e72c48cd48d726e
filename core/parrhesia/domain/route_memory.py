"""What each routing plugin last answered for the same routing fields.

When a ``parrhesia_route`` hook fails, the report keeps the other plugins' proposals
and the failing plugin's last successful answer for the same routing fields, so a
body the law names is not silently lost while the plugin is down
(:func:`parrhesia.domain.routing.decide`). Only the routing fields' digest and the body ids
are kept: no report, no day, nothing a source wrote beyond what routing already sees.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

__all__ = ["RouteMemory", "DatabaseRouteMemory", "fields_key"]


class RouteMemory(Protocol):
    def recall(self, plugin: str, key: str) -> tuple[str, ...] | None: ...

    def remember(self, plugin: str, key: str, body_ids: tuple[str, ...]) -> None: ...


def fields_key(fields: Mapping[str, tuple[str, ...]]) -> str:
    """A digest of the routing answers (order-independent)."""
    canonical = json.dumps({k: sorted(v) for k, v in sorted(fields.items())}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class DatabaseRouteMemory:
    """Answers kept in the ``route_answers`` table.

    An answer is written with the report, in a savepoint of the report's transaction:
    two sources routed alike at the same moment may race on the same row, and a cache
    must never make a submission fail, so a write that loses the race is rolled back on
    its own (the other source's identical answer stands).
    """

    def __init__(self, db: Session) -> None:
        self.db = db

    def recall(self, plugin: str, key: str) -> tuple[str, ...] | None:
        from parrhesia.storage.models import RouteAnswer

        row = self.db.get(RouteAnswer, (plugin[:100], key))
        return tuple(json.loads(row.body_ids)) if row is not None else None

    def remember(self, plugin: str, key: str, body_ids: tuple[str, ...]) -> None:
        from parrhesia.storage.models import RouteAnswer

        value = json.dumps(sorted(body_ids))
        if self.recall(plugin, key) == tuple(sorted(body_ids)):
            return
        try:
            with self.db.begin_nested():
                self.db.merge(RouteAnswer(plugin=plugin[:100], key=key, body_ids=value))
        except IntegrityError:
            pass  # another worker remembered an answer for the same fields first
