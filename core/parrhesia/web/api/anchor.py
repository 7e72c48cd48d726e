"""The API's audit anchor: the chain's head, signed, and whether it extends the entry
the recipient's machine remembers (``parrhesia desk pull`` and ``desk audit`` check it;
docs/format.md §13). Read-only and not itself recorded."""

from __future__ import annotations

from flask import abort, request

from parrhesia.storage.db import get_session
from parrhesia.web import vouching
from parrhesia.web.api.views import bp

__all__ = ["audit_anchor"]


@bp.get("/audit/anchor")
def audit_anchor() -> dict[str, str]:
    try:
        since = vouching.since_argument(request.args.get("since"))
    except ValueError as problem:
        abort(400, str(problem))
    try:
        return vouching.anchor(get_session(), since)
    except vouching.SigningUnavailable:
        abort(503, "The instance cannot sign its audit head now; its operator should run `parrhesia doctor`.")
