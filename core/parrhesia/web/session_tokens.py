"""Session tokens: the random token a logged-in browser holds, in one place.

Both kinds of session (a source's, a recipient's or operator's desk session) work the
same way: a fresh random token goes into the signed session cookie, the server keeps
only its SHA-256 next to the session's state, and logging in clears whatever the
cookie held before (only the chosen language survives) so a session cannot be fixed
in advance.
"""

from __future__ import annotations

import secrets

from flask import session

from parrhesia.domain.reports import token_hash

__all__ = ["issue", "read", "discard", "token_hash"]


def issue(field: str) -> bytes:
    """A new token in a fresh cookie (the previous session's content is dropped)."""
    token = secrets.token_bytes(32)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session[field] = token.hex()
    session.permanent = True
    return token


def read(field: str) -> bytes | None:
    """The token the cookie holds under ``field``, or None."""
    value = session.get(field)
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def discard(field: str) -> bytes | None:
    """Remove the token from the cookie; return it (to delete its server-side row)."""
    token = read(field)
    session.pop(field, None)
    return token
