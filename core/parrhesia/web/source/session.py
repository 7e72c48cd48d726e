"""A logged-in source, without the codename ever leaving the login request.

At login (or first submission) the server opens the report key with the
codename-derived key, then forgets both. It keeps, in a database row, the report key
wrapped with a key derived from a random token, and gives the token to the browser in
the signed session cookie. Neither the row nor the cookie opens anything alone; the row
carries only the day it was made and is deleted at log-out or after a day.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import current_app, session
from nacl.public import PrivateKey
from sqlalchemy import delete

from parrhesia.crypto import CryptoFormatError, unwrap_for_session, wrap_for_session
from parrhesia.domain.reports import token_hash
from parrhesia.instance import current_instance
from parrhesia.storage.db import get_session
from parrhesia.storage.models import Report, SourceSession
from parrhesia.web import session_tokens

__all__ = ["start", "current", "end"]

_FIELD = "source"
_SINCE = "since"


def start(report: Report, report_key: PrivateKey) -> None:
    """Log the source in to a report."""
    db = get_session()
    day = current_instance().config.today()
    db.execute(delete(SourceSession).where(SourceSession.created_on < day - timedelta(days=1)))
    token = session_tokens.issue(_FIELD)
    db.add(
        SourceSession(
            token_hash=token_hash(token),
            report_id=report.id,
            wrapped_key=wrap_for_session(report_key, token),
            created_on=day,
        )
    )
    db.commit()
    # Kept only in the signed cookie, to enforce the session lifetime.
    session[_SINCE] = int(time.time())


def current() -> tuple[Report, PrivateKey] | None:
    """The logged-in report and its key, or None."""
    token = session_tokens.read(_FIELD)
    since = session.get(_SINCE, 0)
    if token is None or not isinstance(since, int):
        return None
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if time.time() - since > lifetime:
        end()
        return None
    db = get_session()
    row = db.get(SourceSession, token_hash(token))
    if row is None:
        return None
    report = db.get(Report, row.report_id)
    if report is None:
        return None
    try:
        return report, unwrap_for_session(row.wrapped_key, token)
    except CryptoFormatError:
        return None


def end() -> None:
    """Log out: forget the server-side row and the cookie."""
    token = session_tokens.discard(_FIELD)
    session.pop(_SINCE, None)
    if token is not None:
        db = get_session()
        db.execute(delete(SourceSession).where(SourceSession.token_hash == token_hash(token)))
        db.commit()
