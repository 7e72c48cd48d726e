"""The web desk's audit anchor: the same signed answer as the API's, for the desk's
script (anchor.js), which remembers the head in the browser and warns when the chain
it is shown does not extend it (docs/format.md §13). Read-only and not itself recorded."""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _

from parrhesia.web import vouching
from parrhesia.web.desk import auth
from parrhesia.web.desk.views import _db, bp

__all__ = ["anchor_messages", "audit_anchor"]


@bp.get("/audit/anchor.json")
@auth.recipient_required
def audit_anchor() -> dict[str, str]:
    try:
        since = vouching.since_argument(request.args.get("since"))
    except ValueError:
        abort(400, _("The audit entry asked for is not a whole number from 1."))
    try:
        return vouching.anchor(_db(), since)
    except vouching.SigningUnavailable:
        abort(503, _("The instance cannot sign its audit head now; tell its operator."))


@bp.app_template_global()
def anchor_messages() -> dict[str, str]:
    """What anchor.js says, translated; ``%(name)s`` is filled in by the script."""
    return {
        "checking": _("Checking the audit log against the head this browser saw last…"),
        "first": _(
            "Audit log: this browser now remembers its head (entry %(head)s), and will warn if the log is later "
            "cut or rewritten below it."
        ),
        "extends": _(
            "Audit log: intact from entry %(seq)s, which this browser saw on %(seen)s; its head is now entry "
            "%(head)s."
        ),
        "other-key": _(
            "Audit log: the instance signed its head with another key than the one this browser remembered."
        ),
        "not-asked": _("Audit log: the server answered about another entry than the one this browser asked about."),
        "cut": _(
            "Audit log: entry %(seq)s, which this browser saw on %(seen)s, is gone: the newest entries of the log"
            " were removed (its head is now entry %(head)s)."
        ),
        "rewritten": _(
            "Audit log: entry %(seq)s, which this browser saw on %(seen)s, has changed: the log was rewritten up "
            "to it."
        ),
        "broken": _("Audit log: the entries after entry %(seq)s do not chain: entry %(broken)s was changed."),
        "advice": _(
            "Tell your body’s administrator and the instance’s operator, and ask why. This browser keeps the "
            "signed statements it was shown."
        ),
        "unsigned": _("Audit log: the instance’s answer is not signed by the key it names."),
        "failed": _("Audit log: this browser could not check it now. Reload the page to try again."),
        "confirm_accept": _(
            "Remember the audit log as it is now? Do this only once the warning has been explained to you (for "
            "example, the instance was restored from a backup)."
        ),
    }
