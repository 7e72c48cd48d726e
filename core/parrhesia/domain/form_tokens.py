"""Single-use submission forms: a form's token can be sent once.

A source's session lives in a signed cookie, so a client that keeps the cookie of one
submission page could post it again and again — each post a new report starting legal
deadlines in a real inbox. The server therefore remembers the digest of every form token
a submission or follow-up used (with its day only) and refuses one it has seen; digests
older than any token could be (:data:`KEEP_DAYS`) are forgotten by ``parrhesia tick``.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parrhesia.storage.models import SpentFormToken

__all__ = ["KEEP_DAYS", "spend", "forget_spent"]

# A form token lives at most the session lifetime (at most a day, config.py); two days of
# digests cover every token still valid.
KEEP_DAYS = 2


def spend(db: Session, token: str, *, on: date) -> bool:
    """Record the token as used; False if it was used before (commits either way)."""
    db.add(SpentFormToken(digest=hashlib.sha256(token.encode("utf-8")).digest(), spent_on=on))
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def forget_spent(db: Session, *, on: date) -> int:
    """Forget digests no token can match any more; the caller commits."""
    result = db.execute(delete(SpentFormToken).where(SpentFormToken.spent_on < on - timedelta(days=KEEP_DAYS)))
    return int(getattr(result, "rowcount", 0) or 0)
