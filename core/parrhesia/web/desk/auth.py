"""Desk sessions: server-side, with idle and absolute expiry; roles checked per route.

The browser holds only a random token (in the signed session cookie); the server keeps
its hash with the account and two timestamps. A session ends after ``IDLE`` without
use or ``ABSOLUTE`` after log-in, whichever comes first, and at log-out (a POST).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, redirect, request, url_for
from sqlalchemy import delete

from parrhesia.domain.accounts import utcnow
from parrhesia.domain.audit import actor_of
from parrhesia.domain.reports import token_hash
from parrhesia.storage.db import get_session
from parrhesia.storage.models import DeskSession, Operator, Recipient
from parrhesia.web import session_tokens

__all__ = ["IDLE", "ABSOLUTE", "Account", "start", "current", "end", "recipient_required", "operator_required"]

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
_FIELD = "desk"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Account:
    kind: str  # "recipient" or "operator"
    record: Recipient | Operator

    @property
    def key(self) -> str:
        return actor_of(self.record)

    @property
    def recipient(self) -> Recipient:
        if not isinstance(self.record, Recipient):
            abort(403)
        return self.record


def start(kind: str, record: Recipient | Operator) -> None:
    """Log an account in (after password and TOTP were checked)."""
    db = get_session()
    now = utcnow()
    db.execute(delete(DeskSession).where(DeskSession.created_at < now - ABSOLUTE))
    token = session_tokens.issue(_FIELD)
    db.add(DeskSession(token_hash=token_hash(token), account=f"{kind}:{record.id}", created_at=now, last_seen_at=now))
    db.commit()


def current() -> Account | None:
    """The logged-in desk account, or None (expired sessions are ended here)."""
    if "desk_account" in g:
        account: Account | None = g.desk_account
        return account
    g.desk_account = None
    token = session_tokens.read(_FIELD)
    if token is None:
        return None
    db = get_session()
    row = db.get(DeskSession, token_hash(token))
    now = utcnow()
    if row is None or now - row.last_seen_at > IDLE or now - row.created_at > ABSOLUTE:
        end()
        return None
    kind, _, raw_id = row.account.partition(":")
    record: Recipient | Operator | None = None
    if kind == "recipient":
        record = db.get(Recipient, int(raw_id))
    elif kind == "operator":
        record = db.get(Operator, int(raw_id))
    if record is None or (isinstance(record, Recipient) and not record.active):
        end()
        return None
    row.last_seen_at = now
    db.commit()
    g.desk_account = Account(kind, record)
    return g.desk_account


def end() -> None:
    token = session_tokens.discard(_FIELD)
    g.pop("desk_account", None)
    if token is not None:
        db = get_session()
        db.execute(delete(DeskSession).where(DeskSession.token_hash == token_hash(token)))
        db.commit()


def _required(kind: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            account = current()
            if account is None:
                if request.method == "GET" and not request.path.endswith(".json"):
                    return redirect(url_for("desk.login", next=request.path), code=303)
                abort(401)
            if account.kind != kind:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


recipient_required = _required("recipient")
operator_required = _required("operator")
