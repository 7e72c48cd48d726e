"""The one routing decision of the web interfaces: the source's review page and
submission, the API's intake and the web desk's intake route alike, on the server."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from parrhesia.domain import reports
from parrhesia.domain.host import current_host
from parrhesia.domain.routing import RouteDecision, RoutingError
from parrhesia.storage.db import get_session

__all__ = ["decide", "jurisdiction"]

log = logging.getLogger(__name__)


def jurisdiction(answers: Mapping[str, Sequence[str]]) -> str | None:
    """The jurisdiction answered, if any: where the report's deadlines are counted."""
    return next(iter(answers.get("jurisdiction", ())), None)


def decide(answers: dict[str, tuple[str, ...]]) -> RouteDecision | None:
    """Route on the server, knowing which bodies can read reports here; None (and an
    error for the operators in the log) when no body outside the conflict can receive
    the report, so the caller stores nothing and says so."""
    try:
        return reports.decide_route(current_host(), get_session(), answers)
    except RoutingError:
        log.error("no body outside the conflict can receive a report: check instance.last_resort")
        return None
